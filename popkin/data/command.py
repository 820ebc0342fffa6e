"""``popkin check FILE``: is this dataset sane? Every problem at once, by row and column."""

from __future__ import annotations

import click

from popkin.data.build import build
from popkin.data.dataset import Dataset
from popkin.data.layout import LAYOUTS
from popkin.data.translate import TRANSLATIONS

WARNINGS_SHOWN = 50
EXIT_INVALID = 2


@click.command()
@click.argument("file")
@click.option("--translate", "-t", "translate", multiple=True, type=click.Choice(list(TRANSLATIONS)),
              help="Apply a documented translation of non-NONMEM codes (repeatable).")
@click.option("--layout", type=click.Choice(list(LAYOUTS)),
              help="Read a table that is not in NONMEM layout with a ready layout.")
@click.option("--compartments", type=click.IntRange(min=1), default=None,
              help="The model's number of compartments: a CMT above it is an error.")
@click.option("--log-dv", is_flag=True, help="The error model is on the log scale: fitted DV must be > 0.")
@click.option("--all-warnings", is_flag=True, help=f"List every warning (default: the first {WARNINGS_SHOWN}).")
def check(file, translate, layout, compartments, log_dv, all_warnings):
    """Check a NONMEM-style dataset FILE and print its summary.

    Exit status 0 when the data can be used (warnings are printed), 2 when it cannot:
    then every problem is printed, one per line, as "row R, column C: message".
    """
    built = build(file, LAYOUTS[layout] if layout else None, translate, compartments, log_dv)
    errors = built.errors
    warnings = [v for v in built.violations if v.severity != "error"]
    if not errors:
        click.echo(str(Dataset(built).summary()))
    for v in errors:
        click.echo(str(v))
    shown = warnings if all_warnings else warnings[:WARNINGS_SHOWN]
    for v in shown:
        click.echo(str(v))
    if len(shown) < len(warnings):
        click.echo(f"... and {len(warnings) - len(shown)} more warnings (--all-warnings lists them)")
    if errors:
        click.echo(f"{len(errors)} error(s), {len(warnings)} warning(s): {file} cannot be used until the errors are fixed.")
        raise SystemExit(EXIT_INVALID)
    click.echo(f"OK: no errors, {len(warnings)} warning(s).")

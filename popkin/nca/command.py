"""``popkin nca DATA``: NCA tables from a NONMEM-style CSV, written to a new folder."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import click

from popkin.errors import OutputExistsError, PopkinError
from popkin.nca.engine import nca as run_nca
from popkin.nca.nonmem import from_nonmem, read_nonmem_csv
from popkin.nca.options import METHODS, NCAOptions
from popkin.nca.proportionality import dose_proportionality
from popkin.nca.summary import SINGLE_DOSE, STEADY_STATE, format_summary, summarise
from popkin.nca.units import Units


def _check_new_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        what = "folder" if out.is_dir() else "file"
        raise OutputExistsError(
            f"the output {what} {out} already exists and is not empty; popkin does not overwrite results. "
            "Choose a new folder with --out NEW_FOLDER, or move the old one away."
        )


def _write_atomically(out: Path, files: dict[str, str]) -> None:
    """Write ``files`` (name -> text) into a temporary folder beside ``out``, then
    rename it to ``out`` so that ``out`` appears complete or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        _check_new_folder(out)
        os.rename(tmp, out)  # atomic; replaces only an empty folder
    except OSError as why:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputExistsError(f"could not create {out}: {why.strerror or why}; choose another folder with --out") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@click.command("nca")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--group", metavar="COLUMN", help="Column with the dose group; one summary column per value.")
@click.option("--tau", type=float, metavar="HOURS", help="Dosing interval: AUCTAU, CAV, steady-state CL/F, accumulation.")
@click.option("--occasion", metavar="COLUMN", help="Column separating a subject's profiles (e.g. DAY: 1 and 28).")
@click.option("--out", type=click.Path(path_type=Path), metavar="DIR",
              help="New folder for the results [default: ./nca-<DATA name>]. Never overwritten.")
@click.option("--method", type=click.Choice(METHODS), default="lin-up/log-down", show_default=True,
              help="Trapezoid rule.")
@click.option("--time-unit", default="h", show_default=True, help="Unit of TIME.")
@click.option("--conc-unit", default="ng/mL", show_default=True, help="Unit of DV.")
@click.option("--dose-unit", default="mg", show_default=True, help="Unit of AMT (e.g. mg, mg/kg).")
def nca(data, group, tau, occasion, out, method, time_unit, conc_unit, dose_unit):
    """Non-compartmental analysis of the NONMEM-style dataset DATA (CSV; '.' is
    missing; column names case-insensitive: ID, TIME, AMT, DV, EVID, MDV, optional
    BLQ, SS, II, ADDL). Writes per-subject parameters, summary tables in the
    clinical-report layout and the dose-proportionality power model to a new folder."""
    out = out or Path.cwd() / f"nca-{data.stem}"
    try:
        _check_new_folder(out)
        options = NCAOptions(method=method, tau=tau)
        units = Units(time=time_unit, conc=conc_unit, dose=dose_unit)
        frame = read_nonmem_csv(data)
        group = group.upper() if group else None
        occasion = occasion.upper() if occasion else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            conc = from_nonmem(frame, occasion=occasion, tau=tau)
        if conc.empty:
            raise PopkinError(f"{data.name} has no observation records (EVID 0 with MDV 0); nothing to analyse")
        if occasion is None and conc.groupby("ID")["DOSENO"].nunique().max() > 1:
            occasion = "DOSENO"  # several dosing intervals per subject: one profile per dose
        result = run_nca(conc, options, group=group, occasion=occasion, units=units)
        files = {
            "nca_parameters.csv": result.wide.to_csv(index=False),
            "nca_long.csv": result.long.to_csv(index=False),
            "nca_notes.csv": result.notes.to_csv(index=False),
        }
        printed = []
        for layout, name in ((SINGLE_DOSE, "summary_single_dose.csv"), (STEADY_STATE, "summary_steady_state.csv")):
            if (result.wide["SS"] == int(layout.steady_state)).any():
                table = summarise(result, layout)
                files[name] = table.to_csv(index=False)
                printed.append(format_summary(table, title=f"{layout.name}"))
        dp = dose_proportionality(result)
        files["dose_proportionality.csv"] = dp.to_csv(index=False)
        files["settings.txt"] = (
            f"data: {data}\ngroup: {group}\noccasion: {occasion}\ntau: {tau}\nmethod: {method}\n"
            f"units: time {units.time}, concentration {units.conc}, dose {units.dose}\n"
            f"options: {options}\n"
        )
        _write_atomically(out, files)
    except PopkinError as why:
        click.echo(f"error: {why}", err=True)
        raise SystemExit(2) from None

    for w in caught:
        click.echo(f"note: {w.message}", err=True)
    click.echo(f"units: time {units.time}, concentration {units.conc}, dose {units.dose} "
               "(change with --time-unit, --conc-unit, --dose-unit)\n")
    for text in printed:
        click.echo(text)
    click.echo("dose proportionality (power model, 90% CI of the slope):")
    for _, r in dp.iterrows():
        where = f"{r['profiles']}" + (f", {occasion} {r[occasion]}" if occasion and occasion in dp.columns else "")
        if r["verdict"] == "not estimable":
            click.echo(f"  {where}, {r['parameter']}: not estimable ({r['reason']})")
        else:
            click.echo(f"  {where}, {r['parameter']}: slope {r['slope']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}], "
                       f"acceptance [{r['accept_low']:.3f}, {r['accept_high']:.3f}]: {r['verdict']}")
    click.echo(f"\nwrote {len(files)} files to {out}")

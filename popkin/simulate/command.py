"""``popkin simulate`` and ``popkin dose``: thin commands over popkin.simulate.

Both write into a NEW output folder (it must not exist; it is created complete or not
at all: files go to a temporary sibling folder that is renamed at the end).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import click

from popkin.errors import OutputExistsError, PopkinError

_SOURCE_HELP = dict(
    population="population JSON (fixed values; see docs/simulation.md)",
    model="model file (.py defining a PopulationModel); alone: its initial values as the population",
    posterior="saved fit (netCDF from FitResult.save) of --model: simulate its posterior draws",
    draws="posterior draws to use (evenly thinned; default all)",
)


class _NewFolder:
    """A temporary folder renamed to ``path`` on success; removed on failure."""

    def __init__(self, path):
        self.path = Path(path)
        if self.path.exists():
            raise OutputExistsError(f"{self.path} already exists; popkin never overwrites: choose a new folder")
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")

    def __enter__(self) -> Path:
        self.tmp.mkdir(parents=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        if self.path.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise OutputExistsError(f"{self.path} appeared while popkin was running; results not written")
        os.rename(self.tmp, self.path)
        return False


def _x64():
    import jax

    jax.config.update("jax_enable_x64", True)


def _fail(exc: Exception):
    raise click.ClickException(str(exc)) from exc


@click.command()
@click.option("--population", type=click.Path(dir_okay=False), help=_SOURCE_HELP["population"])
@click.option("--model", "model_file", type=click.Path(dir_okay=False), help=_SOURCE_HELP["model"])
@click.option("--posterior", type=click.Path(dir_okay=False), help=_SOURCE_HELP["posterior"])
@click.option("--draws", type=int, default=None, help=_SOURCE_HELP["draws"])
@click.option("--regimen", "regimens", multiple=True, required=True,
              help="candidate regimen, e.g. '110 mg BID', '200 mg QD', '300 mg loading then 100 mg BID' (repeat)")
@click.option("--days", type=int, default=28, show_default=True, help="days of dosing of each regimen")
@click.option("--exposure", type=click.Choice(["ss", "last"]), default="ss", show_default=True,
              help="ss: one dosing interval at steady state; last: the regimen's last interval as given")
@click.option("--n", "n", type=int, default=1000, show_default=True, help="virtual patients per population draw")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--chunk", type=int, default=1024, show_default=True, help="patients per compiled call")
@click.option("--target", "targets", multiple=True, help="exposure window, e.g. 'ctrough>=5', 'auc:100-300' (repeat)")
@click.option("--threshold", "thresholds", multiple=True, type=float, help="concentration for time above it (repeat)")
@click.option("--ae", type=click.Path(dir_okay=False, exists=True),
              help="adverse-event counts per dose group (layout of LXI-15029 Table 2) for exposure-toxicity fits")
@click.option("--endpoint", "endpoints", multiple=True, help="AE table row(s) to model, e.g. alt_increased (repeat)")
@click.option("--ae-interval", type=float, default=12.0, show_default=True,
              help="dosing interval (h) of the AE table's dose groups (12: mg BID)")
@click.option("--tox-metric", default="auc", show_default=True, help="exposure metric of the toxicity model")
@click.option("--objective", default=None, help="selection-table column to maximise (default: the first target)")
@click.option("--limit", "limits", multiple=True, help="rule constraint, e.g. 'P(alt_increased) upper<=0.25' (repeat)")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="new output folder")
@click.option("--progress/--no-progress", default=True, show_default=True)
def simulate(population, model_file, posterior, draws, regimens, days, exposure, n, seed, chunk, targets, thresholds,
             ae, endpoints, ae_interval, tox_metric, objective, limits, out, progress):
    """Dose-selection simulation: exposure, target attainment and toxicity risk per regimen."""
    _x64()
    import pandas as pd

    from popkin.simulate import plots
    from popkin.simulate.design import LastInterval, SteadyState
    from popkin.simulate.run import Settings, simulate as run_simulation
    from popkin.simulate.selection import SelectionRule, selection_table
    from popkin.simulate.spec import load_source, parse_limit, parse_regimen, parse_target
    from popkin.simulate.summary import attainment, summarise
    from popkin.simulate.toxicity import ToxicityOptions, event_counts, fit_toxicity, risk

    try:
        source = load_source(population, model_file, posterior, draws)
        arms = {text: parse_regimen(text, days) for text in regimens}
        target_list = [parse_target(t) for t in targets]
        settings = Settings(n=n, seed=seed, chunk=chunk, thresholds=tuple(thresholds),
                            exposure=SteadyState() if exposure == "ss" else LastInterval(), progress=progress)
        folder = _NewFolder(out)
        sim = run_simulation(source, arms, settings)
        fits = {}
        if ae:
            table = pd.read_csv(ae)
            if not endpoints:
                raise click.UsageError("--ae needs at least one --endpoint")
            freq = {24.0: "QD", 12.0: "BID", 8.0: "TID"}.get(ae_interval, f"q{ae_interval:g}h")
            label = lambda d: f"{float(d):g} mg {freq} (trial)"  # noqa: E731
            counts = {e: event_counts(table, e, label) for e in endpoints}
            groups = {g: parse_regimen(f"{g.split()[0]} mg q{ae_interval:g}h", days)
                      for g in next(iter(counts.values())).groups}
            group_sim = run_simulation(source, groups, settings)
            fits = {e: fit_toxicity(c, group_sim, tox_metric, ToxicityOptions(seed=seed)) for e, c in counts.items()}
        rule = None
        if limits and not (target_list or objective):
            raise click.UsageError("--limit needs a --target or an --objective to maximise")
        if target_list or objective:
            rule = SelectionRule(objective or f"P({target_list[0].name})", tuple(parse_limit(x) for x in limits))
        table = selection_table(sim, target_list, fits, rule=rule)
    except (PopkinError, ValueError, KeyError) as exc:
        _fail(exc)
    with folder as tmp:
        table.to_csv(tmp / "selection.csv", index=False)
        summarise(sim, ("auc", "cav", "cmax", "cmin", "ctrough")).to_csv(tmp / "exposure.csv", index=False)
        if target_list:
            attainment(sim, target_list).to_csv(tmp / "attainment.csv", index=False)
        probs = [f"P({t.name})" for t in target_list]
        for e, f in fits.items():
            risk({e: f}, sim).to_csv(tmp / f"risk_{e}.csv", index=False)
            f.predictive_check().to_csv(tmp / f"toxicity_check_{e}.csv", index=False)
            f.diagnostics.to_csv(tmp / f"toxicity_diagnostics_{e}.csv")
            plots.draw_toxicity(plots.toxicity_data(f), tmp / f"toxicity_{e}.png")
            probs.append(f"P({e})")
        plots.draw_selection(plots.selection_data(table, "auc", probs), tmp / "selection.png")
        meta = dict(regimens=list(regimens), days=days, exposure=exposure, n_per_draw=n, n_draws=sim.n_draws,
                    seed=seed, targets=[t.name for t in target_list], rule=str(rule) if rule else None,
                    selected=table.loc[table["selected"], "arm"].tolist() if "selected" in table else [])
        (tmp / "run.json").write_text(json.dumps(meta, indent=2))
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if rule is not None:
        chosen = table.loc[table["selected"], "arm"].tolist()
        click.echo(f"\nrule: {rule}\nselected: {chosen[0] if chosen else 'none (no regimen meets the limits)'}")
    click.echo(f"\nwritten to {out}")


@click.command()
@click.option("--population", type=click.Path(dir_okay=False), help=_SOURCE_HELP["population"])
@click.option("--model", "model_file", type=click.Path(dir_okay=False), help=_SOURCE_HELP["model"])
@click.option("--posterior", type=click.Path(dir_okay=False), help=_SOURCE_HELP["posterior"])
@click.option("--draws", type=int, default=50, show_default=True,
              help="population draws in the Laplace mixture (posterior only)")
@click.option("--history", required=True, type=click.Path(dir_okay=False, exists=True),
              help="the patient's doses and measured levels (NONMEM-style CSV; one or more patients)")
@click.option("--target", "target", required=True, help="exposure window at steady state, e.g. 'auc:5000-15000'")
@click.option("--strength", "strengths", multiple=True, type=float, default=(10.0,), show_default=True,
              help="available unit strength (repeat for several)")
@click.option("--max-dose", type=float, default=300.0, show_default=True, help="largest dose per administration")
@click.option("--interval", type=float, default=12.0, show_default=True, help="dosing interval (h)")
@click.option("--cmt", type=int, default=1, show_default=True, help="dose compartment")
@click.option("--duration", type=float, default=0.0, show_default=True, help="infusion duration (h); 0 bolus/oral")
@click.option("--method", type=click.Choice(["laplace", "nuts"]), default="laplace", show_default=True)
@click.option("--samples", type=int, default=500, show_default=True, help="posterior samples per patient")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="new output folder")
def dose(population, model_file, posterior, draws, history, target, strengths, max_dose, interval, cmt, duration,
         method, samples, seed, out):
    """PK-guided dosing: individual posterior, forecast and the dose for a target window."""
    _x64()
    from popkin.data import read
    from popkin.simulate import plots
    from popkin.simulate.bayes import PosteriorOptions, individual_posterior
    from popkin.simulate.guided import DoseOptions, forecast, recommend
    from popkin.simulate.spec import load_source, parse_target

    try:
        source = load_source(population, model_file, posterior, draws)
        window = parse_target(target)
        options = DoseOptions(tuple(strengths), max_dose, interval, cmt, duration)
        folder = _NewFolder(out)
        data = read(history)
        post = individual_posterior(source, data, PosteriorOptions(method, samples, draws, seed=seed))
        rec = recommend(post, window, options)
    except (PopkinError, ValueError, KeyError) as exc:
        _fail(exc)
    frame = data.frame
    with folder as tmp:
        rec.chosen.to_csv(tmp / "recommendation.csv", index=False)
        rec.table.to_csv(tmp / "candidates.csv", index=False)
        post.summary().to_csv(tmp / "individual_parameters.csv", index=False)
        for i, pid in enumerate(post.ids):
            d = rec.dose(pid)
            bands = forecast(post, d, options, patient=i, observed=True, seed=seed)
            bands.to_csv(tmp / f"forecast_{pid}.csv", index=False)
            plots.draw_forecast(plots.forecast_data(bands), tmp / f"forecast_{pid}.png")
        meta = dict(target=window.name, method=method, samples=samples, strengths=list(strengths), max_dose=max_dose,
                    interval=interval, converged=post.converged.tolist(),
                    patients=int(frame["ID"].nunique()), recommended=rec.chosen["dose"].tolist())
        (tmp / "run.json").write_text(json.dumps(meta, indent=2))
    click.echo(rec.chosen.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    click.echo(f"\nwritten to {out}")

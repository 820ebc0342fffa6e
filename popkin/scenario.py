"""The LXI-15029 scenario end to end: the README's main job.

    python -m popkin.scenario [--out DIR] [--quick]

Steps, each written into a NEW output folder (created atomically: the work happens in
a hidden sibling folder that is renamed at the end, so an interrupted run leaves no
half-written report and nothing existing is touched):

1. check the virtual phase I trial (``popkin.datasets.lxi15029_trial``): the validation
   summary of ``popkin check``;
2. NCA of day 1 and cycle 1 day 28 with the paper's conventions, side by side with the
   published Tables 3 and 4, and the power-model dose proportionality;
3. fit the three candidate models of the catalogue (1-cpt linear, 1-cpt
   Michaelis-Menten, 2-cpt linear) with NUTS, and compare them by PSIS-LOO;
4. dose selection: virtual patients from the preferred model's posterior on candidate
   regimens at steady state, target attainment, and exposure-toxicity risk from the
   published adverse-event counts (Table 2), with the regimen a stated rule picks;
5. PK-guided dosing for one new virtual patient from a cycle 1 day 8 trough;
6. ``report.html``: one self-contained page (plots embedded) a clinician can open.

Steps 3-5 run only with ``--fits``: they are written but not yet validated end to end
on the virtual trial (issues 6 and 7 are open), so the default main job stops after the
NCA and writes the report of steps 1-2.

The efficacy target and the toxicity rule are illustrative choices, stated in the
report; they are arguments of ``run`` (``Settings``) so a user can change them.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import click

from popkin.errors import OutputExistsError

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = ("lxi_1cpt_linear", "lxi_1cpt_mm", "lxi_2cpt_linear")


@dataclass(frozen=True)
class Settings:
    """What the scenario runs.

    chains, warmup, draws: NUTS settings of each candidate fit; patients: virtual
    patients per posterior draw in the dose-selection simulation; posterior_draws:
    population draws used there; doses: candidate maintenance doses (mg BID);
    qd_doses: once-daily alternatives (mg QD); efficacy_auc: the efficacy window's lower
    bound on AUCtau,ss (h*ng/mL, per 12 h interval for BID and per 24 h for QD, so QD
    arms are compared on AUC per 24 h / 2); tox_limit: the largest acceptable upper 90%
    bound of P(ALT increase); strengths: capsule strengths (mg) for PK-guided dosing;
    seed: random seed of every step; fits: run steps 3-5 (population fits, dose
    selection, PK-guided dosing). Off by default until those steps are validated on
    the virtual trial (issues 6 and 7 are open): ``--fits`` turns them on.
    """

    chains: int = 2
    warmup: int = 300
    draws: int = 300
    patients: int = 200
    posterior_draws: int = 40
    doses: tuple[float, ...] = (20, 40, 60, 80, 100, 110, 130, 150)
    qd_doses: tuple[float, ...] = (160, 220)
    efficacy_auc: float = 5000.0
    tox_limit: float = 0.35
    strengths: tuple[float, ...] = (10.0,)
    seed: int = 1
    candidates: tuple[str, ...] = CANDIDATES
    fits: bool = False


QUICK = Settings(chains=1, warmup=60, draws=60, patients=40, posterior_draws=10, doses=(20, 80, 150), qd_doses=(160,))


@dataclass
class _Report:
    """What the HTML report collects while the steps run."""

    sections: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    def add(self, title: str, *parts: str) -> None:
        self.sections.append((title, "\n".join(parts)))


def _table_html(frame, floatfmt="{:.4g}") -> str:
    return frame.to_html(index=False, border=0, classes="t", na_rep="",
                         float_format=lambda x: floatfmt.format(x))


def _png(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    path.write_bytes(buf.getvalue())
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _step(report: _Report, name: str):
    class _Timer:
        def __enter__(self):
            self.t0 = time.perf_counter()
            print(f"[popkin] {name} ...", flush=True)

        def __exit__(self, *exc):
            report.timings[name] = time.perf_counter() - self.t0
            if exc[0] is None:
                print(f"[popkin] {name}: {report.timings[name]:.1f} s", flush=True)
    return _Timer()


# --------------------------------------------------------------------------- steps

def check_step(work: Path, report: _Report):
    from popkin.data import read
    from popkin.datasets import path

    trial = read(path("lxi15029_virtual.csv"))
    text = str(trial.summary())
    (work / "check.txt").write_text(text + "\n")
    trial.frame.to_csv(work / "trial.csv", index=False, na_rep=".")
    report.add("1. The virtual phase I trial",
               "<p>24 virtual patients in the published design (10-150 mg BID; single dose on day 1, "
               "BID through cycle 1, troughs on days 8 and 15, a 12 h profile on day 28). "
               "The data were checked by <code>popkin check</code>:</p>",
               f"<pre>{html.escape(text)}</pre>")
    return trial


def nca_step(trial, work: Path, report: _Report):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from popkin.datasets import lxi15029_published
    from popkin.datasets.tables import acceptance, checks_text, geometric_means, side_by_side, trial_nca
    from popkin.nca import dose_proportionality

    result = trial_nca(trial.frame)
    result.wide.to_csv(work / "nca_per_subject.csv", index=False)
    side = side_by_side(result)
    side.to_csv(work / "nca_vs_published.csv", index=False)
    published = lxi15029_published()
    checks = acceptance(result, published)
    prop_frame = dose_proportionality(result)
    prop_frame.to_csv(work / "dose_proportionality.csv", index=False)

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, (code, ss, name, label, table) in zip(axes, (
            ("AUCIFO", False, "AUC_0_inf", "day 1 AUC0-inf", published.single_dose),
            ("AUCTAU", True, "AUC_SS_tau", "day 28 AUCtau,ss", published.steady_state))):
        pub = table[(table["parameter"] == name) & (table["statistic"] == "geomean")].iloc[0, 3:].astype(float)
        doses = np.asarray([float(c) for c in pub.index])
        virt = geometric_means(result, code, ss)
        ax.loglog(doses, pub.to_numpy(), "o-", label="published")
        ax.loglog(np.asarray(virt.index, float), virt.to_numpy(), "s--", label="virtual (popkin NCA)")
        ax.set_xlabel("dose (mg)")
        ax.set_ylabel("h*ng/mL")
        ax.set_title(label)
        ax.legend()
    img = _png(fig, work / "nca_auc_vs_dose.png")
    report.add("2. Non-compartmental analysis next to the published tables",
               "<p>popkin's NCA of the virtual trial with the paper's conventions (geometric mean and "
               "geometric CV% for exposure, median (range) for Tmax, mean (SD) for half-life, CL/F, "
               "Vz/F and accumulation).</p>", img,
               f"<pre>{html.escape(checks_text(checks))}</pre>",
               "<h3>Side by side (virtual vs published)</h3>", _table_html(side),
               "<h3>Dose proportionality (power model, 90% CI)</h3>", _table_html(prop_frame))
    return result


def fit_step(trial, settings: Settings, work: Path, report: _Report):
    from popkin.diagnostics.loo import loo_table
    from popkin.infer import NUTSOptions, fit
    from popkin.infer.catalogue import load_catalogue_model

    options = NUTSOptions(chains=settings.chains, warmup=settings.warmup, draws=settings.draws,
                          seed=settings.seed, progress=False)
    fits, parts = {}, []
    for name in settings.candidates:
        model_file = load_catalogue_model(ROOT / "models" / f"{name}.py")
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fit(model_file.model, trial, method="nuts", options=options)
        fits[name] = result
        result.table.to_csv(work / f"fit_{name}.csv")
        msgs = [str(w.message) for w in caught if "Convergence" in type(w.message).__name__]
        parts += [f"<h3>{html.escape(name)} ({time.perf_counter() - t0:.0f} s)</h3>",
                  f"<pre>{html.escape(model_file.doc.splitlines()[0] if model_file.doc else '')}</pre>",
                  result.table.reset_index().to_html(index=False, border=0, classes="t",
                                                     float_format=lambda x: f"{x:.4g}")]
        if msgs:
            parts.append("<p class='warn'>" + "<br>".join(html.escape(m) for m in msgs) + "</p>")
    loo = loo_table(fits, by="subject")
    loo.to_csv(work / "model_comparison_loo.csv")
    best = loo.index[0]
    report.add("3. Population fits and model comparison",
               f"<p>Each candidate fitted with NUTS ({settings.chains} chain(s) x {settings.warmup} warm-up x "
               f"{settings.draws} draws). PSIS-LOO by subject prefers <b>{html.escape(best)}</b>.</p>",
               _table_html(loo.reset_index()), *parts)
    return fits, best


def selection_step(fit_result, settings: Settings, work: Path, report: _Report):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from popkin.datasets import lxi15029_published
    from popkin.dosing import bid, qd
    from popkin.simulate import PosteriorPopulation, Settings as SimSettings, simulate
    from popkin.simulate.selection import Limit, SelectionRule, selection_table
    from popkin.simulate.summary import Target
    from popkin.simulate.toxicity import event_counts, fit_toxicity

    source = PosteriorPopulation(fit_result, n_draws=settings.posterior_draws)
    sim_settings = SimSettings(n=settings.patients, seed=settings.seed)
    published = lxi15029_published()
    trial_doses = (10, 20, 40, 60, 80, 110, 150)
    groups = {f"{d} mg BID": bid(float(d), days=28) for d in trial_doses}
    trial_sim = simulate(source, groups, sim_settings)
    tox = {}
    for endpoint in ("alt_increased", "leukocytopenia", "dlt"):
        counts = event_counts(published.adverse_events, endpoint)
        tox[endpoint] = fit_toxicity(counts, trial_sim, metric="auc")
        tox[endpoint].predictive_check().to_csv(work / f"toxicity_ppc_{endpoint}.csv", index=False)

    arms = {f"{d:g} mg BID": bid(float(d), days=28) for d in settings.doses}
    arms.update({f"{d:g} mg QD": qd(float(d), days=28) for d in settings.qd_doses})
    sim = simulate(source, arms, sim_settings)
    target = Target("cav", low=settings.efficacy_auc / 12.0, name=f"Cav,ss>={settings.efficacy_auc / 12:.0f}")
    rule = SelectionRule(f"P({target.name})", (Limit("P(alt_increased) upper", upper=settings.tox_limit),))
    table = selection_table(sim, targets=[target], toxicity=tox, metrics=("auc", "cmax", "ctrough", "cav"),
                            rule=rule)
    table.to_csv(work / "dose_selection.csv", index=False)
    chosen = table[table["selected"]]
    pick = chosen["arm"].iloc[0] if len(chosen) else "none (no regimen meets the rule)"

    fig, ax = plt.subplots(figsize=(7, 3.8))
    bid_rows = table[table["interval_h"] == 12]
    ax.plot(bid_rows["dose"], bid_rows[f"P({target.name})"], "o-", label=f"P({target.name})")
    ax.plot(bid_rows["dose"], bid_rows["P(alt_increased)"], "s-", label="P(ALT increase)")
    ax.fill_between(bid_rows["dose"], bid_rows["P(alt_increased) lower"], bid_rows["P(alt_increased) upper"],
                    alpha=0.2)
    ax.plot(bid_rows["dose"], bid_rows["P(dlt)"], "^-", label="P(DLT)")
    ax.axhline(settings.tox_limit, color="grey", ls=":")
    ax.set_xlabel("dose (mg BID)")
    ax.set_ylabel("probability")
    ax.legend()
    img = _png(fig, work / "dose_selection.png")
    ppc = "".join(f"<h4>{e}</h4>" + _table_html(t.predictive_check()) for e, t in tox.items())
    report.add("4. Dose selection",
               f"<p>Virtual patients: {settings.patients} per posterior draw x {settings.posterior_draws} "
               "draws of the preferred model, each regimen simulated to steady state. "
               f"Efficacy target (illustrative): Cav,ss &ge; {settings.efficacy_auc / 12:.0f} ng/mL, i.e. "
               f"AUC over 12 h &ge; {settings.efficacy_auc:.0f} h*ng/mL (the published 80 mg steady-state "
               "exposure). Toxicity: Bayesian logistic models of the published counts (Table 2) on "
               "model-predicted AUCtau,ss.</p>",
               f"<p>Rule: {html.escape(str(rule))}. <b>Selected: {html.escape(str(pick))}</b>.</p>", img,
               _table_html(table), "<h3>Posterior predictive checks of the toxicity models</h3>", ppc)
    return table, pick


def guided_step(fit_result, settings: Settings, work: Path, report: _Report):
    import numpy as np

    from popkin.datasets import lxi15029
    from popkin.simulate import PosteriorPopulation
    from popkin.simulate.bayes import PosteriorOptions, individual_posterior
    from popkin.simulate.guided import DoseOptions, recommend
    from popkin.simulate.summary import Target

    patient = lxi15029.simulate_phase2(n=1, seed=settings.seed + 100, dose=110.0, trough_days=(8,), post_dose=())
    history = patient.dataset()
    source = PosteriorPopulation(fit_result, n_draws=settings.posterior_draws)
    post = individual_posterior(source, history, PosteriorOptions(samples=300, seed=settings.seed))
    target = Target("cav", low=settings.efficacy_auc / 12.0, high=3 * settings.efficacy_auc / 12.0)
    rec = recommend(post, target, DoseOptions(strengths=settings.strengths, max_dose=150.0))
    rec.table.to_csv(work / "guided_dosing_candidates.csv", index=False)
    trough = history.frame.loc[history.frame["EVID"] == 0, "DV"].to_numpy()
    report.add("5. PK-guided dosing for a new patient",
               f"<p>A new virtual patient on 110 mg BID with one measured cycle 1 day 8 trough "
               f"({np.round(trough, 2).tolist()} ng/mL). Individual posterior (Laplace, population posterior "
               f"as prior); the dose from {settings.strengths[0]:g} mg capsules that maximises "
               f"P({html.escape(target.name)}):</p>", _table_html(rec.chosen),
               "<p>True individual parameters of this virtual patient (unknown to the method):</p>",
               _table_html(patient.truth))
    return rec


# --------------------------------------------------------------------------- driver

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table.t{border-collapse:collapse;font-size:12px;margin:.5em 0}table.t td,table.t th{padding:2px 6px;
border-bottom:1px solid #ddd;text-align:right}h2{border-bottom:2px solid #246;padding-bottom:3px}
pre{background:#f6f6f6;padding:.6em;font-size:12px;overflow-x:auto}.warn{color:#a40}img{max-width:100%}"""


def write_html(report: _Report, path: Path, settings: Settings) -> None:
    timing = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.1f} s</td></tr>" for k, v in report.timings.items())
    body = "".join(f"<h2>{html.escape(t)}</h2>\n{b}\n" for t, b in report.sections)
    from popkin import __version__

    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>LXI-15029 with popkin</title>
<style>{CSS}</style></head><body><h1>LXI-15029: from phase I data to dose selection and PK-guided dosing</h1>
<p>popkin {__version__}, {datetime.datetime.now().isoformat(timespec="seconds")}. Data: the virtual phase I trial
shipped with popkin, calibrated to the published Tables 3 and 4 (Wang et al., BMC Cancer 2023;
NCT03125746); individual data of the real trial were never published.</p>
{body}<h2>Run time</h2><table class="t">{timing}</table><p>Settings: {html.escape(repr(settings))}</p>
</body></html>"""
    path.write_text(page)


def run(out: Path | None = None, settings: Settings = Settings()) -> Path:
    """Run the scenario into the new folder ``out`` (default ``popkin-output-<time>``)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    out = Path(out) if out else Path(f"popkin-output-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    if out.exists():
        raise OutputExistsError(f"{out} already exists; popkin writes into a new folder: choose another --out")
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    work.mkdir(parents=True)
    report = _Report()
    try:
        with _step(report, "check"):
            trial = check_step(work, report)
        with _step(report, "NCA"):
            nca_step(trial, work, report)
        if settings.fits:
            with _step(report, "fits"):
                fits, best = fit_step(trial, settings, work, report)
            with _step(report, "dose selection"):
                selection_step(fits[best], settings, work, report)
            with _step(report, "PK-guided dosing"):
                guided_step(fits[best], settings, work, report)
        write_html(report, work / "report.html", settings)
        os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out


@click.command("scenario")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="New folder for the outputs (default popkin-output-<timestamp>).")
@click.option("--quick", is_flag=True, help="Tiny settings (a smoke run of every step; numbers not meaningful).")
@click.option("--fits", is_flag=True, help="Also run steps 3-5 (fits, dose selection, PK-guided dosing; "
              "not yet validated, see the module docstring).")
def command(out, quick, fits):
    """Run the LXI-15029 scenario end to end on the bundled virtual trial (CPU)."""
    from popkin.errors import PopkinError

    try:
        from dataclasses import replace

        path = run(out, replace(QUICK if quick else Settings(), fits=fits))
    except PopkinError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"[popkin] wrote {path}/ (open {path}/report.html)")


if __name__ == "__main__":
    command()

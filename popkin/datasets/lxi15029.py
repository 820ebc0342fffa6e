"""The virtual LXI-15029 phase I trial: the published design, the true population model,
and the simulators.

Only the design and summary tables of the trial were published (Wang et al., BMC Cancer
2023;23:1200; NCT03125746). This module simulates virtual patients in exactly that
design from a one-compartment oral model with a dose-dependent bioavailability, an
absorption lag, and parallel linear and saturable (Michaelis-Menten) elimination that
the drug auto-inhibits through enzyme turnover, calibrated so that popkin's NCA of a
large virtual trial reproduces the paper's Tables 3 and 4 (``popkin.datasets.calibration``;
docs/lxi15029-virtual-trial.md). ``simulate_trial`` draws the 24-patient trial (the
shipped file ``lxi15029_virtual.csv`` is ``simulate_trial()``), ``simulate_phase2`` a
larger sparse-sampled population, and both return the true parameters used.

Timeline (h; where the paper is vague, the choices are ours and marked *):
    t = 0      single dose on day 1; samples pre-dose, 20 and 40 min, 1, 1.5, 2, 3, 4,
               6, 8, 12, 24 and 48 h after it
    t = 48     * cycle 1 day 1 (after the 1-day washout): first BID dose, then a dose
               every 12 h through cycle 1 (56 doses, the last at 48 + 27*24 + 12 h);
               the 48 h sample is taken just before this dose
    t = 216    * cycle 1 day 8 pre-dose trough (48 + 7*24)
    t = 384    * cycle 1 day 15 pre-dose trough (48 + 14*24)
    t = 696    * cycle 1 day 28 morning dose (48 + 27*24); samples pre-dose, 20 and 40 min,
               1, 1.5, 2, 3, 4, 6, 8 and 12 h, the 12 h sample just before the evening dose
Sampling times are nominal; 20 and 40 min are written as 0.3333 and 0.6667 h.

Units: AMT mg, DV ng/mL, TIME h; VM mg/h, KM and KI mg/L (the model's C = amount/V is
in mg/L), V L, KA, KDEG and KINACT 1/h, CL L/h, FD50 mg, ALAG1 h; concentration =
amount/V * 1000 (``S2 = V/1000``).

Run ``python -m popkin.datasets.lxi15029 --table`` for the side-by-side table of the
shipped trial's NCA against the paper, ``--help`` for the other commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from popkin.dosing import DAY, bid, once

# --------------------------------------------------------------------------- design

SHIPPED_SEED = 243
"""Seed of the shipped trial ``lxi15029_virtual.csv``: of the 9 seeds in 1-500 whose
24-patient trial passes every acceptance check of ``popkin.datasets.tables``, the one with
the widest margin on the tightest check (mean day-28 t1/2); pass rates per check over
seeds 1-200 in docs/lxi15029-virtual-trial.md."""


def _hours(minutes: float) -> float:
    return round(minutes / 60.0, 4)


@dataclass(frozen=True)
class Design:
    """A phase I design in the LXI-15029 pattern (defaults: the published one).

    doses: mg per administration (BID) of each cohort; n_per_group: patients per cohort;
    sd_times: samples after the single dose (h); bid_start: time of the first BID dose
    (h after the single dose); ii: dosing interval (h); cycle_days: days of BID dosing
    in cycle 1; trough_days: cycle-1 days with a pre-dose trough; profile_day: cycle-1
    day of the steady-state profile (its morning dose); ss_times: samples after that
    dose (h); lloq: lower limit of quantification (ng/mL).
    """

    doses: tuple[float, ...] = (10, 20, 40, 60, 80, 110, 150)
    n_per_group: tuple[int, ...] = (3, 3, 3, 4, 4, 3, 4)
    sd_times: tuple[float, ...] = (0, _hours(20), _hours(40), 1, 1.5, 2, 3, 4, 6, 8, 12, 24, 48)
    bid_start: float = 48.0
    ii: float = 12.0
    cycle_days: int = 28
    trough_days: tuple[int, ...] = (8, 15)
    profile_day: int = 28
    ss_times: tuple[float, ...] = (0, _hours(20), _hours(40), 1, 1.5, 2, 3, 4, 6, 8, 12)
    lloq: float = 1.0

    def __post_init__(self):
        if len(self.doses) != len(self.n_per_group):
            raise ValueError("Design: doses and n_per_group must have the same length")
        if self.bid_start < DAY:
            raise ValueError("Design: bid_start must be >= 24 h (the single dose occupies day 1)")
        if max(self.sd_times) > self.bid_start:
            raise ValueError("Design: single-dose samples must end by the first BID dose")
        if max(self.ss_times) > self.ii:
            raise ValueError("Design: steady-state samples must lie within one dosing interval")

    @property
    def n_subjects(self) -> int:
        return int(sum(self.n_per_group))

    def day_start(self, day: int) -> float:
        """Time (h) of the morning dose of cycle-1 day ``day``."""
        return self.bid_start + (day - 1) * DAY

    def samples(self) -> pd.DataFrame:
        """Sampling records: TIME (h), OCC (1 single dose, 2.. troughs, last: the
        steady-state profile), DAY (cycle-1 day; 0 for the single-dose period), NOMINAL
        (h after the reference dose)."""
        rows = [(t, 1, 0, t) for t in self.sd_times]
        for k, day in enumerate(self.trough_days, start=2):
            rows.append((self.day_start(day), k, day, 0.0))
        occ = len(self.trough_days) + 2
        rows += [(self.day_start(self.profile_day) + t, occ, self.profile_day, t) for t in self.ss_times]
        frame = pd.DataFrame(rows, columns=["TIME", "OCC", "DAY", "NOMINAL"])
        frame["TIME"] = frame["TIME"].round(4)
        return frame

    def regimen(self, dose: float):
        """The dosing of one patient: ``popkin.dosing`` regimen, single dose then BID."""
        return once(dose).then(bid(dose, days=self.cycle_days), gap=self.bid_start - DAY)


DESIGN = Design()
"""The published LXI-15029 phase I design."""


# --------------------------------------------------------------------------- covariates

@dataclass(frozen=True)
class Demographics:
    """Assumed covariate distributions (the paper's demographics are not in the shared
    data; these are typical of Chinese advanced-solid-tumour phase I populations):
    sex: P(male) = p_male; age (y): normal(age_mean, age_sd) truncated to age_range;
    weight (kg): normal(wt_mean_male, wt_sd) for men, normal(wt_mean_female, wt_sd) for
    women, truncated to wt_range. Covariates have NO effect on PK in the true model
    (a covariate search should find none)."""

    p_male: float = 0.55
    age_mean: float = 55.0
    age_sd: float = 10.0
    age_range: tuple[float, float] = (25.0, 75.0)
    wt_mean_male: float = 66.0
    wt_mean_female: float = 56.0
    wt_sd: float = 9.0
    wt_range: tuple[float, float] = (40.0, 100.0)

    def draw(self, rng: np.random.Generator, n: int) -> pd.DataFrame:
        """WT (kg, 0.1), AGE (y, integer), SEX (0 female, 1 male) for n patients."""
        sex = (rng.random(n) < self.p_male).astype(int)
        age = _truncated_normal(rng, np.full(n, self.age_mean), self.age_sd, self.age_range)
        mean_wt = np.where(sex == 1, self.wt_mean_male, self.wt_mean_female)
        wt = _truncated_normal(rng, mean_wt, self.wt_sd, self.wt_range)
        return pd.DataFrame({"WT": np.round(wt, 1), "AGE": np.round(age).astype(int), "SEX": sex})


def _truncated_normal(rng, mean, sd, bounds):
    """Normal draws redrawn until inside ``bounds`` (vectorised rejection)."""
    out = rng.normal(mean, sd)
    bad = (out < bounds[0]) | (out > bounds[1])
    while bad.any():
        out[bad] = rng.normal(np.asarray(mean)[bad], sd)
        bad = (out < bounds[0]) | (out > bounds[1])
    return out


DEMOGRAPHICS = Demographics()


# --------------------------------------------------------------------------- population model

@dataclass(frozen=True)
class PopulationModel:
    """The true population PK model of the virtual trial.

    model: popkin registry name of the structural model (the shipped one:
        "1cmt-oral-mm-linear-autoinh-fdose", ``popkin.pk.ode_models``).
    typical: typical values, units VM mg/h, KM mg/L, V L, KA 1/h, CL L/h, KDEG and
        KINACT 1/h, KI mg/L, FD50 mg, FGAM -. Every entry takes one column of the
        standard-normal draws (so the seeds depend on their number and order).
    omega: SD of the log-normal IIV of each parameter (P_i = typical * exp(eta_i),
        eta_i ~ N(0, omega^2), independent); a parameter without omega has no IIV.
    sigma_prop, sigma_add: combined residual error, DV = C (1 + sigma_prop e1) +
        sigma_add e2 (ng/mL), e1, e2 ~ N(0, 1).
    lloq: DV below it is reported BLQ (ng/mL); a concentration of exactly 0 (before
        the first dose) is always BLQ.
    constants: parameters held at one value for every patient, outside ``typical``
        (which draws a random effect per entry, with or without IIV), e.g. ALAG1 (h).
    """

    model: str
    typical: Mapping[str, float]
    omega: Mapping[str, float]
    sigma_prop: float
    sigma_add: float
    lloq: float = 1.0
    constants: Mapping[str, float] = field(default_factory=dict)

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.typical)

    def as_dict(self) -> dict:
        """A plain dict (JSON-friendly) of the model."""
        return {"model": self.model, "typical": dict(self.typical), "omega": dict(self.omega),
                "sigma_prop": self.sigma_prop, "sigma_add": self.sigma_add, "lloq": self.lloq,
                "constants": dict(self.constants)}

    def with_typical(self, **values: float) -> "PopulationModel":
        """A copy with some typical values replaced."""
        return replace(self, typical={**self.typical, **values})

    def draw(self, rng: np.random.Generator, n: int) -> pd.DataFrame:
        """Individual parameters of n patients (one column per parameter)."""
        eta = rng.standard_normal((n, len(self.typical)))
        out = {}
        for j, name in enumerate(self.typical):
            out[name] = self.typical[name] * np.exp(self.omega.get(name, 0.0) * eta[:, j])
        return pd.DataFrame(out)


POPULATION = PopulationModel(
    model="1cmt-oral-mm-linear-autoinh-fdose",
    typical={"VM": 31.058, "KM": 1.8588, "V": 4.0216, "KA": 0.51227, "CL": 8.3635,
             "KDEG": 0.0099812, "KINACT": 0.022534, "KI": 0.999, "FD50": 11.761, "FGAM": 3.7098},
    omega={"VM": 0.3, "KM": 0.3, "V": 0.3, "KA": 0.3, "CL": 0.3},
    sigma_prop=0.15,
    sigma_add=0.3,
    lloq=1.0,
    constants={"ALAG1": 0.2},
)
"""The calibrated true population model (see docs/lxi15029-virtual-trial.md)."""


# --------------------------------------------------------------------------- simulation

@dataclass(frozen=True)
class VirtualTrial:
    """A simulated trial.

    frame: NONMEM-layout records (ID, TIME, AMT, DV, EVID, MDV, CMT, II, ADDL, BLQ, LLOQ,
        DOSE, OCC, DAY, WT, AGE, SEX); DV '.'-missing for doses and BLQ samples.
    truth: one row per patient: ID, DOSE, covariates and the true individual parameters.
    population: the ``PopulationModel`` used; seed: the seed.
    """

    frame: pd.DataFrame
    truth: pd.DataFrame
    population: PopulationModel
    seed: int
    design: object = field(repr=False, default=None)

    def dataset(self):
        """The trial read and validated by ``popkin.data.read``."""
        from popkin.data import read

        return read(self.frame)

    def to_csv(self, path, *, overwrite: bool = False) -> None:
        """Write ``frame`` as CSV ('.' for missing). Refuses to replace an existing file
        unless ``overwrite=True``."""
        from pathlib import Path

        from popkin.errors import OutputExistsError

        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; popkin does not overwrite files: choose another path")
        path.write_text(to_csv_text(self.frame))


COLUMNS = ("ID", "TIME", "AMT", "DV", "EVID", "MDV", "CMT", "II", "ADDL", "BLQ", "LLOQ",
           "DOSE", "OCC", "DAY", "WT", "AGE", "SEX")


def to_csv_text(frame: pd.DataFrame) -> str:
    """The CSV text of a trial frame: '.' for missing values, as NM-TRAN reads them."""
    return frame.to_csv(index=False, na_rep=".", lineterminator="\n")


def subjects(design: Design = DESIGN, population: PopulationModel = POPULATION,
             demographics: Demographics = DEMOGRAPHICS, seed: int = SHIPPED_SEED) -> pd.DataFrame:
    """The patients of ``simulate_trial(seed)`` with their true parameters: ID, DOSE,
    WT, AGE, SEX and one column per PK parameter (no concentration is computed)."""
    cov_rng, eta_rng, _ = _generators(seed)
    return _patients(np.repeat(design.doses, design.n_per_group).astype(float), cov_rng, eta_rng,
                     population, demographics)


def simulate_trial(seed: int = SHIPPED_SEED, design: Design = DESIGN, population: PopulationModel = POPULATION,
                   demographics: Demographics = DEMOGRAPHICS) -> VirtualTrial:
    """Simulate the phase I trial: patients, their doses and samples, DV with residual
    error, BLQ below ``population.lloq``. Same seed, same trial."""
    cov_rng, eta_rng, eps_rng = _generators(seed)
    patients = _patients(np.repeat(design.doses, design.n_per_group).astype(float), cov_rng, eta_rng,
                         population, demographics)
    records = _phase1_records(patients, design)
    frame = _observe(records, patients, population, eps_rng)
    return VirtualTrial(frame, patients, population, seed, design)


def simulate_phase2(n: int = 200, seed: int = 1, dose: float | Sequence[float] = 110.0, *,
                    days: int = 28, trough_days: Sequence[int] = (8, 15, 22, 28),
                    post_dose: Sequence[tuple[int, float]] = ((1, 1.0), (15, 2.0)),
                    population: PopulationModel = POPULATION,
                    demographics: Demographics = DEMOGRAPHICS) -> VirtualTrial:
    """A sparse-sampled phase II population on continuous BID dosing from t = 0.

    n: patients; dose: mg BID for all, or a sequence of doses assigned in turn
    (patient i gets dose[i % len(dose)]); days: days of BID dosing; trough_days: days
    with a pre-dose sample before the morning dose (at (day - 1) * 24 h); post_dose:
    (day, hours after the morning dose) samples. OCC numbers the samples' days in order,
    DAY is the day. Returns a ``VirtualTrial`` (``design`` holds these settings).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    doses = np.atleast_1d(np.asarray(dose, dtype=float))
    for d, _ in post_dose:
        if not 1 <= d <= days:
            raise ValueError(f"post-dose sample on day {d} is outside the {days} dosing days")
    for d in trough_days:
        if not 1 <= d <= days + 1:
            raise ValueError(f"trough on day {d} is outside days 1..{days + 1}")
    cov_rng, eta_rng, eps_rng = _generators(seed)
    patients = _patients(doses[np.arange(n) % len(doses)], cov_rng, eta_rng, population, demographics)
    samples = [((d - 1) * DAY, d) for d in trough_days] + [((d - 1) * DAY + h, d) for d, h in post_dose]
    samples.sort()
    day_order = {d: k for k, d in enumerate(sorted({d for _, d in samples}), start=1)}
    sched = pd.DataFrame({"TIME": [round(t, 4) for t, _ in samples], "DAY": [d for _, d in samples]})
    sched["OCC"] = sched["DAY"].map(day_order)
    frames = []
    for d in np.unique(patients["DOSE"]):
        who = patients[patients["DOSE"] == d]
        regimen = bid(float(d), days=days).with_observations(sched["TIME"], cmt=2)
        frames.append(_label(regimen.to_frame(list(who["ID"])), sched, who))
    records = _sorted(pd.concat(frames, ignore_index=True), patients)
    frame = _observe(records, patients, population, eps_rng)
    settings = dict(n=n, dose=tuple(doses), days=days, trough_days=tuple(trough_days), post_dose=tuple(post_dose))
    return VirtualTrial(frame, patients, population, seed, settings)


def _generators(seed: int):
    """Independent streams for covariates, random effects and residual error, so that
    ``subjects`` reproduces the patients of a trial without simulating it."""
    streams = np.random.SeedSequence(int(seed)).spawn(3)
    return tuple(np.random.default_rng(s) for s in streams)


def _patients(doses, cov_rng, eta_rng, population, demographics) -> pd.DataFrame:
    n = len(doses)
    cov = demographics.draw(cov_rng, n)
    params = population.draw(eta_rng, n)
    front = pd.DataFrame({"ID": np.arange(1, n + 1), "DOSE": np.asarray(doses, float)})
    return pd.concat([front, cov, params], axis=1)


def _phase1_records(patients: pd.DataFrame, design: Design) -> pd.DataFrame:
    sched = design.samples()
    frames = []
    for d in design.doses:
        who = patients[patients["DOSE"] == float(d)]
        regimen = design.regimen(float(d)).with_observations(sched["TIME"], cmt=2)
        frames.append(_label(regimen.to_frame(list(who["ID"])), sched, who))
    return _sorted(pd.concat(frames, ignore_index=True), patients)


def _label(frame: pd.DataFrame, sched: pd.DataFrame, who: pd.DataFrame) -> pd.DataFrame:
    """OCC and DAY on every record: a sample takes its schedule's; a dose the OCC and DAY
    of the first sample at or after it."""
    frame = frame.copy()
    obs = frame["EVID"] == 0
    keyed = sched.set_index("TIME")
    frame.loc[obs, "OCC"] = frame.loc[obs, "TIME"].map(keyed["OCC"]).to_numpy()
    frame.loc[obs, "DAY"] = frame.loc[obs, "TIME"].map(keyed["DAY"]).to_numpy()
    times = sched["TIME"].to_numpy()
    for idx in frame.index[~obs]:
        k = min(int(np.searchsorted(times, frame.at[idx, "TIME"], side="left")), len(times) - 1)
        frame.at[idx, "OCC"] = sched["OCC"].iloc[k]
        frame.at[idx, "DAY"] = sched["DAY"].iloc[k]
    return frame


def _sorted(records: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """Records by ID (file order within a patient kept), with patient columns."""
    records = records.copy()
    records["_order"] = np.arange(len(records))
    records = records.sort_values(["ID", "_order"], kind="stable").drop(columns="_order")
    cols = patients[["ID", "DOSE", "WT", "AGE", "SEX"]]
    records = records.merge(cols, on="ID", how="left", validate="many_to_one")
    records["ROW"] = np.arange(1, len(records) + 1)
    return records.reset_index(drop=True)


def _observe(records: pd.DataFrame, patients: pd.DataFrame, population: PopulationModel,
             eps_rng: np.random.Generator) -> pd.DataFrame:
    """Predicted concentrations with residual error, BLQ and the CSV layout."""
    conc = predict_concentrations(records, patients, population)
    obs = (records["EVID"] == 0).to_numpy()
    c = conc[obs]
    e = eps_rng.standard_normal((2, int(obs.sum())))
    dv = c * (1.0 + population.sigma_prop * e[0]) + population.sigma_add * e[1]
    blq = (dv < population.lloq) | (c <= 0.0)
    out = records.copy()
    out["DV"] = np.nan
    out.loc[obs, "DV"] = np.where(blq, np.nan, _significant(dv, 4))
    out["BLQ"] = 0
    out.loc[obs, "BLQ"] = blq.astype(int)
    out["LLOQ"] = np.nan
    out.loc[obs, "LLOQ"] = population.lloq
    out["MDV"] = np.where(obs, 0, 1)
    out["AMT"] = out["AMT"].astype(float)
    for col in ("ID", "EVID", "MDV", "CMT", "ADDL", "BLQ", "OCC", "DAY", "AGE", "SEX"):
        out[col] = out[col].astype(int)
    return out[list(COLUMNS)].reset_index(drop=True)


def _significant(x: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant digits (as an assay reports)."""
    x = np.asarray(x, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(x != 0, np.floor(np.log10(np.abs(x))), 0)
    scale = 10.0 ** (digits - 1 - mag)
    return np.round(x * scale) / scale


def predict_concentrations(records: pd.DataFrame, patients: pd.DataFrame,
                           population: PopulationModel) -> np.ndarray:
    """Model concentrations (ng/mL) at every record of ``records`` (canonical event frame
    with ROW = 1..n), without residual error, by popkin's event engine. Records that are
    not observations get their amount-based prediction too (ignored by callers)."""
    import jax
    import jax.numpy as jnp

    from popkin.data.events import pack, unpack

    events = pack(records)
    table = patients.set_index("ID").loc[list(events.ids)]
    n = events.n_subjects
    # pad the subject axis to a multiple of 32 (copies of the last subject) so that
    # trials of 1 to 32 patients share one compiled predictor
    take = np.r_[np.arange(n), np.full(-n % _BUCKET, n - 1)]
    padded = jax.tree_util.tree_map(lambda a: a[take], events)
    params = {name: jnp.asarray(table[name].to_numpy(float)[take]) for name in population.parameters}
    params.update({name: jnp.full(len(take), float(v)) for name, v in population.constants.items()})
    params["S2"] = params["V"] / 1000.0  # mg/L -> ng/mL
    values = np.asarray(_predictor(population.model)(padded, params))[:n]
    out = unpack(events, values, "PRED")
    out = out[out["ROW"] > 0].set_index("ROW")["PRED"]
    return out.reindex(records["ROW"].to_numpy()).to_numpy(float)


_BUCKET = 32


@lru_cache(maxsize=8)
def _predictor(model_name: str):
    """A jitted population predictor for a registered model (compiled once per shape)."""
    import jax

    from popkin.pk import get_model
    from popkin.pk.engine import predict_population

    model = get_model(model_name)
    return jax.jit(lambda events, params: predict_population(model, events, params, steady_state=False))


# --------------------------------------------------------------------------- command line

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m popkin.datasets.lxi15029``: see ``--help``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m popkin.datasets.lxi15029",
        description="The virtual LXI-15029 phase I trial: side-by-side tables, regeneration, calibration.")
    parser.add_argument("--table", action="store_true",
                        help="NCA of the shipped trial (paper's conventions) next to the published Tables 3 and 4")
    parser.add_argument("--expected", type=int, metavar="N", default=0,
                        help="also the expected values: NCA of N virtual patients per dose group")
    parser.add_argument("--seeds", type=int, metavar="K", default=0,
                        help="pass/fail of the acceptance checks over K seeds (robustness of the shipped trial)")
    parser.add_argument("--write", metavar="PATH", help="write simulate_trial(--seed) as CSV to PATH (never overwrites)")
    parser.add_argument("--seed", type=int, default=SHIPPED_SEED, help=f"seed for --write (default {SHIPPED_SEED})")
    parser.add_argument("--calibrate", action="store_true",
                        help="rerun the calibration (about a minute per objective evaluation, up to 200 "
                             "evaluations) and print what it finds")
    args = parser.parse_args(argv)
    if not (args.table or args.write or args.calibrate or args.seeds or args.expected):
        parser.print_help()
        return 0
    _enable_x64()
    from popkin.datasets import tables

    if args.write:
        simulate_trial(seed=args.seed).to_csv(args.write)
        print(f"wrote {args.write}")
    if args.table:
        from popkin.datasets.loaders import lxi15029_trial

        print(tables.side_by_side_text(tables.trial_nca(lxi15029_trial().frame), "shipped virtual trial (24 patients)"))
        print(tables.checks_text(tables.acceptance(tables.trial_nca(lxi15029_trial().frame))))
    if args.expected:
        from popkin.datasets import calibration

        result = calibration.expected_nca(POPULATION, n_per_group=args.expected, seed=7)
        print(tables.side_by_side_text(result, f"expected values ({args.expected} virtual patients per group)"))
        print(tables.checks_text(tables.acceptance(result)))
    if args.seeds:
        from popkin.datasets import calibration

        print(calibration.seed_study_text(calibration.seed_study(range(1, args.seeds + 1))))
    if args.calibrate:
        from popkin.datasets import calibration

        found = calibration.calibrate()
        print(found.report())
    return 0


def _enable_x64() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""PK-guided dosing: the dose that puts a patient's exposure in a target window.

From a patient's individual posterior (``popkin.simulate.bayes``), every candidate dose
that the available strengths allow is simulated at steady state for every posterior
sample (``SteadyState()`` arms, the same engine and grid as population simulations),
which gives, per dose, the posterior distribution of the target metric (AUCtau,ss,
Ctrough,ss, Cmax,ss, ...) and the probability that it lies in the window.

The recommended dose maximises that probability. Doses within ``tie`` (default 0.01) of
the best probability count as equally good; among them the choice is the dose whose
median exposure is closest to the window's geometric centre (two-sided window), the
lowest dose (only a lower bound: least drug for the same assurance), or the highest
dose (only an upper bound, e.g. a Cmax ceiling).

Candidate doses (``DoseOptions``): every total that can be made from the available unit
strengths (e.g. capsules of 10 mg, or 10 and 50 mg) between the smallest strength and
``max_dose``, given every ``interval`` hours. For linear models the exposure metrics
that scale with the dose (auc, cav, cmax, cmin, ctrough) are computed once at a
reference dose and scaled (exact by superposition); nonlinear models (Michaelis-Menten)
simulate every candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import reduce
from typing import Sequence

import numpy as np
import pandas as pd

from popkin.dosing import every
from popkin.simulate.bayes import IndividualPosterior
from popkin.simulate.design import SteadyState, arm_design
from popkin.simulate.profiles import predict_profiles, profile_bands, with_residual_error
from popkin.simulate.run import Settings, metrics_for_parameters
from popkin.simulate.summary import Target

__all__ = ["DoseOptions", "Recommendation", "recommend", "candidate_doses", "choose_dose", "forecast"]

_LINEAR_METRICS = ("auc", "cav", "cmax", "cmin", "ctrough")


@dataclass(frozen=True)
class DoseOptions:
    """The doses that can be given.

    strengths: available unit strengths (e.g. ``(10.0,)`` capsules of 10 mg);
    max_dose: the largest dose per administration; interval: dosing interval (h, 12 for
    BID); cmt: dose compartment (1 = depot for oral); duration: infusion duration (h,
    0 for oral/bolus); unit: dose unit for labels.
    """

    strengths: tuple[float, ...] = (10.0,)
    max_dose: float = 300.0
    interval: float = 12.0
    cmt: int = 1
    duration: float = 0.0
    unit: str = "mg"

    def __post_init__(self):
        object.__setattr__(self, "strengths", tuple(float(s) for s in self.strengths))
        if not self.strengths or min(self.strengths) <= 0:
            raise ValueError("DoseOptions: strengths must be positive amounts")
        if not self.max_dose >= min(self.strengths) or not self.interval > 0:
            raise ValueError("DoseOptions: max_dose must be >= the smallest strength and interval > 0")

    def candidates(self) -> np.ndarray:
        return candidate_doses(self.strengths, self.max_dose)


def candidate_doses(strengths: Sequence[float], max_dose: float) -> np.ndarray:
    """Every positive total up to ``max_dose`` made of whole units of ``strengths``.

    Works on a grid of the strengths' greatest common divisor (to 1e-6 of the unit), e.g.
    (10,) -> 10, 20, ..., and (20, 50) -> 20, 40, 50, 60, 70, 80, 90, 100, ...
    """
    scale = 1e6
    ints = [int(round(s * scale)) for s in strengths]
    g = reduce(math.gcd, ints)
    top = int(math.floor(max_dose * scale / g + 1e-9))
    steps = [i // g for i in ints]
    reach = np.zeros(top + 1, dtype=bool)
    reach[0] = True
    for t in range(1, top + 1):
        reach[t] = any(t >= s and reach[t - s] for s in steps)
    units = np.flatnonzero(reach[1:]) + 1
    return units * g / scale


def _regimen(dose: float, options: DoseOptions):
    return every(options.interval, 1, float(dose), cmt=options.cmt, duration=options.duration, ss=True,
                 unit=options.unit)


def _label(dose: float, options: DoseOptions) -> str:
    return f"{dose:g} {options.unit} q{options.interval:g}h"


def exposures(posterior: IndividualPosterior, metric: str, doses: np.ndarray, options: DoseOptions,
              settings: Settings = Settings(chunk=4096)) -> np.ndarray:
    """Steady-state ``metric`` for every patient, posterior sample and dose: [N, S, C]."""
    structural = posterior.model.structural
    n, s = next(iter(posterior.parameters.values())).shape
    flat = {k: v.reshape(-1) for k, v in posterior.parameters.items()}
    thresholds = ()
    if metric.startswith("tat_"):
        thresholds = (float(metric[4:]),)
    settings = Settings(n=1, chunk=settings.chunk, thresholds=thresholds, quadrature=settings.quadrature)
    if structural.linear and metric in _LINEAR_METRICS and options.duration == 0:
        ref = float(doses[-1])
        arm = arm_design("ref", _regimen(ref, options), SteadyState(), settings.quadrature)
        base = metrics_for_parameters(structural, flat, [arm], settings)["ref"][metric]
        return (base.reshape(n, s)[:, :, None] * (np.asarray(doses) / ref)[None, None, :])
    arms = [arm_design(_label(d, options), _regimen(d, options), SteadyState(), settings.quadrature) for d in doses]
    res = metrics_for_parameters(structural, flat, arms, settings)
    return np.stack([res[a.label][metric].reshape(n, s) for a in arms], axis=-1)


def choose_dose(values: np.ndarray, doses: np.ndarray, target: Target, tie: float = 0.01):
    """The recommended dose index for one patient from exposure samples [S, C]; returns
    (index, P(in window) per dose [C]) (rule: module docstring)."""
    p = target.hit(values).mean(axis=0)
    good = np.flatnonzero(p >= p.max() - tie)
    if target.low is not None and target.high is not None:
        centre = 0.5 * (math.log(target.low) + math.log(target.high)) if target.low > 0 else None
        med = np.median(values[:, good], axis=0)
        if centre is not None:
            best = good[np.argmin(np.abs(np.log(np.maximum(med, 1e-300)) - centre))]
        else:
            best = good[np.argmin(np.abs(med - 0.5 * (target.low + target.high)))]
    elif target.low is not None:
        best = good[np.argmin(doses[good])]
    else:
        best = good[np.argmax(doses[good])]
    return int(best), p


@dataclass(frozen=True)
class Recommendation:
    """The dose recommended to each patient.

    chosen: one row per patient: ID, dose, interval_h, probability (P(target) at that
    dose), the metric's posterior median and interval at that dose.
    table: one row per (patient, candidate dose) with the same columns.
    target, options: as requested.
    """

    chosen: pd.DataFrame
    table: pd.DataFrame
    target: Target
    options: DoseOptions
    values: np.ndarray = field(repr=False, default=None)

    def dose(self, patient=None) -> float:
        """The recommended dose of a patient (by ID; the only one when None)."""
        frame = self.chosen if patient is None else self.chosen[self.chosen["ID"] == patient]
        if len(frame) != 1:
            raise KeyError(f"give one patient ID of {list(self.chosen['ID'])}")
        return float(frame["dose"].iloc[0])


def recommend(posterior: IndividualPosterior, target: Target, options: DoseOptions = DoseOptions(),
              interval: float = 0.9, tie: float = 0.01, settings: Settings = Settings(chunk=4096)
              ) -> Recommendation:
    """Recommend a dose per patient (module docstring)."""
    doses = options.candidates()
    values = exposures(posterior, target.metric, doses, options, settings)   # [N, S, C]
    tail = (1 - interval) / 2 * 100
    rows, chosen = [], []
    for i, pid in enumerate(posterior.ids):
        best, p = choose_dose(values[i], doses, target, tie)
        lo, mid, hi = np.percentile(values[i], [tail, 50, 100 - tail], axis=0)
        for c, dose in enumerate(doses):
            row = dict(ID=pid, dose=float(dose), interval_h=options.interval, probability=float(p[c]),
                       median=float(mid[c]), lower=float(lo[c]), upper=float(hi[c]), recommended=c == best)
            rows.append(row)
            if c == best:
                chosen.append(row)
    cols = ["ID", "dose", "interval_h", "probability", "median", "lower", "upper"]
    table = pd.DataFrame(rows).rename(columns={"median": f"{target.metric} median", "lower": f"{target.metric} lower",
                                               "upper": f"{target.metric} upper"})
    chosen = pd.DataFrame(chosen)[cols].rename(columns={"median": f"{target.metric} median",
                                                        "lower": f"{target.metric} lower",
                                                        "upper": f"{target.metric} upper"})
    return Recommendation(chosen.reset_index(drop=True), table, target, options, values)


def forecast(posterior: IndividualPosterior, dose: float, options: DoseOptions = DoseOptions(),
             times: Sequence[float] | None = None, patient: int = 0, observed: bool = False,
             percentiles: Sequence[float] = (5, 50, 95), seed: int = 0) -> pd.DataFrame:
    """A patient's predicted steady-state profile over one dosing interval at ``dose``:
    percentile bands over the posterior samples (``profile_bands`` columns time,
    percentile, value). observed=True adds the residual error (a prediction interval
    for a measured level); patient: position of the patient in ``posterior.ids``."""
    if times is None:
        times = np.linspace(0.0, options.interval, 49)
    params = posterior.patient(patient)
    pred = predict_profiles(posterior.model.structural, params, _regimen(dose, options), times)
    if observed:
        pred = with_residual_error(posterior.model, posterior.sites, posterior.draw[patient], pred, seed)
    return profile_bands(pred, times, 1, percentiles)

"""Calibration of the virtual LXI-15029 population model to the published Tables 3 and 4,
done with popkin itself: ``popkin.pk`` simulates a large virtual trial in the published
design (``lxi15029.simulate_trial`` with many patients per dose group), ``popkin.nca``
analyses it with the paper's conventions (``tables.trial_nca``), and scipy's
Nelder-Mead moves the log typical values.

The objective is the acceptance criteria (``tables.acceptance``) made smooth and given
a safety margin, plus a weak pull of every group towards the published values:

* exposure (CMAX, AUC_0_inf, CMAX_SS, AUC_SS_tau): 10 sum over the 6 best-matching
  groups of max(0, |log ratio| - log 1.3)^2, plus 0.05 sum over all 7 groups of
  min(|log ratio|, 1)^2;
* power-model slopes of day-1 AUC_0_inf and day-28 AUC_SS_tau on dose: 10 max(0,
  |difference| - 0.07)^2 each;
* mean t1/2 per group: 10 (distance of log t1/2 from [log(1.1 lo), log(hi/1.1)])^2, with
  (lo, hi) the published range of group means;
* median Tmax per group: 10 (distance of log Tmax from [log 0.6, log 1.35])^2.

The margins (1.3 against 1.5, 0.07 against 0.15, 10% inside the t1/2 ranges) make the
expected values land inside the acceptance limits with room for the sampling noise of
3-4 patients per group. Random effects are common random numbers (same seed), so the
objective is deterministic. The result is written into ``lxi15029.POPULATION`` by hand
(the tests never rerun it). Run: ``python -m popkin.datasets.lxi15029 --calibrate``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from popkin.datasets import lxi15029, tables
from popkin.datasets.published import DOSE_GROUPS, lxi15029_published
from popkin.nca import NCAResult, power_model

EXPOSURE_MARGIN = math.log(1.3)
SLOPE_MARGIN = 0.07
THALF_MARGIN = 1.1
TMAX_TARGET = (0.6, 1.35)


def expected_nca(population: lxi15029.PopulationModel = lxi15029.POPULATION, *, n_per_group: int = 200,
                 seed: int = 7, design: lxi15029.Design = lxi15029.DESIGN) -> NCAResult:
    """popkin's NCA of a virtual trial with ``n_per_group`` patients per dose group
    (residual error and BLQ included): the expected values of the trial's tables."""
    big = replace(design, n_per_group=(int(n_per_group),) * len(design.doses))
    trial = lxi15029.simulate_trial(seed=seed, design=big, population=population)
    return tables.trial_nca(trial.frame)


def _hinge(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.maximum(0.0, lo - x) ** 2 + np.maximum(0.0, x - hi) ** 2


def objective(result: NCAResult) -> float:
    """The calibration objective of an NCA result (see module docstring); 0 is ideal."""
    pub = lxi15029_published()
    doses = np.asarray(DOSE_GROUPS, float)
    total = 0.0
    for code, ss, table, name in tables.EXPOSURE:
        virt = tables.geometric_means(result, code, ss).to_numpy()
        r = np.abs(np.log(virt / pub.value(table, name, "geomean").to_numpy()))
        r = np.where(np.isfinite(r), r, 10.0)
        best = np.sort(r)[: tables.MIN_GROUPS]
        total += 10 * np.sum(np.maximum(0.0, best - EXPOSURE_MARGIN) ** 2) + 0.05 * np.sum(np.minimum(r, 1.0) ** 2)
    for code, ss, table, name in (tables.EXPOSURE[1], tables.EXPOSURE[3]):
        virt = power_model(doses, tables.geometric_means(result, code, ss).to_numpy()).slope
        ref = power_model(doses, pub.value(table, name, "geomean").to_numpy()).slope
        total += 10 * max(0.0, abs(virt - ref) - SLOPE_MARGIN) ** 2 if math.isfinite(virt) else 100.0
    for ss, table, name in ((False, "single_dose", "THALF"), (True, "steady_state", "THALF_SS")):
        ref = pub.value(table, name, "mean")
        mean = tables.group_statistic(result, "LAMZHL", ss, "arithmetic", "mean").to_numpy()
        mean = np.where(np.isfinite(mean) & (mean > 0), mean, 1e3)
        total += 10 * np.sum(_hinge(np.log(mean), math.log(ref.min() * THALF_MARGIN), math.log(ref.max() / THALF_MARGIN)))
    for ss in (False, True):
        med = tables.group_statistic(result, "TMAX", ss, "median_range", "median").to_numpy()
        total += 10 * np.sum(_hinge(np.log(med), *np.log(TMAX_TARGET)))
    return float(total)


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate`` found: the population model, its objective, the number of
    objective evaluations, the run time (s), and the acceptance checks of the expected
    values (``n_check`` patients per group)."""

    population: lxi15029.PopulationModel
    objective: float
    evaluations: int
    seconds: float
    checks: list

    def report(self) -> str:
        typical = ", ".join(f"{k} = {v:.4g}" for k, v in self.population.typical.items())
        lines = [f"calibrated typical values: {typical}",
                 f"objective {self.objective:.4g} after {self.evaluations} evaluations ({self.seconds:.0f} s)",
                 "acceptance checks of the expected values:", tables.checks_text(self.checks)]
        return "\n".join(lines)


def calibrate(start: lxi15029.PopulationModel = lxi15029.POPULATION, *, n_per_group: int = 100,
              max_evaluations: int = 200, n_check: int = 200, seed: int = 7, verbose: bool = True) -> Calibration:
    """Nelder-Mead on the log typical values of ``start`` (IIV and residual error fixed).

    n_per_group: virtual patients per dose group in each objective evaluation (common
    random numbers: the same ``seed`` every time). An evaluation at 60 patients per group
    took about 80 s on 2 shared CPU cores (simulation by popkin's ODE engine, NCA by
    popkin.nca), so the default budget is hours; the shipped values came from 21.
    """
    from scipy.optimize import minimize

    names = list(start.typical)
    x0 = np.log([start.typical[k] for k in names])
    t0 = time.time()
    count = [0]

    def f(x):
        count[0] += 1
        pop = start.with_typical(**dict(zip(names, np.exp(x))))
        value = objective(expected_nca(pop, n_per_group=n_per_group, seed=seed))
        if verbose:
            print(f"[{count[0]}] " + ", ".join(f"{k}={v:.4g}" for k, v in zip(names, np.exp(x))) + f": {value:.5g}",
                  flush=True)
        return value

    res = minimize(f, x0, method="Nelder-Mead",
                   options=dict(maxfev=max_evaluations, xatol=1e-3, fatol=1e-4, adaptive=True))
    found = start.with_typical(**{k: float(f"{v:.4g}") for k, v in zip(names, np.exp(res.x))})
    checks = tables.acceptance(expected_nca(found, n_per_group=n_check, seed=seed + 1))
    return Calibration(found, float(res.fun), count[0], time.time() - t0, checks)


def seed_study(seeds, population: lxi15029.PopulationModel = lxi15029.POPULATION) -> pd.DataFrame:
    """The acceptance checks of ``simulate_trial(seed)`` for each seed: one row per seed,
    one boolean column per check (how robust the shipped trial's passing is)."""
    rows = []
    for s in seeds:
        trial = lxi15029.simulate_trial(seed=int(s), population=population)
        checks = tables.acceptance(tables.trial_nca(trial.frame))
        rows.append({"seed": int(s), **{c.name: c.passed for c in checks}})
    return pd.DataFrame(rows)


def seed_study_text(study: pd.DataFrame) -> str:
    """How many seeds pass each check, and how many pass them all."""
    checks = [c for c in study.columns if c != "seed"]
    lines = [f"{int(study[c].sum())}/{len(study)} seeds pass: {c}" for c in checks]
    lines.append(f"{int(study[checks].all(axis=1).sum())}/{len(study)} seeds pass every check")
    return "\n".join(lines)

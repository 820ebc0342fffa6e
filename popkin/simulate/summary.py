"""Summaries of a simulation: exposure percentiles and target attainment, each with its
uncertainty across population draws.

Two sources of spread are kept apart:

* between patients (IIV, covariates): the percentiles of a metric within one population
  draw (e.g. the 5th, 50th and 95th percentile of Cmin,ss), and the fraction of patients
  whose exposure lies in a target window;
* about the population (parameter uncertainty): how those numbers vary across posterior
  draws, reported as the median across draws and an equal-tailed interval
  (``interval = 0.9``: the 5th-95th percentiles across draws).

A fixed population has one draw: its intervals are NaN (there is no parameter
uncertainty to report); attainment then carries only its Monte-Carlo standard error
``mcse = sqrt(p (1 - p) / n)``, which is also given for posterior simulations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from popkin.simulate.run import Simulation

__all__ = ["Target", "summarise", "attainment", "across_draws"]


def across_draws(per_draw: np.ndarray, interval: float = 0.9) -> tuple[float, float, float]:
    """(median, lower, upper) of a statistic computed per draw [D]; NaN bounds for D = 1."""
    per_draw = np.asarray(per_draw, dtype=float)
    mid = float(np.median(per_draw))
    if per_draw.size < 2:
        return mid, np.nan, np.nan
    tail = (1 - interval) / 2 * 100
    lo, hi = np.percentile(per_draw, [tail, 100 - tail])
    return mid, float(lo), float(hi)


def summarise(sim: Simulation, metrics: Sequence[str] = ("cmax", "cmin", "cav", "auc"),
              percentiles: Sequence[float] = (5, 50, 95), interval: float = 0.9) -> pd.DataFrame:
    """Exposure percentiles per arm and metric.

    Returns one row per (arm, metric, percentile) with ``value`` (median across draws of
    the per-draw percentile) and ``lower``/``upper`` (its ``interval`` across draws).
    """
    rows = []
    for arm in sim.labels:
        for metric in metrics:
            vals = sim.values(arm, metric)                       # [D, n]
            per = np.percentile(vals, list(percentiles), axis=1)  # [P, D]
            for q, row in zip(percentiles, per):
                mid, lo, hi = across_draws(row, interval)
                rows.append(dict(arm=arm, metric=metric, percentile=q, value=mid, lower=lo, upper=hi))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Target:
    """An exposure window: ``low <= metric <= high`` (either bound may be None).

    metric: a simulation metric (``ctrough``, ``cmin``, ``cmax``, ``cav``, ``auc``,
        ``tat_<k>``), in its units (concentration, concentration x h, or h).
    name: the column label in tables (default from the window, e.g. ``ctrough>=5``).

    Examples: ``Target("ctrough", low=5)`` (trough at or above 5),
    ``Target("auc", 100, 300)`` (AUCtau within [100, 300]), ``Target("cmax", high=50)``
    (Cmax below a toxicity threshold).
    """

    metric: str
    low: float | None = None
    high: float | None = None
    name: str = ""

    def __post_init__(self):
        if self.low is None and self.high is None:
            raise ValueError(f"Target({self.metric!r}) needs low, high or both")
        if self.low is not None and self.high is not None and not self.low <= self.high:
            raise ValueError(f"Target({self.metric!r}): low {self.low} is above high {self.high}")
        if not self.name:
            object.__setattr__(self, "name", self.describe())

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g}<={self.metric}<={self.high:g}"
        if self.low is not None:
            return f"{self.metric}>={self.low:g}"
        return f"{self.metric}<={self.high:g}"

    def hit(self, values: np.ndarray) -> np.ndarray:
        """True where ``values`` lie in the window."""
        values = np.asarray(values)
        ok = np.ones(values.shape, dtype=bool)
        if self.low is not None:
            ok &= values >= self.low
        if self.high is not None:
            ok &= values <= self.high
        return ok


def attainment(sim: Simulation, targets: Sequence[Target], interval: float = 0.9) -> pd.DataFrame:
    """Probability of each target per arm.

    Returns one row per (arm, target): ``probability`` (median across draws of the
    fraction of patients in the window), ``lower``/``upper`` (its ``interval`` across
    draws; NaN for a fixed population), ``pooled`` (fraction over all patients) and
    ``mcse`` (Monte-Carlo standard error of ``pooled``).
    """
    rows = []
    for arm in sim.labels:
        for target in targets:
            if target.metric not in sim.metrics[arm]:
                raise KeyError(f"no metric {target.metric!r}; the simulation has {sorted(sim.metrics[arm])} "
                               "(time above a threshold needs Settings(thresholds=...))")
            hits = target.hit(sim.values(arm, target.metric))   # [D, n]
            mid, lo, hi = across_draws(hits.mean(axis=1), interval)
            pooled = float(hits.mean())
            rows.append(dict(arm=arm, target=target.name, probability=mid, lower=lo, upper=hi, pooled=pooled,
                             mcse=float(np.sqrt(pooled * (1 - pooled) / hits.size))))
    return pd.DataFrame(rows)

"""The numerical core of NCA on one profile: trapezoid areas, interpolation and
extrapolation, and the terminal (lambda_z) regression. Plain numpy on sorted
arrays; no pandas, no popkin state."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from popkin.nca.options import LambdaZRule


def segment_areas(t: np.ndarray, c: np.ndarray, method: str) -> np.ndarray:
    """Area of each interval [t_i, t_i+1] (time*conc).

    linear: dt (c_i + c_i+1) / 2.
    lin-up/log-down: on a falling segment with both ends positive the log
    trapezoid dt (c_i - c_i+1) / ln(c_i / c_i+1), the exact integral of the
    exponential through both points; the linear trapezoid elsewhere.
    """
    t = np.asarray(t, float)
    c = np.asarray(c, float)
    dt = np.diff(t)
    c1, c2 = c[:-1], c[1:]
    areas = dt * (c1 + c2) / 2.0
    if method == "linear":
        return areas
    falling = (c2 < c1) & (c2 > 0)
    if np.any(falling):
        a, b, h = c1[falling], c2[falling], dt[falling]
        areas = areas.copy()
        areas[falling] = h * (a - b) / np.log(a / b)
    return areas


def interpolate(t: np.ndarray, c: np.ndarray, at: float, method: str) -> float:
    """Concentration at time ``at`` inside [t_0, t_last] of the samples.

    Linear interpolation, or log-linear on a falling segment with positive ends
    when the method is lin-up/log-down (as PKNCA and WinNonlin do).
    """
    i = int(np.searchsorted(t, at, side="left"))
    if i < len(t) and t[i] == at:
        return float(c[i])
    t1, t2, c1, c2 = t[i - 1], t[i], c[i - 1], c[i]
    w = (at - t1) / (t2 - t1)
    if method != "linear" and c1 > c2 > 0:
        return float(math.exp(math.log(c1) + w * (math.log(c2) - math.log(c1))))
    return float(c1 + w * (c2 - c1))


def auc_between(t: np.ndarray, c: np.ndarray, end: float, method: str) -> float:
    """AUC from t_0 to ``end`` (t_0 <= end <= t_last), the last segment cut at
    ``end`` with the interpolated concentration and the same trapezoid rule."""
    t = np.asarray(t, float)
    c = np.asarray(c, float)
    full = int(np.searchsorted(t, end, side="right"))  # samples with t <= end
    area = float(np.sum(segment_areas(t[:full], c[:full], method)))
    if t[full - 1] < end:
        c_end = interpolate(t, c, end, method)
        area += float(segment_areas(np.array([t[full - 1], end]), np.array([c[full - 1], c_end]), method)[0])
    return area


def exponential_tail(clast: float, lamz: float, duration: float) -> float:
    """Integral of clast * exp(-lamz * s) for s from 0 to ``duration`` (inf allowed)."""
    if math.isinf(duration):
        return clast / lamz
    return clast / lamz * -math.expm1(-lamz * duration)


@dataclass(frozen=True)
class LambdaZFit:
    """The selected terminal regression: ln C = intercept - lamz * t."""

    lamz: float  # 1/time
    intercept: float  # ln(conc) at t = 0
    r2: float
    adj_r2: float
    n_points: int
    t_first: float  # LAMZLL
    t_last: float  # LAMZUL


def _loglinear(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares y = a + b t: returns (b, a, R-squared)."""
    tm, ym = t.mean(), y.mean()
    sxx = float(np.sum((t - tm) ** 2))
    sxy = float(np.sum((t - tm) * (y - ym)))
    syy = float(np.sum((y - ym) ** 2))
    b = sxy / sxx
    r2 = 1.0 if syy == 0 else sxy * sxy / (sxx * syy)
    return b, ym - b * tm, r2


def fit_lambda_z(t: np.ndarray, c: np.ndarray, rule: LambdaZRule) -> LambdaZFit | str:
    """Best-fit lambda_z over observed samples ``t``, ``c`` (sorted, c >= 0).

    Returns the fit, or a string saying why there is none.
    """
    t = np.asarray(t, float)
    c = np.asarray(c, float)
    if len(c) == 0 or not np.any(c > 0):
        return "no measurable concentration"
    tmax = t[int(np.argmax(c))]
    after = (t >= tmax) if rule.include_cmax else (t > tmax)
    keep = after & (c > 0)
    tt, yy = t[keep], np.log(c[keep])
    n_avail = len(tt)
    where = "from Cmax on" if rule.include_cmax else "after Cmax"
    if n_avail < rule.min_points:
        return (
            f"only {n_avail} positive concentration(s) {where}; lambda_z needs "
            f"{rule.min_points} (LambdaZRule.min_points)"
        )
    fits = []
    for n in range(rule.min_points, n_avail + 1):
        b, a, r2 = _loglinear(tt[-n:], yy[-n:])
        if b < 0:
            adj = 1.0 - (1.0 - r2) * (n - 1) / (n - 2)
            fits.append(LambdaZFit(-b, a, r2, adj, n, float(tt[-n]), float(tt[-1])))
    if not fits:
        return "no terminal decline: the log-linear slope is not negative for any set of the last points"
    best = max(f.adj_r2 for f in fits)
    good = [f for f in fits if f.adj_r2 >= best - rule.adj_r2_tolerance]
    return max(good, key=lambda f: f.n_points)

"""Dose proportionality by the power model (Smith et al., Pharm Res 2000;17:1278).

ln(parameter) = a + b ln(dose), fitted by ordinary least squares. With r the
ratio of the highest to the lowest dose and (theta_L, theta_H) = (0.8, 1.25), dose
proportionality is concluded when the 90% confidence interval of b lies inside

    [1 + ln(theta_L)/ln(r), 1 + ln(theta_H)/ln(r)].

Otherwise: "more than proportional" if the interval lies entirely above 1, "less
than proportional" if entirely below 1, else "inconclusive".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from popkin.nca.engine import NCAResult
from popkin.nca.summary import _ordered, statistics


@dataclass(frozen=True)
class PowerModel:
    """Fit of ln(value) = intercept + slope ln(dose).

    n: points used; dose_ratio: highest/lowest dose; se: standard error of the
    slope; df: n - 2; ci_low, ci_high: the ``level`` confidence interval of the
    slope (t distribution); accept_low, accept_high: the acceptance interval;
    verdict: "proportional", "more than proportional", "less than proportional",
    "inconclusive" or "not estimable" (then ``reason`` says why).
    """

    parameter: str
    n: int
    dose_ratio: float
    intercept: float
    slope: float
    se: float
    df: int
    level: float
    ci_low: float
    ci_high: float
    accept_low: float
    accept_high: float
    verdict: str
    reason: str = ""


def acceptance_interval(dose_ratio: float, theta: tuple[float, float] = (0.8, 1.25)) -> tuple[float, float]:
    """Smith et al. (2000) interval for the power-model slope over a dose ratio r."""
    lr = math.log(dose_ratio)
    return 1 + math.log(theta[0]) / lr, 1 + math.log(theta[1]) / lr


def verdict(ci_low: float, ci_high: float, accept: tuple[float, float]) -> str:
    """Verdict of a slope confidence interval against the acceptance interval."""
    if accept[0] <= ci_low and ci_high <= accept[1]:
        return "proportional"
    if ci_low > 1:
        return "more than proportional"
    if ci_high < 1:
        return "less than proportional"
    return "inconclusive"


def power_model(dose, value, *, parameter: str = "", level: float = 0.90,
                theta: tuple[float, float] = (0.8, 1.25)) -> PowerModel:
    """Least-squares power model on paired dose and parameter values.

    Pairs with a non-finite or non-positive dose or value are left out. Never
    raises for data reasons: too few points or a single dose level give
    verdict "not estimable" with a reason.
    """
    d = np.asarray(dose, float)
    y = np.asarray(value, float)
    ok = np.isfinite(d) & np.isfinite(y) & (d > 0) & (y > 0)
    d, y = d[ok], y[ok]
    n = int(d.size)
    nan = math.nan

    def missing(reason, ratio=nan):
        acc = acceptance_interval(ratio, theta) if ratio > 1 else (nan, nan)
        return PowerModel(parameter, n, ratio, nan, nan, nan, max(n - 2, 0), level, nan, nan, *acc,
                          "not estimable", reason)

    if n == 0 or np.unique(d).size < 2:
        return missing("needs positive values at two or more dose levels")
    ratio = float(d.max() / d.min())
    x, ly = np.log(d), np.log(y)
    xm = x.mean()
    sxx = float(np.sum((x - xm) ** 2))
    slope = float(np.sum((x - xm) * (ly - ly.mean())) / sxx)
    intercept = float(ly.mean() - slope * xm)
    if n < 3:
        return PowerModel(parameter, n, ratio, intercept, slope, nan, 0, level, nan, nan,
                          *acceptance_interval(ratio, theta), "not estimable",
                          "a confidence interval needs 3 or more points")
    resid = ly - intercept - slope * x
    df = n - 2
    se = math.sqrt(float(np.sum(resid**2)) / df / sxx)
    q = float(stats.t.ppf(0.5 + level / 2, df))
    lo, hi = slope - q * se, slope + q * se
    accept = acceptance_interval(ratio, theta)
    return PowerModel(parameter, n, ratio, intercept, slope, se, df, level, lo, hi, *accept, verdict(lo, hi, accept))


DEFAULT_PARAMETERS = {False: ("CMAX", "AUCLST", "AUCIFO"), True: ("CMAX", "AUCTAU")}


def dose_proportionality(result: NCAResult, parameters=None, *, method: str = "subjects",
                         level: float = 0.90, theta: tuple[float, float] = (0.8, 1.25)) -> pd.DataFrame:
    """Power-model dose proportionality of NCA parameters against DOSE.

    parameters: codes to analyse; default CMAX, AUCLST, AUCIFO for single-dose
    profiles and CMAX, AUCTAU for steady-state profiles.
    method: "subjects" fits the per-profile values; "geomeans" fits the
    geometric mean of each dose level (one point per level).
    Profiles are analysed separately for single dose and steady state (column
    "profiles"), and per occasion when the result has an occasion column.
    One row per analysis with the ``PowerModel`` fields.
    """
    if method not in ("subjects", "geomeans"):
        raise ValueError(f"method must be 'subjects' or 'geomeans', got {method!r}")
    wide = result.wide
    split = ["SS"] + ([result.occasion] if result.occasion else [])
    rows = []
    for key, sub in wide.groupby(split, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for code in parameters or DEFAULT_PARAMETERS[bool(key[0])]:
            if method == "subjects":
                dose, value = sub["DOSE"], sub[code]
            else:
                levels = _ordered(sub["DOSE"])
                dose = levels
                value = [statistics("geometric", sub.loc[sub["DOSE"] == lv, code])["geomean"] for lv in levels]
            fit = power_model(dose, value, parameter=code, level=level, theta=theta)
            row = {"profiles": "steady state" if key[0] else "single dose"}
            if result.occasion:
                row[result.occasion] = key[1]
            row["method"] = method
            row.update(asdict(fit))
            rows.append(row)
    return pd.DataFrame(rows)

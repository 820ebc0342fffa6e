"""The NCA parameter registry: every parameter popkin reports, in one place, with
its CDISC/PKNCA-like code, description, unit rule, dependencies, the profiles it
applies to, the statistic a clinical report summarises it with, and how it is
computed from a prepared ``Profile``.

Compute functions work in the input units (dose, time, conc); the engine scales
clearances and volumes at the end (see ``Units.resolve``). A compute function
raises ``NotComputable(reason)`` when the value cannot be had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from popkin.nca import calc
from popkin.nca.profile import NotComputable, Profile

# Summary statistic kinds (the LXI-15029 paper's conventions)
GEOMETRIC = "geometric"  # geometric mean (geometric CV%): exposure
MEDIAN_RANGE = "median_range"  # median (min, max): Tmax
ARITHMETIC = "arithmetic"  # mean (SD): half-life, CL/F, V/F, accumulation


@dataclass(frozen=True)
class Parameter:
    """One NCA parameter.

    code: column name (CDISC PPTESTCD style); description: with the formula;
    unit: a unit rule for ``Units.resolve``; depends: codes that must be finite
    first; applies: "any", "single" (single-dose profiles) or "steady"
    (steady-state profiles); summary: statistic kind for summary tables;
    compute: f(profile, values) -> float, or None when computed across profiles.
    """

    code: str
    description: str
    unit: str
    depends: tuple[str, ...]
    applies: str
    summary: str
    compute: Callable[[Profile, dict], float] | None


def _positive(p: Profile) -> tuple[np.ndarray, np.ndarray]:
    t, c = p.t_obs, p.c_obs
    if not np.any(c > 0):
        raise NotComputable("no measurable concentration")
    return t, c


def _cmax(p, v):
    return float(np.max(_positive(p)[1]))


def _tmax(p, v):
    t, c = _positive(p)
    return float(t[int(np.argmax(c))])  # first time of the maximum


def _last(p):
    t, c = _positive(p)
    i = int(np.flatnonzero(c > 0)[-1])
    return float(t[i]), float(c[i])


def _at_tau(t, tau):
    """Samples at tau, allowing for rounding of times computed as differences."""
    return np.abs(t - tau) <= 1e-9 * max(1.0, tau)


def _window(p):
    """Observed samples in the dosing interval [0, tau] (all samples without tau)."""
    t, c = p.t_obs, p.c_obs
    if p.tau is not None:
        keep = (t <= p.tau) | _at_tau(t, p.tau)
        t, c = t[keep], c[keep]
    if len(c) == 0:
        raise NotComputable("no sample in the dosing interval")
    return t, c


def _cmin(p, v):
    return float(np.min(_window(p)[1]))


def _ctrough(p, v):
    t, c = p.t_obs, p.c_obs
    if p.tau is not None and np.any(_at_tau(t, p.tau)):
        return float(c[_at_tau(t, p.tau)][0])
    if p.ss and len(t) and t[0] == 0:
        return float(c[0])  # pre-dose sample at steady state
    if p.tau is None:
        raise NotComputable("no dosing interval tau given (NCAOptions.tau) and no pre-dose sample at steady state")
    raise NotComputable(f"no sample at tau = {p.tau:g}" + (" and no pre-dose sample" if p.ss else ""))


def _need_c0(p):
    if p.t[0] != 0:
        raise NotComputable("no concentration at dose time (TIME 0); set NCAOptions.impute_c0 or add a pre-dose sample")


def _auclst(p, v):
    _need_c0(p)
    tl = v["TLST"]
    keep = p.t <= tl
    return float(np.sum(calc.segment_areas(p.t[keep], p.c[keep], p.options.method)))


def _fit(p) -> calc.LambdaZFit:
    if "fit" not in p.cache:
        p.cache["fit"] = calc.fit_lambda_z(p.t_obs, p.c_obs, p.options.lambda_z)
    fit = p.cache["fit"]
    if isinstance(fit, str):
        raise NotComputable(fit)
    return fit


def _aucifo(p, v):
    return v["AUCLST"] + v["CLST"] / v["LAMZ"]


def _aucifp(p, v):
    fit = _fit(p)
    clst_pred = math.exp(fit.intercept - fit.lamz * v["TLST"])
    return v["AUCLST"] + clst_pred / v["LAMZ"]


def _auctau(p, v):
    if p.tau is None:
        raise NotComputable("no dosing interval tau given (NCAOptions.tau / --tau)")
    _need_c0(p)
    tau, tl = p.tau, v["TLST"]
    keep = p.t <= tl
    if tau <= tl:
        return calc.auc_between(p.t[keep], p.c[keep], tau, p.options.method)
    lamz = v.get("LAMZ", math.nan)
    if not math.isfinite(lamz):
        why = p.cache.get("reasons", {}).get("LAMZ", "")
        raise NotComputable(
            f"tau = {tau:g} is after the last measurable sample ({tl:g}) and extrapolation "
            f"needs LAMZ; {why}".rstrip("; ")
        )
    return v["AUCLST"] + calc.exponential_tail(v["CLST"], lamz, tau - tl)


def _dose(p):
    if not (math.isfinite(p.dose) and p.dose > 0):
        raise NotComputable(f"dose amount is {p.dose:g}; CL/F and V/F need a positive DOSE")
    return p.dose


_P = [
    Parameter("CMAX", "Maximum observed concentration", "conc", (), "any", GEOMETRIC, _cmax),
    Parameter("TMAX", "Time of CMAX (first occurrence)", "time", ("CMAX",), "any", MEDIAN_RANGE, _tmax),
    Parameter("CLST", "Last measurable (positive) concentration", "conc", (), "any", GEOMETRIC, lambda p, v: _last(p)[1]),
    Parameter("TLST", "Time of CLST", "time", (), "any", MEDIAN_RANGE, lambda p, v: _last(p)[0]),
    Parameter("CMIN", "Minimum observed concentration (in [0, tau] when tau is given)", "conc", (), "any", GEOMETRIC, _cmin),
    Parameter("CTROUGH", "Concentration at tau (or the pre-dose sample at steady state)", "conc", (), "any", GEOMETRIC, _ctrough),
    Parameter("AUCLST", "AUC from dose time to TLST", "auc", ("TLST",), "any", GEOMETRIC, _auclst),
    Parameter("LAMZ", "Terminal rate constant lambda_z (best-fit log-linear regression)", "1/time", ("CMAX",), "any", ARITHMETIC, lambda p, v: _fit(p).lamz),
    Parameter("LAMZHL", "Terminal half-life ln(2)/LAMZ", "time", ("LAMZ",), "any", ARITHMETIC, lambda p, v: math.log(2) / v["LAMZ"]),
    Parameter("LAMZNPT", "Number of points in the lambda_z regression", "count", ("LAMZ",), "any", MEDIAN_RANGE, lambda p, v: _fit(p).n_points),
    Parameter("R2", "R-squared of the lambda_z regression", "", ("LAMZ",), "any", ARITHMETIC, lambda p, v: _fit(p).r2),
    Parameter("R2ADJ", "Adjusted R-squared of the lambda_z regression", "", ("LAMZ",), "any", ARITHMETIC, lambda p, v: _fit(p).adj_r2),
    Parameter("LAMZLL", "First time in the lambda_z regression", "time", ("LAMZ",), "any", MEDIAN_RANGE, lambda p, v: _fit(p).t_first),
    Parameter("LAMZUL", "Last time in the lambda_z regression", "time", ("LAMZ",), "any", MEDIAN_RANGE, lambda p, v: _fit(p).t_last),
    Parameter("AUCIFO", "AUC to infinity, observed CLST: AUCLST + CLST/LAMZ", "auc", ("AUCLST", "CLST", "LAMZ"), "any", GEOMETRIC, _aucifo),
    Parameter("AUCIFP", "AUC to infinity, predicted CLST: AUCLST + CLST_pred/LAMZ", "auc", ("AUCLST", "TLST", "LAMZ"), "any", GEOMETRIC, _aucifp),
    Parameter("AUCPEO", "AUC % extrapolated: 100 (AUCIFO - AUCLST)/AUCIFO", "%", ("AUCIFO", "AUCLST"), "any", ARITHMETIC, lambda p, v: 100 * (v["AUCIFO"] - v["AUCLST"]) / v["AUCIFO"]),
    Parameter("AUCPEP", "AUC % extrapolated: 100 (AUCIFP - AUCLST)/AUCIFP", "%", ("AUCIFP", "AUCLST"), "any", ARITHMETIC, lambda p, v: 100 * (v["AUCIFP"] - v["AUCLST"]) / v["AUCIFP"]),
    Parameter("AUCTAU", "AUC from dose time to tau (interpolated at tau; extrapolated with LAMZ after TLST)", "auc", ("AUCLST", "TLST", "CLST"), "any", GEOMETRIC, _auctau),
    Parameter("CAV", "Average concentration over the dosing interval: AUCTAU/tau", "conc", ("AUCTAU",), "any", GEOMETRIC, lambda p, v: v["AUCTAU"] / p.tau),
    Parameter("CLFO", "Apparent clearance after a single dose: DOSE/AUCIFO", "clearance", ("AUCIFO",), "single", ARITHMETIC, lambda p, v: _dose(p) / v["AUCIFO"]),
    Parameter("VZFO", "Apparent terminal volume after a single dose: DOSE/(LAMZ AUCIFO)", "volume", ("AUCIFO", "LAMZ"), "single", ARITHMETIC, lambda p, v: _dose(p) / (v["LAMZ"] * v["AUCIFO"])),
    Parameter("CLFTAU", "Apparent clearance at steady state: DOSE/AUCTAU", "clearance", ("AUCTAU",), "steady", ARITHMETIC, lambda p, v: _dose(p) / v["AUCTAU"]),
    Parameter("VZFTAU", "Apparent terminal volume at steady state: CLFTAU/LAMZ", "volume", ("CLFTAU", "LAMZ"), "steady", ARITHMETIC, lambda p, v: v["CLFTAU"] / v["LAMZ"]),
    Parameter("RAC_AUC", "Accumulation ratio AUCTAU(steady state)/AUCTAU(first single dose) of the subject", "", ("AUCTAU",), "steady", ARITHMETIC, None),
    Parameter("RAC_CMAX", "Accumulation ratio CMAX(steady state)/CMAX(first single dose) of the subject", "", ("CMAX",), "steady", ARITHMETIC, None),
]

PARAMETERS: dict[str, Parameter] = {p.code: p for p in _P}
"""All parameters by code, in computation order (dependencies first)."""


def parameter_table(units=None):
    """The registry as a DataFrame (code, description, unit, depends, applies,
    summary) for documentation and ``popkin nca --help``-style listings."""
    import pandas as pd

    from popkin.nca.units import Units

    units = units or Units()
    return pd.DataFrame(
        [
            {
                "code": p.code,
                "description": p.description,
                "unit": units.resolve(p.unit)[0],
                "depends": " ".join(p.depends),
                "applies": p.applies,
                "summary": p.summary,
            }
            for p in _P
        ]
    )

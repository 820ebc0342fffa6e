"""The LXI-15029 paper's NCA tables from a NONMEM-style trial, side by side with the
published ones, and the acceptance checks of the virtual trial.

Conventions (the paper's; NCA in Phoenix WinNonlin 8.1): one single-dose profile on
day 1 (samples to 48 h) and one steady-state profile on cycle 1 day 28 (tau = 12 h) per
patient; AUC by the linear trapezoidal rule (WinNonlin's default "linear trapezoidal,
linear interpolation"); lambda_z by WinNonlin's best fit (Cmax excluded, >= 3 points,
adjusted R-squared within 1e-4 of the best, most points); BLQ before the first
measurable sample taken as 0, later BLQ samples left out; geometric mean (geometric
CV%) for exposure, median (min, max) for Tmax, mean (SD) for t1/2, V/F, CL/F and the
accumulation ratios (``popkin.nca.summarise``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from popkin.datasets.published import DOSE_GROUPS, PublishedTables, lxi15029_published
from popkin.nca import (
    SINGLE_DOSE,
    STEADY_STATE,
    NCAOptions,
    NCAResult,
    from_nonmem,
    nca,
    power_model,
    statistics,
    summarise,
)

TAU = 12.0
NCA_OPTIONS = NCAOptions(method="linear", tau=TAU)
"""NCA settings of the paper's tables (see module docstring)."""

SINGLE_DOSE_OCC, STEADY_STATE_OCC = 1, 4
"""OCC of the day-1 single-dose profile and of the cycle 1 day 28 profile in the
virtual trial's files (2 and 3 are the day-8 and day-15 troughs)."""

FOLD = 1.5
"""Acceptance: a virtual geometric mean within this factor of the published one."""
MIN_GROUPS = 6
"""Acceptance (the specification): ... in at least this many of the 7 dose groups."""
SLOPE_TOLERANCE = 0.15
"""Acceptance: power-model slopes (AUC on dose, day 1 and day 28) within this of the
published ones."""
TMAX_RANGE = (0.5, 1.5)
"""Acceptance: median Tmax of every group in this range (h)."""


def trial_nca(frame: pd.DataFrame, *, single: int = SINGLE_DOSE_OCC, steady: int = STEADY_STATE_OCC) -> NCAResult:
    """popkin's NCA of a trial in the virtual trial's layout (columns ID, TIME, AMT, DV,
    EVID, MDV, BLQ, DOSE, OCC, ...): the day-1 and day-28 profiles, grouped by DOSE."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # samples before the first dose: none here
        conc = from_nonmem(frame, occasion="OCC", tau=TAU)
    conc = conc[conc["OCC"].isin([single, steady])]
    return nca(conc, NCA_OPTIONS, group="DOSE", occasion="OCC")


def summary_tables(result: NCAResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 3 and 4 of a result, in the published files' layout (parameter, unit,
    statistic, one column per dose group), with the virtual values."""
    out = []
    for layout in (SINGLE_DOSE, STEADY_STATE):
        table = summarise(result, layout, by="DOSE")
        table = table.drop(columns=[c for c in table.columns if c == result.occasion])
        table = table[table["statistic"] != "n"].reset_index(drop=True)
        out.append(table)
    return out[0], out[1]


@dataclass(frozen=True)
class Check:
    """One acceptance check: what is checked (``name``), whether it holds (``passed``)
    and the numbers behind it (``detail``)."""

    name: str
    passed: bool
    detail: str


def geometric_means(result: NCAResult, code: str, steady_state: bool) -> pd.Series:
    """Geometric mean of ``code`` by dose group (index: dose in mg)."""
    wide = result.wide[result.wide["SS"] == int(steady_state)]
    return pd.Series({float(d): statistics("geometric", wide.loc[wide["DOSE"] == d, code])["geomean"]
                      for d in DOSE_GROUPS})


def group_statistic(result: NCAResult, code: str, steady_state: bool, kind: str, stat: str) -> pd.Series:
    """A summary statistic (e.g. kind "median_range", stat "median") of ``code`` by group."""
    wide = result.wide[result.wide["SS"] == int(steady_state)]
    return pd.Series({float(d): statistics(kind, wide.loc[wide["DOSE"] == d, code])[stat] for d in DOSE_GROUPS})


EXPOSURE = (
    ("CMAX", False, "single_dose", "CMAX"),
    ("AUCIFO", False, "single_dose", "AUC_0_inf"),
    ("CMAX", True, "steady_state", "CMAX_SS"),
    ("AUCTAU", True, "steady_state", "AUC_SS_tau"),
)
"""(popkin code, steady state, published table, published parameter) of the exposure checks."""


def acceptance(result: NCAResult, published: PublishedTables | None = None) -> list[Check]:
    """The acceptance checks of a virtual trial against the published tables (the
    specification of the virtual trial, read from the published files):

    1-4. CMAX and AUC_0_inf (day 1), CMAX_SS and AUC_SS_tau (day 28): geometric means
         within a factor ``FOLD`` (1.5) of the published ones in at least
         ``MIN_GROUPS`` (6) of the 7 groups;
    5-6. power-model slope of day-1 AUC_0_inf and of day-28 AUC_SS_tau on dose (fitted
         to the group geometric means) within ``SLOPE_TOLERANCE`` (0.15) of the slope
         of the published means;
    7-8. median Tmax of every group (day 1 and day 28) within ``TMAX_RANGE``;
    9-10. mean t1/2 of every group inside the published range of group means (day 1
         and day 28 separately).
    """
    pub = published or lxi15029_published()
    doses = np.asarray(DOSE_GROUPS, float)
    checks = []
    for code, ss, table, name in EXPOSURE:
        ratio = geometric_means(result, code, ss).to_numpy() / pub.value(table, name, "geomean").to_numpy()
        inside = int((np.abs(np.log(ratio)) <= math.log(FOLD)).sum())
        checks.append(Check(f"{name} within {FOLD:g}x of published in >= {MIN_GROUPS}/7 groups", inside >= MIN_GROUPS,
                            f"{inside}/7; virtual/published " + " ".join(f"{r:.2f}" for r in ratio)))
    for code, ss, table, name in (EXPOSURE[1], EXPOSURE[3]):
        virt = power_model(doses, geometric_means(result, code, ss).to_numpy(), parameter=code).slope
        ref = power_model(doses, pub.value(table, name, "geomean").to_numpy(), parameter=name).slope
        checks.append(Check(f"slope of {name} on dose within {SLOPE_TOLERANCE:g} of published",
                            abs(virt - ref) <= SLOPE_TOLERANCE, f"virtual {virt:.3f}, published {ref:.3f}"))
    for ss, label in ((False, "TMAX"), (True, "TMAX_SS")):
        med = group_statistic(result, "TMAX", ss, "median_range", "median").to_numpy()
        ok = bool(((med >= TMAX_RANGE[0]) & (med <= TMAX_RANGE[1])).all())
        checks.append(Check(f"median {label} in {TMAX_RANGE[0]:g}-{TMAX_RANGE[1]:g} h in every group", ok,
                            "medians " + " ".join(f"{m:.2f}" for m in med)))
    for ss, table, name in ((False, "single_dose", "THALF"), (True, "steady_state", "THALF_SS")):
        ref = pub.value(table, name, "mean")
        lo, hi = float(ref.min()), float(ref.max())
        mean = group_statistic(result, "LAMZHL", ss, "arithmetic", "mean").to_numpy()
        ok = bool(((mean >= lo) & (mean <= hi)).all())
        checks.append(Check(f"mean {name} in the published range {lo:g}-{hi:g} h in every group", ok,
                            "means " + " ".join(f"{m:.2f}" for m in mean)))
    return checks


def checks_text(checks: list[Check]) -> str:
    """The checks as lines of text ("[pass] name: detail"), then a one-line count."""
    lines = [f"[{'pass' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in checks]
    failed = [c.name for c in checks if not c.passed]
    lines.append(f"{len(checks) - len(failed)} of {len(checks)} checks pass"
                 + (f"; failed: {'; '.join(failed)}" if failed else ""))
    return "\n".join(lines)


def side_by_side(result: NCAResult, published: PublishedTables | None = None) -> pd.DataFrame:
    """Every row of the published Tables 3 and 4 with the virtual value next to it.

    Columns: table ("3" or "4"), parameter, unit, statistic, then for each dose group
    ``<dose> virtual`` and ``<dose> published``.
    """
    pub = published or lxi15029_published()
    rows = []
    for label, virtual, published_table in zip(("3", "4"), summary_tables(result), (pub.single_dose, pub.steady_state)):
        for _, prow in published_table.iterrows():
            match = virtual[(virtual["parameter"] == prow["parameter"]) & (virtual["statistic"] == prow["statistic"])]
            row = {"table": label, "parameter": prow["parameter"],
                   "unit": "" if pd.isna(prow["unit"]) else prow["unit"], "statistic": prow["statistic"]}
            for d in DOSE_GROUPS:
                row[f"{d} virtual"] = float(match.iloc[0][str(d)]) if len(match) else math.nan
                row[f"{d} published"] = float(prow[str(d)])
            rows.append(row)
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def side_by_side_text(result: NCAResult, title: str = "", published: PublishedTables | None = None) -> str:
    """The side-by-side table as Markdown: one line per published row, each cell
    "virtual / published"."""
    table = side_by_side(result, published)
    head = "| table | parameter | statistic | " + " | ".join(f"{d} mg" for d in DOSE_GROUPS) + " |"
    lines = [f"{title}: virtual / published" if title else "virtual / published", "", head,
             "|" + "---|" * (3 + len(DOSE_GROUPS))]
    for _, r in table.iterrows():
        name = f"{r['parameter']} ({r['unit']})" if r["unit"] else r["parameter"]
        fmt = (lambda x: f"{x:.0f}" if math.isfinite(x) else "-") if r["statistic"] == "count" else _fmt
        cells = [f"{fmt(r[f'{d} virtual'])} / {fmt(r[f'{d} published'])}" for d in DOSE_GROUPS]
        lines.append(f"| {r['table']} | {name} | {r['statistic']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

"""Summary tables by group in the conventions of a clinical PK report (the
LXI-15029 paper's Tables 3 and 4): geometric mean and geometric CV% for exposure,
median (min, max) for Tmax, arithmetic mean and SD for half-life, CL/F, V/F and
accumulation ratios. Long format: parameter, unit, statistic, one column per group."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from popkin.nca.engine import NCAResult
from popkin.nca.registry import ARITHMETIC, GEOMETRIC, MEDIAN_RANGE, PARAMETERS


@dataclass(frozen=True)
class Layout:
    """Which profiles and parameters a summary table shows, under which labels.

    steady_state: False = single-dose profiles, True = steady-state profiles,
    None = all profiles. rows: (registry code, label in the table).
    """

    name: str
    steady_state: bool | None
    rows: tuple[tuple[str, str], ...]

    def __post_init__(self):
        unknown = [code for code, _ in self.rows if code not in PARAMETERS]
        if unknown:
            raise KeyError(f"Layout {self.name!r}: unknown parameter code(s) {unknown}; known: {list(PARAMETERS)}")


SINGLE_DOSE = Layout("single dose (LXI-15029 Table 3)", False, (
    ("CMAX", "CMAX"), ("AUCLST", "AUC_0_t"), ("AUCTAU", "AUC_0_tau"), ("AUCIFO", "AUC_0_inf"),
    ("TMAX", "TMAX"), ("LAMZHL", "THALF"), ("VZFO", "VZ_F"), ("CLFO", "CL_F"),
))
STEADY_STATE = Layout("steady state (LXI-15029 Table 4)", True, (
    ("CMAX", "CMAX_SS"), ("CMIN", "CMIN_SS"), ("CAV", "CAV_SS"), ("AUCTAU", "AUC_SS_tau"),
    ("TMAX", "TMAX_SS"), ("LAMZHL", "THALF_SS"), ("RAC_CMAX", "RAC_CMAX"), ("RAC_AUC", "RAC_AUC"),
))

STATISTICS = {
    GEOMETRIC: ("geomean", "geocv_pct"),
    MEDIAN_RANGE: ("median", "min", "max"),
    ARITHMETIC: ("mean", "sd"),
}


def statistics(kind: str, values) -> dict[str, float]:
    """The statistics of one kind over the finite ``values`` (plus "n", the count used).

    geometric: geomean = exp(mean(ln x)), geocv_pct = 100 sqrt(exp(s^2) - 1) with
    s the SD (n - 1) of ln x; values <= 0 cannot enter and are not counted.
    median_range: median, min, max. arithmetic: mean, sd (n - 1).
    """
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if kind == GEOMETRIC:
        x = x[x > 0]
        logs = np.log(x)
        out = {
            "geomean": float(np.exp(logs.mean())) if x.size else math.nan,
            "geocv_pct": float(100 * math.sqrt(math.expm1(logs.var(ddof=1)))) if x.size > 1 else math.nan,
        }
    elif kind == MEDIAN_RANGE:
        out = {
            "median": float(np.median(x)) if x.size else math.nan,
            "min": float(x.min()) if x.size else math.nan,
            "max": float(x.max()) if x.size else math.nan,
        }
    elif kind == ARITHMETIC:
        out = {
            "mean": float(x.mean()) if x.size else math.nan,
            "sd": float(x.std(ddof=1)) if x.size > 1 else math.nan,
        }
    else:
        raise KeyError(f"unknown statistic kind {kind!r}")
    out["n"] = int(x.size)
    return out


def _label(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _ordered(values) -> list:
    uniq = list(dict.fromkeys(values))
    try:
        return sorted(uniq, key=float)
    except (TypeError, ValueError):
        return sorted(uniq, key=str)


def summarise(result: NCAResult, layout: Layout = SINGLE_DOSE, *, by: str | None = None) -> pd.DataFrame:
    """Summary table of ``result`` by group, long format.

    Columns: [occasion column when the result has one,] parameter, unit,
    statistic, then one column per group (labels as strings, "all" without
    groups). Rows: N (count of profiles), then for each layout row its
    statistics and "n" (how many values entered them).
    by: grouping column; default the result's group column.
    """
    by = by or result.group
    wide = result.wide
    if layout.steady_state is not None:
        wide = wide[wide["SS"] == int(layout.steady_state)]
    if by is None:
        wide = wide.assign(_GROUP="all")
        by = "_GROUP"
    if wide.empty:
        lead = [result.occasion] if result.occasion else []
        return pd.DataFrame(columns=[*lead, "parameter", "unit", "statistic"])
    groups = _ordered(wide[by])
    labels = [_label(g) for g in groups]
    units = result.units_of()
    occasions = _ordered(wide[result.occasion]) if result.occasion else [None]

    blocks = []
    for occ in occasions:
        sub = wide if occ is None else wide[wide[result.occasion] == occ]
        parts = {g: sub[sub[by] == g] for g in groups}
        rows = [{"parameter": "N", "unit": "", "statistic": "count", **{lab: float(len(parts[g])) for g, lab in zip(groups, labels)}}]
        for code, name in layout.rows:
            kind = PARAMETERS[code].summary
            stats = {lab: statistics(kind, parts[g][code]) for g, lab in zip(groups, labels)}
            for stat in (*STATISTICS[kind], "n"):
                rows.append({"parameter": name, "unit": units[code], "statistic": stat,
                             **{lab: float(stats[lab][stat]) for lab in labels}})
        block = pd.DataFrame(rows, columns=["parameter", "unit", "statistic", *labels])
        if occ is not None:
            block.insert(0, result.occasion, occ)
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    a = abs(x)
    if a >= 1000:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


_CELL = {
    ("geomean", "geocv_pct"): ("geo. mean (CV%)", lambda s: f"{_fmt(s['geomean'])} ({_fmt(s['geocv_pct'])})"),
    ("median", "min", "max"): ("median (min, max)", lambda s: f"{_fmt(s['median'])} ({_fmt(s['min'])}, {_fmt(s['max'])})"),
    ("mean", "sd"): ("mean ± SD", lambda s: f"{_fmt(s['mean'])} ± {_fmt(s['sd'])}"),
}


def format_summary(summary: pd.DataFrame, title: str = "") -> str:
    """A readable text table of a ``summarise`` output: one line per parameter,
    one column per group; "[n=k]" marks cells where fewer values than N entered."""
    lead = [c for c in summary.columns[: list(summary.columns).index("parameter")]]
    groups = list(summary.columns[list(summary.columns).index("statistic") + 1:])
    lines = [title] if title else []
    keyed = summary.groupby(lead, sort=False) if lead else [((), summary)]
    for key, block in keyed:
        if lead:
            lines.append(f"{lead[0]} {_label(key[0] if isinstance(key, tuple) else key)}")
        n_row = block[block["parameter"] == "N"].iloc[0]
        table = [["parameter", "statistic", *groups]]
        table.append(["N", "", *(str(int(n_row[g])) for g in groups)])
        for name, rows in block[block["parameter"] != "N"].groupby("parameter", sort=False):
            stats = rows.set_index("statistic")
            kinds = tuple(s for s in stats.index if s != "n")
            what, cell = _CELL[kinds]
            unit = rows["unit"].iloc[0]
            cells = []
            for g in groups:
                s = stats[g]
                text = cell(s)
                if s["n"] < n_row[g]:
                    text += f" [n={int(s['n'])}]"
                cells.append(text)
            table.append([f"{name} ({unit})" if isinstance(unit, str) and unit else name, what, *cells])
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        for r in table:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
        lines.append("")
    return "\n".join(lines)

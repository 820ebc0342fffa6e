"""Drawing: every function takes the frames computed by the other diagnostics modules and
returns a matplotlib Figure (nothing is computed here but layout)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402


def _identity(ax, x, y):
    values = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
    values = values[np.isfinite(values)]
    lo, hi = (values.min(), values.max()) if values.size else (0.0, 1.0)
    ax.plot([lo, hi], [lo, hi], color="black", lw=1)


def plot_gof(table: pd.DataFrame, residual: str = "CWRES") -> plt.Figure:
    """Goodness of fit, 2 x 2: DV vs PRED and DV vs IPRED (identity lines), ``residual``
    vs TIME and vs PRED (zero and +/-2 lines). ``table``: ``residual_table`` (or any frame
    with DV, PRED, IPRED, TIME and the residual column)."""
    fig, axes = plt.subplots(2, 2, figsize=(9, 8))
    for ax, col in zip(axes[0], ("PRED", "IPRED")):
        ax.scatter(table[col], table["DV"], s=10, alpha=0.6)
        _identity(ax, table[col], table["DV"])
        ax.set_xlabel(col)
        ax.set_ylabel("DV")
        ax.set_title(f"DV vs {col}")
    for ax, col in zip(axes[1], ("TIME", "PRED")):
        ax.scatter(table[col], table[residual], s=10, alpha=0.6)
        for level, style in ((0, "-"), (-2, "--"), (2, "--")):
            ax.axhline(level, color="black", lw=1, ls=style)
        ax.set_xlabel(col)
        ax.set_ylabel(residual)
        ax.set_title(f"{residual} vs {col}")
    fig.tight_layout()
    return fig


def plot_vpc(summary: pd.DataFrame, points: pd.DataFrame | None = None) -> plt.Figure:
    """A (pc)VPC from ``vpc_frame``: per percentile the simulated interval (band) and
    median (dashed), the observed percentile (solid), and the (corrected) observations."""
    fig, ax = plt.subplots(figsize=(8, 5))
    pc = bool(summary.attrs.get("prediction_corrected", False))
    if points is not None:
        ax.scatter(points["TIME"], points["PCDV" if pc and "PCDV" in points else "DV"], s=8, color="grey",
                   alpha=0.5, label="observations")
    colors = {5.0: "tab:blue", 50.0: "tab:red", 95.0: "tab:blue"}
    for q, g in summary.groupby("percentile"):
        g = g.sort_values("time")
        c = colors.get(q, "tab:green")
        ax.fill_between(g["time"], g["sim_low"], g["sim_high"], color=c, alpha=0.2)
        ax.plot(g["time"], g["sim_median"], color=c, ls="--", lw=1)
        ax.plot(g["time"], g["observed"], color=c, lw=2, label=f"observed P{q:g}")
    ax.set_xlabel("TIME")
    ax.set_ylabel("prediction-corrected DV" if pc else "DV")
    output = summary.attrs.get("output")
    ax.set_title(("pcVPC" if pc else "VPC") + (f": {output}" if output else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_individuals(curves: pd.DataFrame, observations: pd.DataFrame, max_subjects: int = 24) -> plt.Figure:
    """Individual fits: per subject the observations (points), IPRED (solid) and PRED
    (dashed). ``curves``: ``individual_curves``; ``observations``: ID, TIME, DV."""
    ids = list(pd.unique(observations["ID"]))[:max_subjects]
    cols = min(4, len(ids))
    rows = math.ceil(len(ids) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    for ax, sid in zip(axes.ravel(), ids):
        c = curves[curves["ID"] == sid]
        o = observations[observations["ID"] == sid]
        ax.plot(c["TIME"], c["IPRED"], color="tab:blue", lw=1.5)
        ax.plot(c["TIME"], c["PRED"], color="tab:orange", lw=1, ls="--")
        ax.scatter(o["TIME"], o["DV"], s=10, color="black")
        ax.set_title(f"ID {sid}", fontsize=9)
    for ax in axes.ravel()[len(ids):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_npde(values) -> plt.Figure:
    """NPDE (or CWRES): histogram against the N(0, 1) density, and a normal QQ plot."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
    ax1.hist(v, bins=30, density=True, alpha=0.6)
    x = np.linspace(-4, 4, 200)
    ax1.plot(x, stats.norm.pdf(x), color="black")
    ax1.set_title("distribution vs N(0, 1)")
    theo = stats.norm.ppf((np.arange(1, v.size + 1) - 0.5) / max(v.size, 1))
    ax2.scatter(theo, np.sort(v), s=8)
    ax2.plot([-4, 4], [-4, 4], color="black", lw=1)
    ax2.set_xlabel("N(0, 1) quantiles")
    ax2.set_ylabel("sample quantiles")
    ax2.set_title("QQ plot")
    fig.tight_layout()
    return fig

"""Figures of simulations and dosing decisions. Plot DATA is computed by the ``*_data``
functions (plain dicts of numpy arrays, testable without rendering); ``draw_*`` only
draw them (matplotlib, Agg backend) and write a NEW file (never overwriting one)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from popkin.errors import OutputExistsError

__all__ = ["selection_data", "toxicity_data", "profile_data", "forecast_data",
           "draw_selection", "draw_toxicity", "draw_profiles", "draw_forecast", "save_figure"]


# --------------------------------------------------------------------------- data

def selection_data(table: pd.DataFrame, exposure: str = "auc", probabilities: Sequence[str] = ()) -> dict:
    """Per arm of a selection table: labels, daily dose, exposure median and 5-95%
    percentiles (``<exposure> p5/p50/p95``), and each probability column with its
    bounds (NaN where the table has none); ``selected``: index of the chosen arm or -1."""
    def col(name):
        return table[name].to_numpy(float) if name in table.columns else np.full(len(table), np.nan)

    probs = {}
    for p in probabilities:
        probs[p] = dict(value=col(p), lower=col(f"{p} lower"), upper=col(f"{p} upper"))
    sel = np.flatnonzero(table["selected"].to_numpy(bool)) if "selected" in table.columns else np.array([])
    return dict(labels=list(table["arm"]), daily_dose=table["daily_dose"].to_numpy(float),
                exposure_name=exposure, exposure=dict(p5=col(f"{exposure} p5"), p50=col(f"{exposure} p50"),
                                                      p95=col(f"{exposure} p95")),
                probabilities=probs, selected=int(sel[0]) if len(sel) else -1)


def toxicity_data(fit, n_points: int = 60) -> dict:
    """The exposure-response curve of a ``ToxicityFit`` (median and interval over an
    exposure range covering the groups) and the observed rates at each group's median
    exposure, with exact (Clopper-Pearson) 90% intervals of the observed rates."""
    from scipy.stats import beta

    med = np.median(fit.exposures, axis=1)
    lo_x = np.percentile(fit.exposures, 5) / 1.5
    hi_x = np.percentile(fit.exposures, 95) * 1.5
    grid = np.exp(np.linspace(np.log(lo_x), np.log(hi_x), n_points))
    curve = fit.curve(grid)
    n = np.asarray(fit.counts.n)
    k = np.asarray(fit.counts.events)
    a = (1 - fit.options.interval) / 2
    ci_lo = np.where(k > 0, beta.ppf(a, k, n - k + 1), 0.0)
    ci_hi = np.where(k < n, beta.ppf(1 - a, k + 1, n - k), 1.0)
    return dict(endpoint=fit.counts.endpoint, metric=fit.metric, exposure=grid,
                probability=curve["probability"].to_numpy(), lower=curve["lower"].to_numpy(),
                upper=curve["upper"].to_numpy(), group_exposure=med, group_rate=k / n,
                group_lower=ci_lo, group_upper=ci_hi, groups=list(fit.counts.groups))


def profile_data(bands: pd.DataFrame) -> dict:
    """From ``profiles.profile_bands``: time and one array per percentile."""
    out = {"time": np.unique(bands["time"].to_numpy(float))}
    for q, g in bands.groupby("percentile"):
        out[f"p{q:g}"] = g.sort_values("time")["value"].to_numpy(float)
    return out


def forecast_data(bands: pd.DataFrame, observed: pd.DataFrame | None = None) -> dict:
    """A patient's forecast bands (``profile_data``) plus measured levels (TIME, DV)."""
    out = profile_data(bands)
    if observed is not None:
        out["obs_time"] = observed["TIME"].to_numpy(float)
        out["obs_dv"] = observed["DV"].to_numpy(float)
    return out


# --------------------------------------------------------------------------- drawing

def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> Path:
    """Write ``fig`` to a new file ``path`` atomically (a temporary file, then a hard
    link that fails if the name appeared meanwhile); never overwrites."""
    path = Path(path)
    if path.exists():
        raise OutputExistsError(f"{path} already exists; choose a new file name")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial{path.suffix}")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(f"{path} already exists; choose a new file name") from None
    finally:
        tmp.unlink()
    return path


def draw_selection(data: dict, path) -> Path:
    """Two panels: exposure (median, 5-95% between patients) per arm, and the
    probabilities with their intervals; the selected arm is marked."""
    plt = _pyplot()
    x = np.arange(len(data["labels"]))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(6, 0.8 * len(x) + 2), 7), sharex=True)
    e = data["exposure"]
    ax1.errorbar(x, e["p50"], yerr=[e["p50"] - e["p5"], e["p95"] - e["p50"]], fmt="o", capsize=3)
    ax1.set_yscale("log")
    ax1.set_ylabel(f"{data['exposure_name']} (median, 5-95%)")
    width = 0.8 / max(1, len(data["probabilities"]))
    for j, (name, p) in enumerate(data["probabilities"].items()):
        off = (j - (len(data["probabilities"]) - 1) / 2) * width
        err = None
        if np.all(np.isfinite(p["lower"])):
            err = [p["value"] - p["lower"], p["upper"] - p["value"]]
        ax2.bar(x + off, p["value"], width, yerr=err, capsize=2, label=name)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("probability")
    ax2.legend(fontsize=8)
    if data["selected"] >= 0:
        for ax in (ax1, ax2):
            ax.axvspan(data["selected"] - 0.45, data["selected"] + 0.45, color="gold", alpha=0.25)
    ax2.set_xticks(x)
    ax2.set_xticklabels(data["labels"], rotation=45, ha="right")
    out = save_figure(fig, path)
    plt.close(fig)
    return out


def draw_toxicity(data: dict, path) -> Path:
    """Exposure-response curve with its band and the observed group rates."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(data["exposure"], data["lower"], data["upper"], alpha=0.3, label="posterior interval")
    ax.plot(data["exposure"], data["probability"], label="posterior median")
    ax.errorbar(data["group_exposure"], data["group_rate"],
                yerr=[data["group_rate"] - data["group_lower"], data["group_upper"] - data["group_rate"]],
                fmt="o", color="k", capsize=3, label="observed (exact CI)")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel(data["metric"])
    ax.set_ylabel(f"P({data['endpoint']})")
    ax.legend(fontsize=8)
    out = save_figure(fig, path)
    plt.close(fig)
    return out


def draw_profiles(data: dict, path, ylabel: str = "concentration", log: bool = False) -> Path:
    """Percentile bands over time (outer percentiles shaded, median drawn)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    keys = sorted((k for k in data if k.startswith("p") and k[1:].replace(".", "").isdigit()),
                  key=lambda k: float(k[1:]))
    if len(keys) >= 2:
        ax.fill_between(data["time"], data[keys[0]], data[keys[-1]], alpha=0.3,
                        label=f"{keys[0][1:]}-{keys[-1][1:]}th percentile")
    mid = keys[len(keys) // 2]
    ax.plot(data["time"], data[mid], label=f"{mid[1:]}th percentile")
    if "obs_time" in data:
        ax.plot(data["obs_time"], data["obs_dv"], "ko", label="measured")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("time (h)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    out = save_figure(fig, path)
    plt.close(fig)
    return out


def draw_forecast(data: dict, path, ylabel: str = "concentration") -> Path:
    """A patient's forecast: the bands and the measured levels."""
    return draw_profiles(data, path, ylabel)

"""Visual predictive checks: binning, prediction correction, percentile intervals.

The VPC frame is computed here; ``popkin.diagnostics.plots.plot_vpc`` draws it.

* Bins: by time, edges at quantiles of the observation times (``time_bins``) or given.
  A bin is [lower, upper) except the last, which includes its upper edge.
* Prediction correction (pcVPC; Bergstrand et al. 2011, AAPS J 13:143):
  pcY_ij = Y_ij * PRED_bin / PRED_ij, PRED_bin the median PRED of the bin, applied alike to
  the observations and to every simulated replicate (each observation record keeps its
  own PRED). Normalises away the variability that dose, covariates and design add
  within a bin.
* Percentiles: the 5th, 50th and 95th percentile (default) of the (corrected)
  observations in each bin, and of each replicate; the simulated interval of each
  percentile is the central ``interval`` (default 90%) of its K replicate values.
  Percentiles use linear interpolation between order statistics (R's type 7, numpy's
  default).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from popkin.diagnostics.estimates import Estimates
from popkin.diagnostics.replicates import simulate_replicates
from popkin.infer.laplace_points import point_predictions

PERCENTILES = (5.0, 50.0, 95.0)


def time_bins(times, n_bins: int = 8) -> np.ndarray:
    """Bin edges at the quantiles 0, 1/n, ..., 1 of ``times`` (duplicates dropped), so that
    bins hold about equally many observations."""
    times = np.asarray(times, dtype=float)
    return np.unique(np.quantile(times, np.linspace(0.0, 1.0, n_bins + 1)))


def assign_bins(times, edges) -> np.ndarray:
    """Bin index (0-based) of each time; -1 outside [edges[0], edges[-1]]."""
    times = np.asarray(times, dtype=float)
    edges = np.asarray(edges, dtype=float)
    idx = np.searchsorted(edges, times, side="right") - 1
    idx = np.where(times == edges[-1], len(edges) - 2, idx)
    return np.where((times < edges[0]) | (times > edges[-1]), -1, idx)


def prediction_corrected(values, pred, bins) -> np.ndarray:
    """values * PRED_bin / PRED, PRED_bin the median PRED of each bin. ``values`` may
    have leading replicate axes; ``pred`` and ``bins`` are per observation."""
    pred = np.asarray(pred, dtype=float)
    bins = np.asarray(bins)
    ref = np.full(pred.shape, np.nan)
    for b in np.unique(bins[bins >= 0]):
        ref[bins == b] = np.median(pred[bins == b])
    return np.asarray(values, dtype=float) * ref / pred


def vpc_frame(times, dv, sims, bins, pred=None, percentiles=PERCENTILES, interval: float = 0.90) -> pd.DataFrame:
    """The VPC summary: one row per bin and percentile.

    times, dv, bins: per observation; sims: (K, n) replicates; pred: per observation
    PRED for a pcVPC (None: plain VPC). Columns: bin, time (median time of the bin's
    observations), n (observations), percentile, observed, sim_low, sim_median, sim_high
    (the central ``interval`` of the replicate percentiles), inside (observed within
    [sim_low, sim_high]).
    """
    times, dv, bins = np.asarray(times, float), np.asarray(dv, float), np.asarray(bins)
    sims = np.asarray(sims, dtype=float)
    if pred is not None:
        dv = prediction_corrected(dv, pred, bins)
        sims = prediction_corrected(sims, pred, bins)
    lo, hi = 50.0 * (1.0 - interval), 50.0 * (1.0 + interval)
    rows = []
    for b in np.unique(bins[bins >= 0]):
        sel = bins == b
        sim_p = np.percentile(sims[:, sel], percentiles, axis=1)        # (P, K)
        obs_p = np.percentile(dv[sel], percentiles)
        for j, q in enumerate(percentiles):
            low, med, high = np.percentile(sim_p[j], [lo, 50.0, hi])
            rows.append({"bin": int(b), "time": float(np.median(times[sel])), "n": int(sel.sum()),
                         "percentile": float(q), "observed": float(obs_p[j]), "sim_low": float(low),
                         "sim_median": float(med), "sim_high": float(high),
                         "inside": bool(low <= obs_p[j] <= high)})
    return pd.DataFrame(rows)


def vpc(estimates: Estimates, n_replicates: int = 500, n_bins: int = 8, prediction_correction: bool = True,
        seed: int = 0, edges=None, output: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(VPC summary frame, observation frame) for a fit's data (BLQ records left out).

    output: the name of one of the model's outputs (``Output(name, ...)``, e.g. "pca" of
    a PK/PD model): only its records; None: all fitted records (a model with one output).
    The observation frame has ID, TIME, DV, PRED, BIN and, for a pcVPC, PCDV (the
    corrected observation plotted over the intervals)."""
    problem = estimates.problem
    obs = problem.observations.reset_index(drop=True)
    use = (obs["BLQ"].to_numpy() == 0) & np.isfinite(obs["DV"].to_numpy(float))
    if output is not None:
        names = sorted(set(obs["OUTPUT"]))
        if output not in names:
            raise ValueError(f"vpc: no output {output!r}; the fitted outputs are {', '.join(map(str, names))}")
        use &= obs["OUTPUT"].to_numpy() == output
    _, pred, _ = point_predictions(problem, estimates.point)
    sims = simulate_replicates(estimates, n_replicates, seed)[:, use]
    times = obs["TIME"].to_numpy(float)[use]
    edges = time_bins(times, n_bins) if edges is None else np.asarray(edges, dtype=float)
    bins = assign_bins(times, edges)
    dv = obs["DV"].to_numpy(float)[use]
    frame = vpc_frame(times, dv, sims, bins, pred[use] if prediction_correction else None)
    points = pd.DataFrame({"ID": obs["ID"].to_numpy()[use], "TIME": times, "DV": dv, "PRED": pred[use],
                           "BIN": bins})
    if prediction_correction:
        points["PCDV"] = prediction_corrected(dv, pred[use], bins)
    frame.attrs.update(prediction_corrected=prediction_correction, n_replicates=n_replicates,
                       edges=edges.tolist(), output=output)
    return frame, points

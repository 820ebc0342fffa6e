"""Model comparison by PSIS-LOO (arviz ``az.loo`` / ``az.compare``) on the
``log_likelihood`` group of NUTS fits.

``loo_table(fits)`` returns a tidy table, one row per model, best first:
rank, elpd_loo (expected log pointwise predictive density, higher is better), se,
p_loo (effective number of parameters), elpd_diff and dse (difference from the best
model and its SE), weight (stacking), looic (= -2 elpd_loo, on the deviance scale of an
OFV), n_data (the units left out), max_pareto_k, n_high_k (Pareto k above arviz's
threshold ``good_k``, min(1 - 1/log10(S), 0.7)), and warning (text: the LOO estimate of
that model is unreliable when n_high_k > 0; arviz's own flag).

``by="observation"`` (default) leaves out one observation at a time (the
log-likelihood as the fit stored it); ``by="subject"`` sums each subject's pointwise
log-likelihood and leaves out whole subjects (what predicts a new patient), usually
with better-behaved Pareto k for hierarchical models.
"""

from __future__ import annotations

import warnings
from typing import Mapping

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from popkin.errors import PopkinError


def _log_likelihood(result, by: str) -> az.InferenceData:
    idata = result.idata
    if "log_likelihood" not in idata.groups():
        raise PopkinError("LOO needs the log_likelihood group of a sampled fit (method='nuts')")
    n_draws = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    if n_draws < 2:
        raise PopkinError(f"LOO needs posterior draws; this {result.method} fit has one point. Fit with method='nuts'")
    if by == "observation":
        return idata
    if by != "subject":
        raise ValueError(f"by must be 'observation' or 'subject', got {by!r}")
    ll = idata.log_likelihood["y"]
    ids = idata.constant_data["ID"].values
    subjects, index = np.unique(ids, return_inverse=True)
    summed = np.zeros(ll.shape[:2] + (len(subjects),))
    np.add.at(np.moveaxis(summed, -1, 0), index, np.moveaxis(ll.values, -1, 0))
    group = xr.Dataset({"y": (("chain", "draw", "subject"), summed)},
                       coords={"chain": ll["chain"], "draw": ll["draw"], "subject": subjects})
    return az.InferenceData(posterior=idata.posterior, log_likelihood=group)


def loo_table(fits: Mapping[str, object], by: str = "observation") -> pd.DataFrame:
    """Compare fitted models by PSIS-LOO (see the module docstring). ``fits``: name ->
    ``FitResult`` (NUTS), fitted to the same data."""
    if len(fits) < 1:
        raise ValueError("give at least one fit")
    datasets = {name: _log_likelihood(r, by) for name, r in fits.items()}
    sizes = {name: d.log_likelihood["y"].shape[-1] for name, d in datasets.items()}
    if len(set(sizes.values())) != 1:
        raise PopkinError(f"the fits have different numbers of {by}s {sizes}: LOO compares models on the same data")
    loos = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # Pareto-k warnings: reported per model in the table instead
        for name, d in datasets.items():
            loos[name] = az.loo(d, pointwise=True)
        compared = az.compare(loos, ic="loo", method="stacking") if len(loos) > 1 else None
    rows = []
    for name, res in loos.items():
        k = np.asarray(res.pareto_k)
        good = float(getattr(res, "good_k", 0.7))
        high = int(np.sum(k > good))
        rows.append({"model": name, "elpd_loo": float(res.elpd_loo), "se": float(res.se), "p_loo": float(res.p_loo),
                     "looic": -2.0 * float(res.elpd_loo), "n_data": int(res.n_data_points),
                     "max_pareto_k": float(k.max()), "good_k": good, "n_high_k": high,
                     "warning": (f"{high} of {k.size} {by}s have Pareto k > {good:.2f}: the LOO estimate is "
                                 f"unreliable; check it by K-fold cross-validation (refits leaving out groups of subjects)"
                                 if high else "")})
    table = pd.DataFrame(rows).set_index("model")
    if compared is not None:
        table = table.join(compared[["rank", "elpd_diff", "dse", "weight"]])
    else:
        table = table.assign(rank=0, elpd_diff=0.0, dse=0.0, weight=1.0)
    table = table.sort_values("elpd_loo", ascending=False)
    cols = ["rank", "elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight", "looic", "n_data", "max_pareto_k",
            "good_k", "n_high_k", "warning"]
    table = table[cols]
    table.attrs["by"] = by
    return table


def pareto_k_warnings(table: pd.DataFrame) -> list[str]:
    """The table's warnings as messages, one per model that has any."""
    return [f"{name}: {w}" for name, w in table["warning"].items() if w]

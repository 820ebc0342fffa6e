"""The one converter into arviz InferenceData.

Groups and variables (``S`` = chains x draws; dimension names in brackets):

* posterior: typical values (CL, V, KA, ...), covariate coefficients (CL_WT, ...),
  ``omega`` [iiv], ``corr_iiv`` [iiv, iiv_bis], ``L_iiv<k>``, ``z_iiv`` and ``eta``
  [subject, iiv], ``omega_iov`` [iov], ``z_iov`` [subject, occasion, iov], residual SDs
  (sigma_add, sigma_prop, sigma_log[_<output>]), ``individual`` [subject, parameter]
  (subject-level individual values of the Theta parameters). ``subject`` coordinates
  are the data IDs, ``iiv`` the parameters with IIV.
* sample_stats: diverging, n_steps, tree_depth, acceptance_rate, energy, lp, step_size.
* log_likelihood: ``y`` [observation], per observation, as LOO needs.
* posterior_predictive: ``y`` [observation].
* observed_data: ``y`` [observation].
* constant_data: per observation ``ID``, ``ROW`` (file row), ``TIME``, ``BLQ``, ``LLOQ``,
  ``OUTPUT`` [observation].
* point_predictions: ``IPRED`` and ``PRED`` [observation], posterior medians of the
  individual and population (eta = 0) predictions.
"""

from __future__ import annotations

import numpy as np
import arviz as az
import xarray as xr

from popkin.infer.pointwise import Pointwise
from popkin.infer.problem import Problem

_STATS = {"diverging": "diverging", "num_steps": "n_steps", "accept_prob": "acceptance_rate",
          "energy": "energy", "adapt_state.step_size": "step_size"}


def subject_coords(ids) -> np.ndarray:
    """IDs as a netCDF-friendly array (integers when they all are, else text)."""
    arr = np.asarray(ids, dtype=object)
    try:
        as_float = arr.astype(float)
        if np.all(as_float == np.round(as_float)):
            return as_float.astype(np.int64)
        return as_float
    except (TypeError, ValueError):
        return arr.astype(str)


def _dims(problem: Problem, samples: dict) -> tuple[dict, dict]:
    model = problem.model
    coords = {"subject": subject_coords(problem.ids), "iiv": list(model.eta_names),
              "iiv_bis": list(model.eta_names), "parameter": list(model.thetas),
              "observation": np.arange(len(problem.observations))}
    dims = {"omega": ["iiv"], "z_iiv": ["subject", "iiv"], "eta": ["subject", "iiv"],
            "corr_iiv": ["iiv", "iiv_bis"], "individual": ["subject", "parameter"], "y": ["observation"]}
    for k, block in enumerate(model.iiv, start=1):
        if f"L_iiv{k}" in samples:
            coords[f"iiv{k}"] = list(block.parameters)
            coords[f"iiv{k}_bis"] = list(block.parameters)
            dims[f"L_iiv{k}"] = [f"iiv{k}", f"iiv{k}_bis"]
    if model.iov is not None:
        coords["iov"] = list(model.iov.parameters)
        coords["occasion"] = list(problem.occasions)
        dims["omega_iov"] = ["iov"]
        dims["z_iov"] = ["subject", "occasion", "iov"]
    return coords, dims


def _stats(stats: dict) -> dict:
    out = {}
    for key, name in _STATS.items():
        if key in stats:
            out[name] = stats[key]
    if "potential_energy" in stats:
        out["lp"] = -stats["potential_energy"]
    if "num_steps" in stats:
        out["tree_depth"] = np.floor(np.log2(np.asarray(stats["num_steps"]) + 1)).astype(np.int64)
    if "diverging" in out:
        out["diverging"] = np.asarray(out["diverging"], dtype=bool)
    return out


def to_inference_data(problem: Problem, samples: dict, stats: dict, points: Pointwise | None,
                      attrs: dict) -> az.InferenceData:
    """Build the InferenceData (see the module docstring); ``attrs`` (popkin version,
    method, options, the model as text, ...) go to every group.

    samples: site -> (chains, draws, ...); stats: sampler fields -> (chains, draws);
    points: per-draw pointwise values, flattened over (chains, draws), or None.
    """
    coords, dims = _dims(problem, samples)
    chains, draws = next(iter(samples.values())).shape[:2]
    obs = problem.observations
    shape = (chains, draws, len(obs))
    groups = dict(
        posterior={k: np.asarray(v) for k, v in samples.items()},
        sample_stats=_stats(stats),
        observed_data={"y": obs["DV"].to_numpy(float)},
        constant_data={"ID": subject_coords(obs["ID"].to_numpy()), "ROW": obs["ROW"].to_numpy(np.int64),
                       "TIME": obs["TIME"].to_numpy(float), "BLQ": obs["BLQ"].to_numpy(np.int64),
                       "LLOQ": obs["LLOQ"].to_numpy(float), "OUTPUT": obs["OUTPUT"].to_numpy().astype(str)},
    )
    if points is not None:
        groups["log_likelihood"] = {"y": points.log_lik.reshape(shape)}
        groups["posterior_predictive"] = {"y": points.y_rep.reshape(shape)}
    const_dims = {k: ["observation"] for k in groups["constant_data"]}
    idata = az.from_dict(**groups, coords=coords, dims={**dims, **const_dims})
    if points is not None:
        idata.add_groups({"point_predictions": xr.Dataset(
            {"IPRED": ("observation", np.median(points.ipred, axis=0)),
             "PRED": ("observation", np.median(points.pred, axis=0))},
            coords={"observation": coords["observation"]})})
    for group in idata.groups():
        idata[group].attrs.update(attrs)
    return idata

"""Individual fits: each subject's IPRED and PRED curves on a fine time grid.

The grid adds ``n_points`` records (EVID 2, not observations) per subject, evenly spaced
between the subject's first and last record, to the subject's own records (doses,
covariates and occasions carried forward from the record before), and evaluates the
model at the point estimates. A subject whose record times are not sorted (a reset that
restarts the clock) keeps its own records only.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pandas as pd

from popkin.diagnostics.estimates import Estimates
from popkin.infer.convert import subject_coords
from popkin.infer.laplace_points import grids
from popkin.infer.problem import bind


_GRID_FIELDS = {"evid": 2, "amt": 0.0, "rate": 0.0, "ii": 0.0, "ss": 0, "obs": False, "blq": False,
                "dv": np.nan, "row": -1}


def dense_events(events, n_points: int):
    """``events`` (EventArrays, all subjects) with ``n_points`` grid records per subject
    inserted in time order (see the module docstring). Returns (events, is_grid (N, E'))."""
    arrays = {f.name: np.asarray(getattr(events, f.name)) for f in dataclasses.fields(events)
              if f.name not in ("ids", "cov_names")}
    n, e = arrays["time"].shape
    width = e + n_points
    out = {k: np.zeros((n, width) + v.shape[2:], dtype=v.dtype) for k, v in arrays.items()}
    is_grid = np.zeros((n, width), dtype=bool)
    for i in range(n):
        k = int(arrays["mask"][i].sum())
        t = arrays["time"][i, :k]
        grid = np.linspace(t[0], t[-1], n_points) if np.all(np.diff(t) >= 0) else np.zeros(0)
        times = np.concatenate([t, grid])
        order = np.argsort(times, kind="stable")          # a record sorts before a grid point at its time
        real = order < k
        source = np.maximum.accumulate(np.where(real, order, 0))   # the record a grid point follows
        m = len(order)
        for name, v in arrays.items():
            out[name][i, :m] = v[i, source]
            out[name][i, m:] = v[i, k - 1]
        out["time"][i, :m] = times[order]
        for name, value in _GRID_FIELDS.items():
            out[name][i, :m][~real] = value
            out[name][i, m:] = value                        # padding: no-op records
        out["mask"][i, :m] = True
        out["mask"][i, m:] = False
        is_grid[i, :m] = ~real
    new = dataclasses.replace(events, **{k: jnp.asarray(v) for k, v in out.items()})
    return new, is_grid


def individual_curves(estimates: Estimates, ids, n_points: int = 100) -> pd.DataFrame:
    """IPRED and PRED curves: one row per grid point, columns ID, TIME, IPRED, PRED.
    ``ids``: the data's subject IDs in data order (``problem.ids``)."""
    problem = estimates.problem
    events = dataclasses.replace(problem.data.events, ids=tuple(ids))
    dense, flag = dense_events(events, n_points)
    dense_problem = bind(estimates.model, dense)
    values = {k: jnp.asarray(v) for k, v in estimates.point.items()}
    ipred, pred, _ = (np.asarray(a) for a in grids(estimates.model, dense_problem.data, values))
    sid = np.repeat(subject_coords(problem.ids)[:, None], flag.shape[1], axis=1)
    return pd.DataFrame({"ID": sid[flag], "TIME": np.asarray(dense.time)[flag], "IPRED": ipred[flag],
                         "PRED": pred[flag]})

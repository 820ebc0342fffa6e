"""Predictions and residuals per observation: PRED, IPRED, RES, IWRES, CWRES.

* PRED: the typical prediction (eta = kappa = 0, the subject's covariates) and IPRED the
  individual prediction, both at the point estimates (``Estimates.point``);
* RES = DV - PRED; IRES = DV - IPRED; IWRES = IRES / SD(IPRED), SD the residual-error SD
  at the individual prediction (log-scale errors: on log DV and log IPRED);
* CWRES (Hooker, Staatz & Karlsson 2007, Pharm Res 24:2187), FOCE-style: at each
  subject's EBE b_hat (the conditional mode given the point population values, the
  Laplace inner problem), the model is linearised in the deviates b ~ N(0, I),
  F(b) ~ F(b_hat) + G (b - b_hat), G = dF/db, so that the observations have mean
  E = F(b_hat) - G b_hat and covariance C = G G' + diag(SD^2(F(b_hat))) (residual variance
  at the individual prediction: FOCE with interaction), and
  CWRES_i = C_i^{-1/2} (y_i - E_i) with the symmetric inverse square root. With the
  model right, CWRES are approximately independent N(0, 1).

BLQ records are not residuals (NaN in IWRES/CWRES; they are kept in the table).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from popkin.diagnostics.estimates import RANDOM, Estimates
from popkin.infer.laplace_inner import conditional_modes, with_random_effects
from popkin.infer.laplace_jets import coordinates
from popkin.infer.laplace_points import point_predictions
from popkin.infer.numpyro_model import residual_sds


def _residual_sd(model, data, values, f):
    """Residual SD per record (N, E) at predictions ``f``, and whether it is on the log scale."""
    add, prop, log = (np.asarray(a) for a in residual_sds(model, data, {k: jnp.asarray(v) for k, v in values.items()}))
    f = np.asarray(f)
    return np.where(log, add, np.sqrt(add ** 2 + (prop * f) ** 2)), log


def _grid(problem, per_obs: np.ndarray, fill=np.nan) -> np.ndarray:
    out = np.full(np.asarray(problem.data.events.time).shape, fill, dtype=float)
    out.ravel()[problem.flat_index] = per_obs
    return out


def _inv_sqrt(c):
    """Symmetric inverse square roots of SPD matrices (..., n, n)."""
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(w)[..., None, :]) @ np.swapaxes(v, -1, -2)


def cwres(estimates: Estimates) -> np.ndarray:
    """CWRES per fitted observation (observation order); NaN for BLQ records."""
    problem, model = estimates.problem, estimates.model
    data = problem.data
    population = {k: jnp.asarray(v) for k, v in estimates.point.items() if k not in RANDOM}
    parts = [np.asarray(estimates.point[k]).reshape(data.n_subjects, -1) for k in RANDOM if k in estimates.point]
    b0 = np.concatenate(parts, axis=1) if parts else np.zeros((data.n_subjects, 0))
    observed = np.asarray(data.observed)
    dv = np.where(observed, np.asarray(data.events.dv, dtype=float), 0.0)
    if b0.shape[1] == 0:   # no random effects: CWRES = IWRES = WRES
        f = np.asarray(point_predictions(problem, estimates.point)[0])
        sd, log = _residual_sd(model, data, estimates.point, _grid(problem, f, 1.0))
        y, h = _transform(_grid(problem, f, 1.0), dv, log, observed)
        return ((y - h) / sd).ravel()[problem.flat_index]
    modes = conditional_modes(model, data, population, jnp.asarray(b0))
    b = np.asarray(modes.b)
    f = np.asarray(modes.jets.f)
    # G = dF/db = dF/dc dc/db: coordinates are linear in b, their derivative by a shared shift
    shift = lambda s: coordinates(model, data, with_random_effects(model, data, population,  # noqa: E731
                                                                   jnp.asarray(b) + s[None, :]))
    dc_db = np.asarray(jax.jacfwd(shift)(jnp.zeros(b.shape[1])))            # (N, D, d)
    g = np.einsum("ned,ndk->nek", np.asarray(modes.jets.J), dc_db)             # (N, E, d)
    values = dict(estimates.point)
    values.update({k: np.asarray(v) for k, v in with_random_effects(model, data, population, jnp.asarray(b)).items()
                   if k in RANDOM})
    sd, log = _residual_sd(model, data, values, f)
    y, h = _transform(f, dv, log, observed)
    g = np.where(log[..., None], g / np.where(f > 0, f, 1.0)[..., None], g)   # d log F / db
    mean = h - np.einsum("nek,nk->ne", g, b)
    cov = np.einsum("nek,nfk->nef", g, g) + np.einsum("ne,ef->nef", sd ** 2, np.eye(f.shape[1]))
    both = observed[:, :, None] & observed[:, None, :]
    eye = np.broadcast_to(np.eye(f.shape[1]), cov.shape)
    cov = np.where(both, cov, eye)
    r = np.where(observed, y - mean, 0.0)
    out = np.einsum("nef,nf->ne", _inv_sqrt(cov), r)
    return np.where(observed, out, np.nan).ravel()[problem.flat_index]


def _transform(f, dv, log, observed):
    """(observation, prediction) on the scale of the error model (log for log-scale errors)."""
    safe = lambda a: np.where(observed & (a > 0), a, 1.0)  # noqa: E731
    return np.where(log, np.log(safe(dv)), dv), np.where(log, np.log(safe(f)), f)


def residual_table(estimates: Estimates, with_cwres: bool = True) -> pd.DataFrame:
    """One row per fitted observation: ID, ROW, TIME, DV, BLQ, OUTPUT, PRED, IPRED, RES,
    IRES, IWRES and (``with_cwres``) CWRES. See the module docstring."""
    problem = estimates.problem
    obs = problem.observations
    ipred, pred, _ = point_predictions(problem, estimates.point)
    frame = obs[["ID", "ROW", "TIME", "DV", "BLQ", "OUTPUT"]].copy().reset_index(drop=True)
    frame["PRED"], frame["IPRED"] = pred, ipred
    frame["RES"] = frame["DV"] - pred
    frame["IRES"] = frame["DV"] - ipred
    data = problem.data
    sd, log = _residual_sd(estimates.model, data, estimates.point, _grid(problem, ipred, 1.0))
    observed = np.asarray(data.observed)
    y, h = _transform(_grid(problem, ipred, 1.0), np.where(observed, np.asarray(data.events.dv, float), 0.0),
                      log, observed)
    iwres = np.where(observed, (y - h) / sd, np.nan).ravel()[problem.flat_index]
    frame["IWRES"] = iwres
    if with_cwres:
        frame["CWRES"] = cwres(estimates)
    return frame

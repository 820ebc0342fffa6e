"""The centred parameterisation NUTS can move in (``NUTSOptions(parameterization="centered")``).

The model is written non-centred: subject i's deviates z_i ~ N(0, I) give
eta_i = diag(omega) L z_i, and its parameter P = TV_i exp(eta_i) (TV_i: the typical
value with subject i's covariates; logit scale for fractions). When the data pin every
subject's parameters (rich sampling), that geometry is poor for NUTS: moving a typical
value or an omega at fixed z moves every subject's parameter, so the posterior is a
narrow ridge along which the sampler crawls with tiny steps (warfarin PK/PD, BID N =
1000 rich). The centred coordinates are the subjects' own parameters on the eta scale,

    phi_i = log TV_i + eta_i   (phi_i ~ N(log TV_i, diag(omega) L L' diag(omega))),

which the data pin independently of the population values (NONMEM's MU referencing).
NUTS then samples ``w``: the unconstrained point ``u`` with ``z_iiv`` replaced by phi;
back in the model's coordinates

    z_i = L^{-1} diag(omega)^{-1} (phi_i - log TV_i),

and the potential gains the log Jacobian of w -> u, whose only non-identity block is
dz_i/dphi_i = (diag(omega) L)^{-1} for every subject:

    log |det dz/dphi| = -N (sum_j log omega_j + sum_blocks sum_j log L_jj).

The draws are mapped back, so a centred fit returns the same sites (z_iiv, eta,
individual, ...) as a non-centred one, and the posterior is the same; only the sampler's
efficiency differs. IOV deviates (z_iov) stay non-centred. Sparse data (a few samples per
subject) favour the non-centred default.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from popkin.infer.numpyro_model import typical_scale
from popkin.infer.problem import FitData
from popkin.model import PopulationModel

PARAMETERIZATIONS = ("noncentered", "centered")


def _blocks(model: PopulationModel, v: dict):
    """(slice of the iiv coordinate, Cholesky factor of the correlation or None) per block."""
    start = 0
    for k, block in enumerate(model.iiv, start=1):
        m = len(block.parameters)
        yield slice(start, start + m), v.get(f"L_iiv{k}")
        start += m


def _typical(model: PopulationModel, data: FitData, v: dict):
    typical, _ = typical_scale(model, data, v)
    return jnp.stack([typical[p] for p in model.eta_names], axis=1)      # (N, iiv)


def _population(space, u: dict) -> dict:
    """Constrained values of every site but the deviates (they are not needed here)."""
    return {k: t(u[k]) for k, t in space.transforms.items() if k not in ("z_iiv", "z_iov")}


def to_centred(model: PopulationModel, space, data: FitData, u: dict) -> dict:
    """Unconstrained model point ``u`` -> the sampler's centred point ``w``."""
    if not model.eta_names:
        return dict(u)
    v = _population(space, u)
    omega, z, cols = v["omega"], u["z_iiv"], []
    for sl, chol in _blocks(model, v):
        cols.append(z[:, sl] * omega[sl] if chol is None else z[:, sl] @ (omega[sl][:, None] * chol).T)
    return {**u, "z_iiv": _typical(model, data, v) + jnp.concatenate(cols, axis=1)}


def from_centred(model: PopulationModel, space, data: FitData, w: dict):
    """The sampler's centred point ``w`` -> (the model's unconstrained point ``u``, the log
    Jacobian determinant of w -> u)."""
    if not model.eta_names:
        return dict(w), 0.0
    v = _population(space, w)
    omega = v["omega"]
    eta = w["z_iiv"] - _typical(model, data, v)
    n = eta.shape[0]
    cols, log_det = [], -n * jnp.sum(jnp.log(omega))
    for sl, chol in _blocks(model, v):
        scaled = eta[:, sl] / omega[sl]
        if chol is None:
            cols.append(scaled)
        else:
            cols.append(solve_triangular(chol, scaled.T, lower=True).T)
            log_det = log_det - n * jnp.sum(jnp.log(jnp.diagonal(chol)))
    return {**w, "z_iiv": jnp.concatenate(cols, axis=1)}, log_det

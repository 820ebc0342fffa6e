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
subject) favour the non-centred default; so does a parameter whose IIV the data hardly
determine (a small omega makes a funnel in centred coordinates): ``centred_mask`` lets
a fit centre some parameters and not others.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from popkin.infer.numpyro_model import typical_scale
from popkin.infer.problem import FitData
from popkin.model import PopulationModel

PARAMETERIZATIONS = ("noncentered", "centered")


def check_parameterization(parameterization) -> None:
    """A named parameterization must be one of ``PARAMETERIZATIONS`` (a tuple of names is
    checked against the model by ``centred_mask``)."""
    if isinstance(parameterization, str) and parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS} or a tuple of parameter "
                         f"names with IIV, got {parameterization!r}")


def parse_parameterization(text: str):
    """A parameterization written on a command line: "noncentered", "centered", or a
    comma-separated list of parameters to centre ("CL,V,KA,IC50") -> the value
    ``NUTSOptions(parameterization=...)`` takes (names are checked against the model
    when the fit starts)."""
    text = text.strip()
    if text in PARAMETERIZATIONS:
        return text
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names or any(not n.isidentifier() for n in names):
        raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS} or parameter names separated by "
                         f"commas (e.g. CL,V,KA), got {text!r}")
    return names


def centred_mask(model: PopulationModel, parameterization) -> tuple[bool, ...]:
    """Which columns of the iiv coordinate (``model.eta_names``) NUTS moves centred:
    none ("noncentered"), all ("centered"), or those of the parameters named (a tuple of
    names: e.g. centre CL, V and IC50 but not KIN and KOUT, whose IIV the data hardly
    determine). A correlated block is centred whole or not at all."""
    names = model.eta_names
    if isinstance(parameterization, str):
        check_parameterization(parameterization)
        return (parameterization == "centered",) * len(names)
    chosen = set(parameterization)
    unknown = sorted(chosen - set(names))
    if unknown:
        raise ValueError(f"parameterization names {', '.join(unknown)}, which have no IIV in model "
                         f"{model.name!r}; give 'noncentered', 'centered' or parameters with IIV: "
                         f"{', '.join(names)}")
    for block in model.iiv:
        picked = [p in chosen for p in block.parameters]
        if block.correlated and len(block.parameters) > 1 and any(picked) and not all(picked):
            raise ValueError(f"the correlated IIV block ({', '.join(block.parameters)}) is centred whole or not "
                             "at all: name all of its parameters in parameterization, or none")
    return tuple(p in chosen for p in names)


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


def to_centred(model: PopulationModel, space, data: FitData, u: dict, mask=None) -> dict:
    """Unconstrained model point ``u`` -> the sampler's point ``w`` (the columns of
    ``mask``, default all, centred)."""
    if not model.eta_names:
        return dict(u)
    mask = jnp.asarray((True,) * len(model.eta_names) if mask is None else mask)
    v = _population(space, u)
    omega, z, cols = v["omega"], u["z_iiv"], []
    for sl, chol in _blocks(model, v):
        cols.append(z[:, sl] * omega[sl] if chol is None else z[:, sl] @ (omega[sl][:, None] * chol).T)
    phi = _typical(model, data, v) + jnp.concatenate(cols, axis=1)
    return {**u, "z_iiv": jnp.where(mask, phi, z)}


def from_centred(model: PopulationModel, space, data: FitData, w: dict, mask=None):
    """The sampler's point ``w`` -> (the model's unconstrained point ``u``, the log
    Jacobian determinant of w -> u); ``mask`` as in ``to_centred``."""
    if not model.eta_names:
        return dict(w), 0.0
    mask = (True,) * len(model.eta_names) if mask is None else tuple(mask)
    v = _population(space, w)
    omega = v["omega"]
    scaled = (w["z_iiv"] - _typical(model, data, v)) / omega            # (phi - log TV) / omega
    n = scaled.shape[0]
    cols, log_det = [], -n * jnp.sum(jnp.where(jnp.asarray(mask), jnp.log(omega), 0.0))
    for sl, chol in _blocks(model, v):
        if chol is not None and mask[sl.start]:                         # a centred correlated block
            cols.append(solve_triangular(chol, scaled[:, sl].T, lower=True).T)
            log_det = log_det - n * jnp.sum(jnp.log(jnp.diagonal(chol)))
        else:                                                           # column by column
            cols.append(jnp.where(jnp.asarray(mask[sl]), scaled[:, sl], w["z_iiv"][:, sl]))
    return {**w, "z_iiv": jnp.concatenate(cols, axis=1)}, log_det

"""Derivatives of the structural model with respect to each subject's individual
parameters ("jets"), and the Taylor surrogate built from them.

Everything a Laplace fit differentiates depends on the structural model only through the
predictions F_i(c_i) of each subject at its *individual coordinates* c_i (D,):

* the transformed subject-level value of every Theta parameter (log, or logit for
  ``domain="fraction"``): P coordinates, typical value x covariates x exp(eta);
* with IOV, the deviation kappa of every (occasion, IOV parameter): K x Q coordinates.

The population values and each subject's deviates b_i map to c_i cheaply
(``popkin.infer.numpyro_model.derive``, no structural model). So the structural model is
differentiated in one place, by nested forward mode over the D coordinates (all
subjects at once: subject i's predictions depend on c_i only), and the rest of the
Laplace machinery differentiates the Taylor polynomial

    F~_i(c) = F_i + J_i d + T2_i[d, d] / 2 + T3_i[d, d, d] / 6,    d = c - c0_i,

which has the same value and derivatives up to the order kept at c0. Forward mode keeps
the compiled graph small (a reverse pass through the event engine's scan is what makes
third derivatives expensive to compile).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from popkin.infer.numpyro_model import derive, predict_grid
from popkin.infer.problem import FitData
from popkin.pk.engine import _forward_mode


def n_coordinates(model, data: FitData) -> int:
    """D = number of Theta parameters + occasions x IOV parameters."""
    iov = data.n_occasions * len(model.iov.parameters) if model.iov is not None else 0
    return len(model.thetas) + iov


def coordinates(model, data: FitData, v: dict):
    """Individual coordinates c (N, D) for sampled values ``v`` (population sites plus
    z_iiv / z_iov): transformed subject-level Theta values, then IOV kappas."""
    d = derive(model, data, v)
    cols = []
    for j, name in enumerate(model.thetas):
        x = d.individual[:, j]
        cols.append(jnp.log(x) - jnp.log1p(-x) if model.parameters[name].domain == "fraction" else jnp.log(x))
    c = jnp.stack(cols, axis=1)
    if model.iov is not None:
        kappa = v["z_iov"] * v["omega_iov"]                       # (N, K, Q)
        c = jnp.concatenate([c, kappa.reshape(kappa.shape[0], -1)], axis=1)
    return c


def structural_parameters(model, data: FitData, base: dict, c):
    """Structural parameters (name -> (N,) or (N, E)) at coordinates ``c`` (N, D).
    ``base``: the parameters from ``derive`` (Fixed and Column entries are taken from it)."""
    params = dict(base)
    p = len(model.thetas)
    kappas = {}
    if model.iov is not None:
        q = len(model.iov.parameters)
        kappa = c[:, p:].reshape(c.shape[0], data.n_occasions, q)
        per_record = jnp.take_along_axis(kappa, data.occasion[:, :, None], axis=1)   # (N, E, Q)
        kappas = {name: per_record[:, :, j] for j, name in enumerate(model.iov.parameters)}
    for j, name in enumerate(model.thetas):
        x = c[:, j]
        if name in kappas:
            x = x[:, None] + kappas[name]
        params[name] = jax.nn.sigmoid(x) if model.parameters[name].domain == "fraction" else jnp.exp(x)
    return params


def _up(fun):
    """From d -> (top derivative, lower ones) to d -> (next derivative, (top, *lower))."""
    def nested(d):
        def with_top(e):
            top, lower = fun(e)
            return top, (top,) + lower
        return jax.jacfwd(with_top, has_aux=True)(d)
    return nested


@dataclass(frozen=True)
class Jets:
    """Predictions and their derivatives at coordinates ``c0`` (N, D): ``f`` (N, E),
    ``J`` (N, E, D), ``T2`` (N, E, D, D), ``T3`` (N, E, D, D, D) (None when not kept)."""

    c0: jax.Array
    f: jax.Array
    J: jax.Array | None = None
    T2: jax.Array | None = None
    T3: jax.Array | None = None

    def surrogate(self, c):
        """The Taylor polynomial F~(c) (N, E) (see the module docstring)."""
        d = c - self.c0
        out = self.f
        if self.J is not None:
            out = out + jnp.einsum("nea,na->ne", self.J, d)
        if self.T2 is not None:
            out = out + 0.5 * jnp.einsum("neab,na,nb->ne", self.T2, d, d)
        if self.T3 is not None:
            out = out + jnp.einsum("neabc,na,nb,nc->ne", self.T3, d, d, d) / 6.0
        return out


jax.tree_util.register_dataclass(Jets, data_fields=["c0", "f", "J", "T2", "T3"], meta_fields=[])


def jets(model, data: FitData, v: dict, order: int) -> Jets:
    """Predictions at the coordinates of ``v`` and their derivatives up to ``order``
    (0 to 3) with respect to the coordinates (traceable; call inside ``jit``)."""
    c0 = coordinates(model, data, v)
    base = derive(model, data, v).params
    structural = _forward_mode(model.structural)   # ODE solves differentiable by nested jvp

    def predictions(delta):                      # the same shift for every subject
        params = structural_parameters(model, data, base, c0 + delta[None, :])
        return predict_grid(model, data, params, structural=structural), ()

    fun = predictions
    for _ in range(order):
        fun = _up(fun)
    top, lower = fun(jnp.zeros(c0.shape[1], dtype=c0.dtype))
    derivs = tuple(reversed((top,) + lower))     # f, J, T2, T3
    derivs = derivs + (None,) * (4 - len(derivs))
    return Jets(c0, *derivs)


@partial(jax.jit, static_argnums=(0, 3))
def compiled_jets(model, data: FitData, v: dict, order: int) -> Jets:
    """``jets`` compiled (model and order static)."""
    return jets(model, data, v, order)

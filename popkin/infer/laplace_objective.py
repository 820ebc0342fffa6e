"""The Laplace objective function value (OFV), its exact gradient and its Hessian.

    OFV(P) = -2 sum_i log L_i(P),   log L_i by Laplace (``popkin.infer.laplace_inner``),

P the flat unconstrained vector of ``popkin.infer.laplace_space``. The log-likelihood
carries every constant of the residual densities (0.5 log 2 pi per observed record), so
OFV is -2 log-likelihood in full, as R's ``logLik`` reports it; the random effects add no
2 pi (the (2 pi)^{d/2} of the Laplace integral cancels the normalising constant of their
standard-normal density).

One evaluation at P: (1) the EBEs by Newton (``conditional_modes``, warm-started at the
previous EBEs), which ends with third-order jets of the structural model at the EBEs
(``popkin.infer.laplace_jets``); (3) the OFV on that Taylor surrogate with b_hat(P)
entering through one Newton step from the (stop-gradient) mode, which carries the
implicit-function derivative db_hat/dP. Value and gradient are exact: they need
derivatives of the predictions up to third order at the EBEs (the log-determinant's
gradient involves d^3 F / dc^3), which the jets hold.

The Hessian of the OFV (for standard errors) is computed by central differences of this
exact gradient (step 1e-4 on the estimation scale: truncation error ~1e-8 relative),
as NONMEM computes its R matrix.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from popkin.infer.laplace_inner import (conditional_modes, gradient_and_hessian, n_random, subject_objective,
                                        with_random_effects)
from popkin.infer.laplace_jets import compiled_jets
from popkin.infer.laplace_space import PopulationSpace
from popkin.infer.numpyro_model import derive
from popkin.infer.problem import FitData

HESSIAN_STEP = 1e-4


def _log_det(h):
    """log det of SPD blocks (N, d, d); NaN where a block is not positive definite."""
    chol = jnp.linalg.cholesky(0.5 * (h + jnp.swapaxes(h, 1, 2)))
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), axis=1)


def _ofv(model, u, data: FitData, b_hat, surrogate, h_hat):
    space = PopulationSpace(model, data)
    population = space.constrain(u)
    phi = lambda b: subject_objective(model, data, population, b, surrogate)  # noqa: E731
    if b_hat.shape[1] == 0:
        ll = -phi(b_hat)
        b_star = b_hat
    else:
        b_hat = jax.lax.stop_gradient(b_hat)
        g = jax.jacfwd(lambda s: phi(b_hat + s[None, :]))(jnp.zeros(b_hat.shape[1], dtype=b_hat.dtype))
        # one Newton step with the Hessian at the mode held fixed (``h_hat``, from the inner
        # search): b_star = b_hat at the mode (g = 0), and its derivative is the
        # implicit-function derivative -H^{-1} d^2 phi / db dP
        b_star = b_hat - jnp.linalg.solve(jax.lax.stop_gradient(h_hat), g[..., None])[..., 0]
        _, h_star = gradient_and_hessian(phi, b_star)
        ll = -phi(b_star) - 0.5 * _log_det(h_star)
    ok = derive(model, data, with_random_effects(model, data, population, b_hat)).linear_ok
    ofv = jnp.where(ok, -2.0 * jnp.sum(ll), jnp.inf)
    return ofv, ll


@partial(jax.jit, static_argnums=0)
def _ofv_and_gradient(model, u, data: FitData, b_hat, surrogate, h_hat):
    return jax.value_and_grad(lambda v: _ofv(model, v, data, b_hat, surrogate, h_hat), has_aux=True)(u)


@partial(jax.jit, static_argnums=0)
def _population(model, u, data: FitData):
    return PopulationSpace(model, data).constrain(u)


class LaplaceObjective:
    """The OFV of one problem as a function of P (numpy float64 in and out), keeping the
    last EBEs as the warm start of the next evaluation.

    After each call: ``b`` (N, d) the EBE deviates, ``loglik`` (N,) the subjects' Laplace
    log-likelihoods, ``inner_gradient`` (N,) max |d phi_i / db| at the EBEs."""

    def __init__(self, model, data: FitData):
        self.model, self.data = model, data
        self.b = jnp.zeros((data.n_subjects, n_random(model, data)))
        self.loglik = None
        self.inner_gradient = None
        self.evaluations = 0

    def population(self, u) -> dict:
        """Constrained population sites at P."""
        return _population(self.model, jnp.asarray(u), self.data)

    def value_and_gradient(self, u):
        """(OFV, dOFV/dP) at P (exact; see the module docstring)."""
        self.evaluations += 1
        u = jnp.asarray(u, dtype=jnp.float64)
        population = _population(self.model, u, self.data)
        if self.b.shape[1]:
            modes = conditional_modes(self.model, self.data, population, self.b)
            b, g_max, surrogate, h_hat = modes.b, modes.gradient, modes.jets, modes.hessian
        else:   # no random effects: the gradient needs first-order jets only
            b, g_max, h_hat = self.b, np.zeros(self.data.n_subjects), jnp.zeros((self.data.n_subjects, 0, 0))
            v = with_random_effects(self.model, self.data, population, b)
            surrogate = compiled_jets(self.model, self.data, v, 1)
        (value, ll), grad = _ofv_and_gradient(self.model, u, self.data, b, surrogate, h_hat)
        value, grad = float(value), np.asarray(grad, dtype=np.float64)
        if np.isfinite(value) and np.all(np.isfinite(grad)) and np.all(np.isfinite(np.asarray(b))):
            self.b, self.loglik, self.inner_gradient = b, np.asarray(ll), np.asarray(g_max)
        return value, grad

    def __call__(self, u):
        """For scipy: a non-finite OFV becomes 1e300 with a zero gradient."""
        value, grad = self.value_and_gradient(u)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros_like(np.asarray(u, dtype=np.float64))
        return value, grad

    def hessian(self, u, step: float = HESSIAN_STEP) -> np.ndarray:
        """d^2 OFV / dP^2 by central differences of the exact gradient (symmetrised)."""
        u = np.asarray(u, dtype=np.float64)
        b_keep = self.b
        cols = []
        for k in range(u.size):
            e = np.zeros_like(u)
            e[k] = step
            g_plus = self.value_and_gradient(u + e)[1]
            self.b = b_keep
            g_minus = self.value_and_gradient(u - e)[1]
            self.b = b_keep
            cols.append((g_plus - g_minus) / (2 * step))
        self.value_and_gradient(u)   # leave the state at u
        h = np.stack(cols, axis=1)
        return 0.5 * (h + h.T)

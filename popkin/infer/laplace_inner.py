"""The inner problem of the Laplace fit: each subject's random effects at their mode.

For one subject i with population values P (typical values, omega, correlations,
residual SDs), the random effects are the standard-normal deviates b_i of the numpyro
model (``z_iiv`` and, with IOV, ``z_iov``): eta_i = diag(omega) L b_i. The subject's
objective is

    phi_i(b) = -log p(y_i | b, P) + |b|^2 / 2,

minus the log joint density of the subject's data and random effects (without the
(2 pi)^{d/2} of the standard normal, which the Laplace integral cancels). Its minimiser
is the empirical Bayes estimate (EBE, the conditional mode), and

    log L_i(P) ~= -phi_i(b_hat) - log det(H_i) / 2,     H_i = d^2 phi_i / db^2 at b_hat,

is the Laplace approximation of the subject's marginal likelihood. Working with b rather
than eta is exact: the Laplace approximation is invariant under the linear map
eta = diag(omega) L b (the Jacobians cancel), and it stays well defined when an omega
shrinks towards 0.

log p(y_i | b, P) is the numpyro model's own observation density
(``popkin.infer.numpyro_model.observation_distribution``: residual variance at the
individual prediction, the interaction of FOCE-I; BLQ records as M3 probabilities) at
predictions given by a ``Jets`` surrogate (``popkin.infer.laplace_jets``). All subjects
are handled at once: phi is a vector (N,), subject i's entry depends on b_i only, so the
per-subject gradient (N, d) and Hessian blocks (N, d, d) come from derivatives along a
shift shared by all subjects.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from popkin.infer.laplace_jets import Jets, compiled_jets, coordinates, jets
from popkin.infer.numpyro_model import derive, observation_distribution
from popkin.infer.problem import FitData

NEWTON_MAX_ITER = 100          # inner Newton iterations at most
NEWTON_GTOL = 1e-9             # stop when max |d phi_i / db| is below this (phi_i is O(n_obs,i))
_STEPS = jnp.asarray([1.0, 0.5, 0.25, 0.1, 0.03, 0.01, 0.001])  # line-search fractions of the Newton step
_DESCENT = jnp.asarray([1.0, 0.3, 0.1, 0.03, 0.01])  # steepest-descent move lengths (b is N(0, 1) a priori)
_MIN_CURVATURE = 1e-3          # floor of |eigenvalues| of the Newton matrix, relative to the largest


def random_effect_layout(model, data: FitData) -> tuple[int, int, int]:
    """(IIV deviates q, occasions K, IOV parameters Q); b_i has d = q + K Q entries."""
    q = len(model.eta_names)
    m = len(model.iov.parameters) if model.iov is not None else 0
    return q, (data.n_occasions if m else 0), m


def n_random(model, data: FitData) -> int:
    q, k, m = random_effect_layout(model, data)
    return q + k * m


def with_random_effects(model, data: FitData, population: dict, b) -> dict:
    """Population sites plus the deviates of ``b`` (N, d) as z_iiv (N, q), z_iov (N, K, Q)."""
    q, k, m = random_effect_layout(model, data)
    v = dict(population)
    if q:
        v["z_iiv"] = b[:, :q]
    if m:
        v["z_iov"] = b[:, q:].reshape(b.shape[0], k, m)
    return v


def subject_objective(model, data: FitData, population: dict, b, surrogate: Jets | None):
    """phi_i(b_i) for every subject (N,). ``surrogate``: predictions from a ``Jets``
    polynomial, or None for the structural model itself."""
    v = with_random_effects(model, data, population, b)
    if surrogate is None:
        pred = jets(model, data, v, 0).f
    else:
        pred = surrogate.surrogate(coordinates(model, data, v))
    lp = observation_distribution(model, data, v, pred).log_prob(data.events.dv)
    return -jnp.sum(lp, axis=1) + 0.5 * jnp.sum(b * b, axis=1)


def gradient_and_hessian(phi, b):
    """Per-subject gradient (N, d) and Hessian blocks (N, d, d) of a separable phi (N,)."""
    shifted = lambda s: phi(b + s[None, :])  # noqa: E731
    zero = jnp.zeros(b.shape[1], dtype=b.dtype)
    grad = jax.jacfwd(shifted)(zero)
    hess = jax.jacfwd(jax.jacfwd(shifted))(zero)
    return grad, hess


@partial(jax.jit, static_argnums=0)
def newton_direction(model, data: FitData, population: dict, b, surrogate: Jets):
    """At ``b`` (the surrogate's expansion point): the gradient (N, d), a Newton step
    (N, d), phi_i (N,) and the exact Hessian blocks (N, d, d). The step uses the
    Hessian with its eigenvalues replaced by their absolute values, floored at 1e-3 of the
    largest (saddle-free Newton: a descent direction where the Hessian is indefinite)."""
    phi = lambda x: subject_objective(model, data, population, x, surrogate)  # noqa: E731
    g, h = gradient_and_hessian(phi, b)
    w, v = jnp.linalg.eigh(0.5 * (h + jnp.swapaxes(h, 1, 2)))
    w = jnp.abs(w)
    w = jnp.maximum(w, _MIN_CURVATURE * jnp.maximum(1.0, jnp.max(w, axis=1, keepdims=True)))
    step = -jnp.einsum("nij,nj->ni", v, jnp.einsum("nji,nj->ni", v, g) / w)
    return g, step, phi(b), h


@partial(jax.jit, static_argnums=0)
def line_search(model, data: FitData, population: dict, b, step, g, f):
    """Candidate moves per subject: fractions of the Newton ``step`` and, as a fallback
    where the quadratic model is poor, steepest-descent moves of fixed lengths. Takes the
    largest Newton fraction that satisfies Armijo's rule, else the best candidate; a
    subject whose phi_i no candidate lowers keeps its b.
    Returns (new b (N, d), moved (N,) bool)."""
    g_norm = jnp.maximum(jnp.max(jnp.abs(g), axis=1, keepdims=True), 1e-300)
    moves = jnp.concatenate([_STEPS[:, None, None] * step[None],
                             -_DESCENT[:, None, None] * (g / g_norm)[None]])           # (C, N, d)
    trial = jax.vmap(lambda m: subject_objective(model, data, population, b + m, None))(moves)
    trial = jnp.where(jnp.isfinite(trial), trial, jnp.inf)                           # (C, N)
    n_newton = _STEPS.shape[0]
    slope = jnp.sum(g * step, axis=1)
    armijo = trial[:n_newton] <= f[None] + 1e-4 * _STEPS[:, None] * slope[None]
    k = jnp.where(jnp.any(armijo, axis=0), jnp.argmax(armijo, axis=0), jnp.argmin(trial, axis=0))
    best = jnp.take_along_axis(trial, k[None], axis=0)[0]
    moved = best < f
    chosen = jnp.take_along_axis(moves, k[None, :, None], axis=0)[0]
    return jnp.where(moved[:, None], b + chosen, b), moved


@dataclass(frozen=True)
class Modes:
    """The EBE deviates ``b`` (N, d), the third-order ``jets`` at them, the Hessian
    blocks of phi_i at b (N, d, d), max |gradient| of phi_i at b (N,) and the Newton
    ``iterations`` used."""

    b: jax.Array
    jets: Jets
    hessian: jax.Array
    gradient: np.ndarray
    iterations: int


def conditional_modes(model, data: FitData, population: dict, b_start) -> Modes:
    """Every subject's EBE given the constrained population sites, by Newton's method
    from ``b_start`` (N, d) on the exact gradient and Hessian (from third-order jets at
    the current point, which the OFV then reuses), with a line search on the structural
    model itself. Stops when every max |gradient| < NEWTON_GTOL, when no subject can
    lower its phi_i any more (flat to rounding), or after NEWTON_MAX_ITER."""
    b = np.asarray(b_start, dtype=np.float64)
    active = np.ones(b.shape[0], bool)
    for it in range(NEWTON_MAX_ITER + 1):
        sur = compiled_jets(model, data, with_random_effects(model, data, population, jnp.asarray(b)), 3)
        g, step, f, h = newton_direction(model, data, population, b, sur)
        g_max = np.max(np.abs(np.asarray(g)), axis=1) if b.shape[1] else np.zeros(b.shape[0])
        active &= g_max > NEWTON_GTOL
        if not active.any() or it == NEWTON_MAX_ITER:
            break
        b_new, moved = line_search(model, data, population, b, step, g, f)
        moved = np.asarray(moved) & active
        active &= moved
        b = np.where(moved[:, None], np.asarray(b_new), np.asarray(b))
    return Modes(b, sur, h, g_max, it)

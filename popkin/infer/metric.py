"""A starting metric for NUTS from the curvature at the MAP (``NUTSOptions(init_mass="map")``),
or from the draws of an earlier run (``draws_inverse_mass``).

NUTS starts warm-up with the identity as inverse mass matrix. When the posterior SDs
of the coordinates differ by orders of magnitude (a typical value pinned to 1 % by rich
data next to an eta known to 30 %), the step size must fit the narrowest one, and the
first adaptation window (75 iterations) builds trees of the maximum depth. With ODE
models at a fraction of a second per gradient that window alone takes hours.

Here the inverse mass matrix starts from the Hessian H of the potential (minus the log
density) at the chains' starting point (the MAP, in the sampler's own coordinates), by
central differences of its gradient, so that it works with any ODE adjoint (2 d
gradients for d coordinates). Each block of the metric gets the inverse of its own block
of H: the covariance of the Gaussian approximation of those coordinates *given* all the
others (a diagonal coordinate: 1 / H_ii). Not the marginal covariance (the inverse of
the whole H): at the joint mode of a hierarchical model the typical values trade off
against every subject's deviates, and the marginal variance there is far from the
posterior's (theophylline, non-centred: 0.11 for log CL against 0.009 in the draws).
Eigenvalues of a block below 1 (flatter than the default priors, or negative at a
saddle) are raised to 1, so no direction starts with a posterior SD above 1 on the
unconstrained scale, the scale of the default priors (log-normal with SD 1). Warm-up then
adapts the metric from the draws as usual (``adapt_mass=True``), or keeps this one and
adapts only the step size.

The curvature at the mode is a local metric. Where the posterior is far from Gaussian
(LXI-15029: typical values on a ridge, omegas with funnels) the draws of an earlier run
measure its spread better: ``draws_inverse_mass`` is their regularised covariance, for a
new run that starts from the earlier run's last draws
(``popkin.infer.checkpoint.restart_point``), as CmdStan reuses an adapted metric
(``metric_file``) and initial values.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from popkin.errors import FitError


def laplace_hessian(potential, w: dict, rel_step: float = 1e-4) -> np.ndarray:
    """Hessian (d, d) of ``potential`` at ``w`` (site -> unconstrained array), coordinates
    in the order of ``ravel_pytree(w)`` (sites sorted by name, each raveled C order), as
    numpyro ravels them: central differences of the gradient with step ``rel_step`` x
    max(1, |w_i|), symmetrised."""
    flat, unravel = ravel_pytree(w)
    flat = jnp.asarray(flat, dtype=jnp.float64)
    grad = jax.jit(lambda x: ravel_pytree(jax.grad(potential)(unravel(x)))[0])
    d = flat.shape[0]
    steps = rel_step * np.maximum(1.0, np.abs(np.asarray(flat)))
    rows = []
    for i in range(d):
        e = jnp.zeros(d).at[i].set(steps[i])
        rows.append((np.asarray(grad(flat + e)) - np.asarray(grad(flat - e))) / (2 * steps[i]))
    hess = np.stack(rows)
    if not np.all(np.isfinite(hess)):
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(hess))[:, 0]})
        raise FitError(f'NUTSOptions(init_mass="map"): the gradient is not finite next to the starting point '
                       f'(coordinates {bad[:10]}); start from the identity (init_mass="unit")')
    return 0.5 * (hess + hess.T)


def block_covariance(hess: np.ndarray) -> np.ndarray:
    """The inverse of the (symmetric) Hessian block ``hess``, its eigenvalues first raised
    to at least 1 (module docstring)."""
    lam, vec = np.linalg.eigh(hess)
    return (vec / np.maximum(lam, 1.0)) @ vec.T


def inverse_mass(hess: np.ndarray, w: dict, dense_mass):
    """The initial ``inverse_mass_matrix`` of numpyro's NUTS from the Hessian ``hess``
    (``laplace_hessian`` at ``w``), for ``dense_mass`` as ``mass_blocks`` returns it: the
    covariance of each block given the other coordinates (``block_covariance`` of its
    Hessian block; the whole matrix for True), 1 / max(H_ii, 1) for diagonal coordinates
    (False, and the sites outside the blocks, keyed by their sorted names as numpyro
    keys them)."""
    diagonal = 1.0 / np.maximum(np.diag(hess), 1.0)
    return _layout(w, hess.shape[0], dense_mass, diagonal, lambda idx: block_covariance(hess[np.ix_(idx, idx)]))


def draws_inverse_mass(draws: np.ndarray, w: dict, dense_mass, shrink: float = 5.0, floor: float = 1e-3):
    """The ``inverse_mass_matrix`` of numpyro's NUTS from earlier draws ``draws`` (n, d),
    each row one draw raveled as ``ravel_pytree(w)`` ravels the sampler's coordinates,
    for ``dense_mass`` as ``mass_blocks`` returns it: the sample covariance C of each
    block (its variances for diagonal coordinates), regularised towards a small multiple
    of the identity as Stan regularises its adapted metric,
    n/(n + shrink) C + floor shrink/(n + shrink) I."""
    draws = np.asarray(draws, dtype=float)
    n = draws.shape[0]
    if draws.ndim != 2 or n < 2:
        raise FitError(f"draws_inverse_mass: needs a (draws, coordinates) array of at least 2 draws, "
                       f"got shape {draws.shape}")
    cov = n / (n + shrink) * np.cov(draws, rowvar=False) + floor * shrink / (n + shrink) * np.eye(draws.shape[1])
    return _layout(w, cov.shape[0], dense_mass, np.diag(cov).copy(), lambda idx: cov[np.ix_(idx, idx)])


def _layout(w: dict, d: int, dense_mass, diagonal: np.ndarray, block):
    """An inverse mass matrix laid out as numpyro reads it for ``dense_mass``: the whole
    ``block(all indices)`` for True, ``diagonal`` for False, else a dict from each block
    of site names (and the tuple of the remaining sites, diagonal) to its matrix, the
    indices of a block being its sites' positions in ``ravel_pytree(w)``."""
    if dense_mass is True:
        return jnp.asarray(block(np.arange(d)))
    if dense_mass is False:
        return jnp.asarray(diagonal)
    flat, unravel = ravel_pytree(w)
    if flat.shape[0] != d:
        raise FitError(f"inverse_mass: {flat.shape[0]} coordinates in the start against a "
                       f"{d}-square matrix")
    # each site's positions in the raveled vector, from ravel_pytree itself
    index = {k: np.asarray(v, dtype=int).ravel() for k, v in unravel(jnp.arange(flat.shape[0], dtype=flat.dtype)).items()}
    out = {}
    for names in dense_mass:
        idx = np.concatenate([index[n] for n in names])
        out[tuple(names)] = jnp.asarray(block(idx))
    rest = tuple(sorted(set(w) - {n for b in dense_mass for n in b}))
    if rest:
        idx = np.concatenate([index[n] for n in rest])
        out[rest] = jnp.asarray(diagonal[idx])
    return out

"""MAP: the joint posterior mode, a quick look and the NUTS starting point.

The mode is that of the joint posterior density of everything the sampler moves, in
the sampler's (unconstrained, non-centred) coordinates: log typical values, covariate
coefficients, log omegas, the unconstrained IIV correlations, the standard-normal
deviates z (eta = diag(omega) L z), log residual SDs; Jacobians included. It is found
with L-BFGS-B (scipy) on the compiled gradient.

What the mode is good for: typical values, covariate coefficients and residual SDs,
which are usually close to the posterior medians when the data are informative, and a
starting point for NUTS. What it is not: an estimate of the omegas. No joint mode is:
in the centred coordinates (etas) the joint density is unbounded as omega -> 0 with all
etas -> 0, and in these non-centred coordinates the density of z favours large omegas
and small z, so the omegas at this mode are pulled up towards the scale of their prior
(while the etas eta = omega z stay sensible). The MAP table therefore also reports
``eta_sd``, the SD over subjects of the etas at the mode (a shrunken, low estimate of
omega). Read omegas from NUTS (or Laplace).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax.flatten_util import ravel_pytree

from popkin.errors import FitError
from popkin.infer.density import initial_values, potential, with_derived
from popkin.infer.problem import FitData, Problem
from popkin.model import PopulationModel


@dataclass(frozen=True)
class MAPOptions:
    """Options of the MAP optimisation.

    max_iterations: L-BFGS-B iterations at most; tolerance: relative change of the
    objective at which it stops (scipy's ``ftol``); seed: the seed of the posterior
    predictive draws and of anything random downstream.
    """

    max_iterations: int = 3000
    tolerance: float = 1e-12
    seed: int = 0


@dataclass(frozen=True)
class Mode:
    """The result of ``find_mode``.

    unconstrained: sampled site -> value in the unconstrained space; values: site ->
    constrained value (eta, corr_iiv and individual included); log_density: the joint
    log density at the mode (unconstrained coordinates); converged, iterations,
    message: from the optimiser.
    """

    unconstrained: dict
    values: dict
    log_density: float
    converged: bool
    iterations: int
    message: str


@partial(jax.jit, static_argnums=0)
def _objective(model: PopulationModel, u: dict, data: FitData):
    return jax.value_and_grad(lambda v: potential(model, v, data))(u)


def find_mode(problem: Problem, options: MAPOptions = MAPOptions()) -> Mode:
    """The joint posterior mode of ``problem`` (see the module docstring)."""
    model, data = problem.model, problem.data
    space = problem.space
    flat0, unravel = ravel_pytree(space.unconstrain(initial_values(model, data)))
    flat0 = np.asarray(flat0, dtype=np.float64)

    def objective(x):
        value, grad = _objective(model, unravel(jnp.asarray(x)), data)
        value = float(value)
        g = np.asarray(ravel_pytree(grad)[0], dtype=np.float64)
        if not np.isfinite(value) or not np.all(np.isfinite(g)):
            return 1e300, np.zeros_like(x)
        return value, g

    if objective(flat0)[0] >= 1e300:
        raise FitError("the log-density is not finite at the initial values: check the initial values "
                       "(typical values, residual SDs) and that the model predicts positive values where "
                       "the error model needs them (exponential error, proportional error with DV > 0 "
                       "before the first dose)")
    res = scipy.optimize.minimize(objective, flat0, jac=True, method="L-BFGS-B",
                                  options=dict(maxiter=options.max_iterations, ftol=options.tolerance,
                                               gtol=1e-7, maxcor=30))
    u = unravel(jnp.asarray(res.x))
    values = {k: np.asarray(v) for k, v in with_derived(model, data, space.constrain(u)).items()}
    if not res.success:
        warnings.warn(f"MAP optimisation stopped before convergence ({res.message}); the mode is approximate",
                      stacklevel=3)
    return Mode(u, values, -float(res.fun), bool(res.success), int(res.nit), str(res.message))


def sampler_start(problem: Problem, mode: Mode | None, omega_floor: float = 0.1) -> dict:
    """Unconstrained starting point for NUTS: the mode, with the deviates z rescaled so
    that the etas stay those of the mode, and each omega moved into a plausible range:

    - lowered to the root mean square of the mode's etas of that parameter when it is
      above it. The joint mode in the model's non-centred coordinates has no -N log omega
      term, so its omegas drift up to where their prior stops them while the deviates
      shrink (LXI-15029, true omegas 0.3: omegas 1.3-1.8 at the mode, with etas of SD
      0.17-0.30); chains started there begin far out in the tails, where an ODE solver can
      run out of steps.
    - raised to at least ``omega_floor`` (a collapsed omega would start the sampler in the
      neck of the funnel)."""
    space = problem.space
    if mode is None:
        return space.unconstrain(initial_values(problem.model, problem.data))
    v = {k: jnp.asarray(mode.values[k]) for k in space.transforms}
    model = problem.model
    if model.eta_names:
        old = v["omega"]
        rms = jnp.sqrt(jnp.mean(jnp.square(jnp.asarray(mode.values["eta"])), axis=0))
        new = jnp.maximum(jnp.minimum(old, rms), omega_floor)
        v["omega"] = new
        v["z_iiv"] = v["z_iiv"] * (old / new)  # keeps eta = diag(omega) L z (exactly for diagonal blocks)
    if model.iov is not None:
        old = v["omega_iov"]
        new = jnp.maximum(old, omega_floor)
        v["omega_iov"], v["z_iov"] = new, v["z_iov"] * (old / new)
    return space.unconstrain(v)


def jittered(u: dict, chains: int, scale: float, key) -> dict:
    """Per-chain unconstrained starting points: ``u`` plus N(0, scale^2) noise."""
    out = {}
    for name, value in u.items():
        key, sub = jax.random.split(key)
        value = jnp.asarray(value)
        out[name] = value[None] + scale * jax.random.normal(sub, (chains,) + value.shape)
    return out

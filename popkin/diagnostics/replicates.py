"""Simulated replicates of the data set: the same design, new individuals.

Replicate r draws population values ``draws[r mod S]`` (posterior draws for NUTS, the
estimate for MAP/Laplace), new deviates z ~ N(0, I) for every subject (new IIV and IOV),
and observations from the model's residual-error distribution (uncensored: a replicate
value below the LLOQ is kept as simulated). This is the posterior predictive
distribution of a new trial with the observed design, what VPCs and NPDE compare the
data with.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from popkin.diagnostics.estimates import Estimates
from popkin.infer.numpyro_model import derive, observation_distribution, predict_grid

BATCH = 50  # replicates per compiled evaluation (one compiled shape)


@partial(jax.jit, static_argnums=0)
def _batch(model, data, draws: dict, key):
    n = data.n_subjects

    def one(v, k):
        k_iiv, k_iov, k_eps = jax.random.split(k, 3)
        v = dict(v)
        if model.eta_names:
            v["z_iiv"] = jax.random.normal(k_iiv, (n, len(model.eta_names)))
        if model.iov is not None:
            v["z_iov"] = jax.random.normal(k_iov, (n, data.n_occasions, len(model.iov.parameters)))
        pred = predict_grid(model, data, derive(model, data, v).params)
        return observation_distribution(model, data, v, pred).sample(k_eps)

    return jax.vmap(one)(draws, jax.random.split(key, next(iter(draws.values())).shape[0]))


def simulate_replicates(estimates: Estimates, n: int, seed: int = 0) -> np.ndarray:
    """``n`` simulated replicates of every fitted observation, shape (n, n_observations),
    in the ``observation`` order of the fit (see the module docstring)."""
    problem = estimates.problem
    s = estimates.n_draws
    key = jax.random.PRNGKey(seed)
    flat = problem.flat_index
    out = []
    for start in range(0, n, BATCH):
        idx = np.arange(start, start + BATCH) % s
        batch = {k: jnp.asarray(v[idx]) for k, v in estimates.draws.items()}
        key, sub = jax.random.split(key)
        y = np.asarray(_batch(problem.model, problem.data, batch, sub))
        out.append(y.reshape(BATCH, -1)[:, flat][: min(BATCH, n - start)])
    return np.concatenate(out, axis=0)

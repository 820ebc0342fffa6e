"""Per-draw, per-observation quantities: log-likelihood (for LOO), posterior predictive
draws, individual predictions (IPRED) and population predictions (PRED, eta = kappa = 0).

The structural model runs in ONE compiled function, ``_batch_predictions`` (a fixed
batch of draws, vmapped), reused for every batch and for IPRED and PRED alike; the
residual-error part (log-likelihood, predictive draws) needs no structural model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from popkin.infer.numpyro_model import derive, observation_distribution, predict_grid
from popkin.infer.problem import FitData, Problem

BATCH = 50  # draws per compiled evaluation


@dataclass(frozen=True)
class Pointwise:
    """``log_lik``, ``y_rep`` (posterior predictive) and ``ipred``: (draws, n_observations);
    ``pred``: (BATCH, n_observations), typical predictions at draws spread over the posterior."""

    log_lik: np.ndarray
    y_rep: np.ndarray
    ipred: np.ndarray
    pred: np.ndarray


@partial(jax.jit, static_argnums=(0,))
def _batch_predictions(model, draws: dict, data: FitData, population):
    """Predictions (B, N, E) for a batch of draws; ``population`` (B,) bool zeroes eta/kappa."""
    def one(v, pop):
        full = derive(model, data, v)
        typical = derive(model, data, v, population=True)
        params = jax.tree_util.tree_map(lambda a, b: jnp.where(pop, b, a), full.params, typical.params)
        return predict_grid(model, data, params)
    return jax.vmap(one)(draws, population)


@partial(jax.jit, static_argnums=(0,))
def _residual_part(model, draws: dict, data: FitData, pred, flat, key):
    def one(v, f, k):
        d = observation_distribution(model, data, v, f)
        return d.log_prob(data.events.dv).ravel()[flat], d.sample(k).ravel()[flat]
    keys = jax.random.split(key, pred.shape[0])
    return jax.vmap(one)(draws, pred, keys)


def pointwise(problem: Problem, samples: dict, seed: int = 0) -> Pointwise:
    """Evaluate every draw of ``samples`` (site -> (S, ...); the sampled sites at least).

    PRED is computed for ``BATCH`` draws spread evenly over the posterior (the typical
    prediction varies little between draws and is only ever summarised by its median).
    """
    draws = {k: np.asarray(samples[k]) for k in problem.space.transforms}
    s = next(iter(draws.values())).shape[0]
    flat = jnp.asarray(problem.flat_index)
    model, data = problem.model, problem.data
    key = jax.random.PRNGKey(seed)
    ll, y, ipred = [], [], []
    for start in range(0, s, BATCH):
        idx = np.arange(start, start + BATCH) % s            # pad the last batch: one compiled shape
        keep = min(BATCH, s - start)
        batch = {k: jnp.asarray(v[idx]) for k, v in draws.items()}
        f = _batch_predictions(model, batch, data, jnp.zeros(BATCH, bool))
        key, sub = jax.random.split(key)
        lb, yb = _residual_part(model, batch, data, f, flat, sub)
        ll.append(np.asarray(lb)[:keep])
        y.append(np.asarray(yb)[:keep])
        ipred.append(np.asarray(f).reshape(BATCH, -1)[:keep][:, problem.flat_index])
    spread = np.linspace(0, s - 1, BATCH).round().astype(int)
    typical = _batch_predictions(model, {k: jnp.asarray(v[spread]) for k, v in draws.items()}, data,
                                 jnp.ones(BATCH, bool))
    pred = np.asarray(typical).reshape(BATCH, -1)[:, problem.flat_index]
    return Pointwise(np.concatenate(ll), np.concatenate(y), np.concatenate(ipred), pred)

"""Predictions at one set of parameter values: IPRED, PRED and the log-likelihood grid.

Used by the Laplace fit (its one-draw pointwise values) and by ``popkin.diagnostics``
(predictions at the estimates). One compiled function: the structural model runs once,
vmapped over the two parameter sets (individual, typical).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from popkin.infer.numpyro_model import derive, observation_distribution, predict_grid
from popkin.infer.problem import FitData, Problem


@partial(jax.jit, static_argnums=0)
def grids(model, data: FitData, values: dict):
    """(IPRED, PRED, log-likelihood), each (N, E), at the sampled-site ``values``.

    IPRED: predictions with each subject's etas (and kappas); PRED: eta = kappa = 0
    (typical subject with its covariates); log-likelihood: per record, 0 where no
    observation is fitted."""
    both = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), derive(model, data, values).params,
                                  derive(model, data, values, population=True).params)
    ipred, pred = jax.vmap(lambda p: predict_grid(model, data, p))(both)
    return ipred, pred, observation_distribution(model, data, values, ipred).log_prob(data.events.dv)


def point_predictions(problem: Problem, values: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(IPRED, PRED, log-likelihood) per fitted observation (the ``observation`` order of
    the InferenceData), at constrained sampled-site ``values``."""
    out = grids(problem.model, problem.data, {k: jnp.asarray(v) for k, v in values.items()})
    return tuple(np.asarray(a).ravel()[problem.flat_index] for a in out)

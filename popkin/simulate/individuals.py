"""Virtual patients: random effects, covariates and individual parameters of a chunk.

Patient ``i`` (a global index, 0-based) draws everything random from its own key
``fold_in(key, i)``: the standard normal ``z_i`` of its random effects, the row of the
covariate table it uses and, when observations are simulated, its residual errors. A
patient therefore has the same parameters whatever chunk it is computed in, and
whatever the chunk size: results do not depend on how the work is split.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from popkin.infer.likelihood import Residual
from popkin.infer.numpyro_model import derive, residual_sds
from popkin.model import PopulationModel
from popkin.simulate.population import PopulationDraws

__all__ = ["patient_keys", "patient_draws", "random_effects", "individual", "individual_one", "residual_sds_one",
           "add_residual_error"]

# sub-streams of a patient's key
_ETA, _COV, _EPS = 0, 1, 2


def patient_keys(key, index):
    """One key per patient: ``fold_in(key, i)`` for every global index ``i`` in ``index``."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(index)


def patient_draws(index, per_draw: int, n_draws: int):
    """The population draw of each patient: ``i // per_draw`` (clipped for padding)."""
    return jnp.minimum(index // per_draw, n_draws - 1)


def random_effects(keys, draws: PopulationDraws, n_eta: int):
    """Standard normal deviates z [n, K] and the covariate row [n] of each patient."""
    dtype = draws.covariates.dtype
    z = jax.vmap(lambda kk: jax.random.normal(jax.random.fold_in(kk, _ETA), (n_eta,), dtype=dtype))(keys)
    rows = draws.covariates.shape[0]
    row = jax.vmap(lambda kk: jax.random.randint(jax.random.fold_in(kk, _COV), (), 0, rows))(keys)
    return z, row


@dataclass(frozen=True)
class _Covariates:
    """One patient's covariates, shaped like the part of ``EventArrays`` that ``derive``
    reads (subject axis of length 1; constant over records)."""

    values: jax.Array   # [C]
    names: tuple

    def baseline(self, name):
        return self.values[self.names.index(name)][None]

    def covariate(self, name):
        return self.baseline(name)


@dataclass(frozen=True)
class _One:
    """A one-subject stand-in for ``FitData`` as ``derive`` and ``residual_sds`` read it."""

    events: _Covariates
    output: jax.Array
    n_subjects: int = 1


def individual_one(model: PopulationModel, sites: dict, z, cov, cov_names: tuple) -> dict:
    """Structural parameters (name -> scalar) of ONE patient: population ``sites`` of
    its draw, deviates z [K], covariates cov [C] (no IOV: one occasion)."""
    v = dict(sites)
    if model.eta_names:
        v["z_iiv"] = z[None, :]
    one = _One(_Covariates(cov, cov_names), jnp.zeros((1, 1), jnp.int32))
    derived = derive(model, one, v)
    return {k: jnp.reshape(val, (-1,))[0] for k, val in derived.params.items()}


def individual(model: PopulationModel, draws: PopulationDraws, draw_idx, z, row) -> dict:
    """Structural parameters of each patient (name -> [n]): draw index [n], deviates
    z [n, K], covariate row [n]."""
    sites = draws.draw(draw_idx)
    cov = draws.covariates[row]
    return jax.vmap(lambda s, zz, c: individual_one(model, s, zz, c, draws.cov_names))(sites, z, cov)


def residual_sds_one(model: PopulationModel, sites: dict, output: int = 0):
    """(add, prop, log) residual SDs of one ``Output`` for one draw's ``sites``."""
    one = _One(_Covariates(jnp.zeros(0), ()), jnp.full((1, 1), output, jnp.int32))
    add, prop, log = residual_sds(model, one, sites)
    return add[0, 0], prop[0, 0], log[0, 0]


def add_residual_error(model: PopulationModel, draws: PopulationDraws, draw_idx, keys, pred, output: int = 0):
    """Observations Y [n, T] around predictions ``pred`` [n, T] with the model's residual
    error (the fit's own ``Residual`` distribution), from each patient's key."""

    def one(kk, s, f):
        add, prop, log = residual_sds_one(model, s, output)
        ones = jnp.ones(f.shape, bool)
        dist = Residual(f, add * jnp.ones(f.shape), prop * jnp.ones(f.shape), jnp.full(f.shape, log), ones,
                        ~ones, jnp.ones(f.shape))
        return dist.sample(jax.random.fold_in(kk, _EPS))

    return jax.vmap(one)(keys, draws.draw(draw_idx), pred)

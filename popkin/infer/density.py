"""The compiled log-density, the unconstrained space and the model's starting values.

* ``Space(model, n_subjects, n_occasions)``: the sampled sites, their shapes and the
  bijections to the unconstrained space NUTS and MAP move in (numpyro's ``biject_to`` of
  each site's support: log for positive quantities, the LKJ Cholesky transform, ...).
  Built by tracing ``sample_population`` only, never the structural model.
* ``negative_log_density(model, u, data)``: the potential energy (minus the log joint
  density, Jacobians included) at unconstrained ``u``. One ``jax.jit`` with the model
  static and the data traced: refitting the same model object to other data of the same
  shapes does not recompile.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.distributions import biject_to
from numpyro.infer.util import potential_energy

from popkin.infer.numpyro_model import derive, population_model, sample_population
from popkin.infer.problem import FitData
from popkin.model import PopulationModel


@dataclass(frozen=True)
class Space:
    """Sampled sites of a model: ``transforms`` (site -> numpyro bijection from the
    unconstrained space) and ``shapes`` (site -> constrained shape)."""

    transforms: dict
    shapes: dict

    @classmethod
    def of(cls, model: PopulationModel, data: FitData) -> "Space":
        found = {}

        def trace():  # abstract evaluation: records the sites without computing anything
            tr = handlers.trace(handlers.seed(sample_population, 0)).get_trace(
                model, data.n_subjects, data.n_occasions)
            found.update({k: (s["fn"].support, tuple(np.shape(s["value"])))
                          for k, s in tr.items() if s["type"] == "sample"})
            return 0.0

        jax.eval_shape(trace)
        return cls({k: biject_to(sup) for k, (sup, _) in found.items()},
                   {k: shape for k, (_, shape) in found.items()})

    def unconstrain(self, values: dict) -> dict:
        """Constrained values of the sampled sites -> unconstrained."""
        return {k: t.inv(jnp.asarray(values[k])) for k, t in self.transforms.items()}

    def constrain(self, u: dict) -> dict:
        """Unconstrained values -> constrained values of the sampled sites."""
        return {k: t(u[k]) for k, t in self.transforms.items()}


def with_derived(model: PopulationModel, data: FitData, values: dict) -> dict:
    """``values`` plus the deterministic sites eta, corr_iiv, individual (no engine call)."""
    d = derive(model, data, values)
    out = dict(values)
    if model.eta_names:
        out["eta"] = d.eta
    if d.corr is not None:
        out["corr_iiv"] = d.corr
    out["individual"] = d.individual
    return out


def initial_values(model: PopulationModel, data: FitData) -> dict:
    """Constrained starting values: the model's initial values, etas and kappas at 0."""
    n = data.n_subjects
    values = {name: jnp.asarray(float(model.parameters[name].initial)) for name in model.thetas}
    values.update({site: jnp.asarray(float(est.initial)) for site, est in model.coefficients().items()})
    if model.eta_names:
        values["omega"] = jnp.asarray(np.concatenate([[b.initial] * len(b.parameters) for b in model.iiv]))
        values["z_iiv"] = jnp.zeros((n, len(model.eta_names)))
        for k, block in enumerate(model.iiv, start=1):
            if block.correlated and len(block.parameters) > 1:
                values[f"L_iiv{k}"] = jnp.eye(len(block.parameters))
    if model.iov is not None:
        q = len(model.iov.parameters)
        values["omega_iov"] = jnp.full((q,), float(model.iov.initial))
        values["z_iov"] = jnp.zeros((n, data.n_occasions, q))
    values.update({site: jnp.asarray(float(v)) for site, v in model.sigma_sites().items()})
    return values


def potential(model: PopulationModel, u: dict, data: FitData):
    """Potential energy at unconstrained ``u`` (traceable; not jitted)."""
    return potential_energy(partial(population_model, model), (data, data.events.dv), {}, u)


@partial(jax.jit, static_argnums=0)
def negative_log_density(model: PopulationModel, u: dict, data: FitData):
    """Potential energy at unconstrained ``u`` (scalar), compiled."""
    return potential(model, u, data)

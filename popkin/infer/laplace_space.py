"""The population parameters of a Laplace fit and their estimation scale.

The outer optimisation moves in numpyro's unconstrained space (``problem.space``,
``popkin.infer.density.Space``) restricted to the population sites, i.e. every sampled
site except the deviates ``z_iiv`` and ``z_iov``: typical values and residual SDs on the
log scale (logit for ``domain="fraction"``), IIV/IOV SDs omega on the log scale, each
correlated IIV block as the unconstrained vector of numpyro's ``CorrCholeskyTransform``,
covariate coefficients on their own scale (log for categorical factors). Priors play no
part in a Laplace fit; only the supports are used, to choose the transforms.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from numpyro.distributions import transforms

from popkin.infer.density import Space, initial_values
from popkin.infer.problem import FitData

RANDOM_EFFECT_SITES = ("z_iiv", "z_iov")


@dataclass(frozen=True)
class Site:
    """One population site: ``name``, constrained ``shape``, its ``transform``
    (unconstrained -> constrained) and the ``size`` of its unconstrained vector."""

    name: str
    shape: tuple
    transform: transforms.Transform
    size: int

    @property
    def element_transform(self) -> transforms.Transform:
        """The transform of one element (vector sites such as omega wrap it)."""
        t = self.transform
        while isinstance(t, transforms.IndependentTransform):
            t = t.base_transform
        return t

    @property
    def scale(self) -> str:
        """The estimation scale in words: log, logit, identity, corr-cholesky."""
        t = self.element_transform
        for kind, name in ((transforms.ExpTransform, "log"), (transforms.SigmoidTransform, "logit"),
                           (transforms.IdentityTransform, "identity"),
                           (transforms.CorrCholeskyTransform, "corr-cholesky")):
            if isinstance(t, kind):
                return name
        return type(t).__name__

    @property
    def elementwise(self) -> bool:
        """True when each unconstrained element maps to one constrained element."""
        return self.scale in ("log", "logit", "identity")


class PopulationSpace:
    """The population sites of a model in sampling order and the flat unconstrained
    vector P that the outer optimiser moves in. Cheap to build (it traces the sampling
    statements only, not the structural model), also inside ``jit``."""

    def __init__(self, model, data: FitData):
        space = Space.of(model, data)
        sites = []
        for name, t in space.transforms.items():
            if name in RANDOM_EFFECT_SITES:
                continue
            shape = tuple(space.shapes[name])
            size = int(np.prod(t.inverse_shape(shape))) if shape else 1
            sites.append(Site(name, shape, t, size))
        self.sites = tuple(sites)
        self.model = model
        self._start = initial_values(model, data)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.sites)

    def constrain(self, u) -> dict:
        """Flat unconstrained vector -> dict of constrained population sites."""
        out, k = {}, 0
        for s in self.sites:
            piece = u[k:k + s.size]
            k += s.size
            out[s.name] = s.transform(piece.reshape(s.transform.inverse_shape(s.shape) if s.shape else ()))
        return out

    def unconstrain(self, values: dict) -> jnp.ndarray:
        """Dict of constrained population sites -> flat unconstrained vector."""
        parts = [jnp.ravel(s.transform.inv(jnp.asarray(values[s.name], dtype=float))) for s in self.sites]
        return jnp.concatenate(parts) if parts else jnp.zeros((0,))

    def start(self) -> jnp.ndarray:
        """The model's initial values as a flat unconstrained vector."""
        return self.unconstrain(self._start)

    def offsets(self) -> dict[str, int]:
        """Site -> index of its first element in P."""
        out, k = {}, 0
        for s in self.sites:
            out[s.name] = k
            k += s.size
        return out

    def names(self) -> list[str]:
        """A label per element of P, e.g. ``log CL``, ``log omega_KA``,
        ``corr-cholesky L_iiv1[0]``, ``log sigma_add``."""
        model = self.model
        labels = []
        for s in self.sites:
            if s.name == "omega":
                elems = [f"omega_{p}" for p in model.eta_names]
            elif s.name == "omega_iov":
                elems = [f"omega_iov_{p}" for p in model.iov.parameters]
            elif s.size == 1 and not s.shape:
                elems = [s.name]
            else:
                elems = [f"{s.name}[{i}]" for i in range(s.size)]
            labels += [f"{s.scale} {e}" for e in elems]
        return labels

"""The residual-error distribution of the observation records, BLQ as censoring (M3).

``Residual`` is a numpyro distribution over the whole (subjects, records) grid:

* observed records (``observed``): Normal(F, sd) with ``sd = sqrt(add^2 + (prop*F)^2)``
  (additive, proportional and combined errors are special cases), or, for log-scale
  records (``log``), log Y ~ Normal(log F, add) with the Jacobian ``-log Y`` included
  so every model's log-likelihood is a density of Y itself (comparable by LOO);
* censored records (``censored``, BLQ, Beal's M3): log P(Y < LLOQ) = log Phi((LLOQ - F)/sd)
  (on the log scale for log-scale records);
* every other record (doses, padding, MDV = 1) contributes 0.

``log_prob`` returns the per-record log-likelihood (N, E), which is also what LOO needs;
``sample`` draws Y at every record (uncensored: a posterior predictive value below the
LLOQ is what a VPC of the BLQ fraction compares with the data).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import log_ndtr
from numpyro.distributions import constraints

_TINY_VAR = 1e-30   # keeps sd > 0 where a proportional error meets F = 0 (e.g. pre-dose samples)
_LOG_2PI = 1.8378770664093453


class Residual(dist.Distribution):
    """Observation model over the (N, E) record grid (see the module docstring).

    pred: model prediction F (N, E); add, prop: residual SDs per record (N, E) (for log
    records ``add`` is the SD on the log scale and ``prop`` is ignored); log: bool (N, E);
    observed, censored: bool (N, E); limit: LLOQ per record (N, E).
    """

    support = constraints.real
    arg_constraints = {}
    pytree_data_fields = ("pred", "add", "prop", "log", "observed", "censored", "limit")
    pytree_aux_fields = ("censoring",)

    def __init__(self, pred, add, prop, log, observed, censored, limit, *, censoring=True,
                 validate_args=None):
        self.pred, self.add, self.prop, self.log = pred, add, prop, log
        self.observed, self.censored, self.limit = observed, censored, limit
        self.censoring = censoring  # static: False when no record is censored (no M3 term)
        super().__init__(batch_shape=jnp.shape(pred), event_shape=(), validate_args=validate_args)

    def _loc_scale(self):
        f = self.pred
        safe_f = jnp.where(f > 0, f, 1.0)
        loc = jnp.where(self.log, jnp.log(safe_f), f)
        sd = jnp.where(self.log, self.add, jnp.sqrt(self.add ** 2 + (self.prop * f) ** 2 + _TINY_VAR))
        return loc, sd

    def log_prob(self, value):
        loc, sd = self._loc_scale()
        fine = self.observed | self.censored
        # a censored record's value (DV) is not used, and is often missing (NaN): keep it
        # out of the density branch, whose NaN would otherwise reach the gradient through
        # jnp.where (0 * NaN = NaN)
        y = jnp.where(self.observed, value, 1.0)
        y_pos = jnp.where(y > 0, y, 1.0)
        ty = jnp.where(self.log, jnp.log(y_pos), y)
        z = (ty - loc) / sd
        dens = -0.5 * z ** 2 - jnp.log(sd) - 0.5 * _LOG_2PI - jnp.where(self.log, ty, 0.0)
        if not self.censoring:
            dens = jnp.where(self.log & ~(self.pred > 0), -jnp.inf, dens)
            return jnp.where(self.observed, dens, 0.0)
        lim = jnp.where(self.log, jnp.log(jnp.where(self.limit > 0, self.limit, 1.0)), self.limit)
        cens = log_ndtr((lim - loc) / sd)
        # log-scale records predicted at F <= 0: a BLQ one is certain (log P = 0), an
        # observed one impossible (-inf, which the sampler rejects)
        nonpositive = self.log & ~(self.pred > 0)
        cens = jnp.where(nonpositive, 0.0, cens)
        dens = jnp.where(nonpositive, -jnp.inf, dens)
        lp = jnp.where(self.censored, cens, dens)
        return jnp.where(fine, lp, 0.0)

    def sample(self, key, sample_shape=()):
        loc, sd = self._loc_scale()
        eps = jax.random.normal(key, sample_shape + self.batch_shape)
        draw = loc + sd * eps
        return jnp.where(self.log, jnp.exp(draw), draw)

    @property
    def mean(self):
        return self.pred

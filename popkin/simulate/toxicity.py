"""Exposure-toxicity: a Bayesian logistic model of an adverse event against exposure,
fitted to event counts per dose group, with exposures from the PK model.

Phase I trials publish counts per dose group (LXI-15029 Table 2: patients with ALT
increase, leukocytopenia, DLT per mg BID group), not per-patient exposures. The model
therefore uses, for each group g, the exposure distribution that the PK model predicts
for that group's regimen (M virtual patients, e.g. AUCtau,ss), and averages the
patient-level probability over it:

    x = log(exposure / reference)
    p_g = mean over the group's virtual patients j of  expit(a + b x_gj)
    y_g ~ Binomial(n_g, p_g)

    a ~ Normal(intercept_mean, intercept_sd)   log-odds at the reference exposure
    b ~ Normal(slope_mean, slope_sd)           per unit of log exposure (x e ~ 2.7)

``reference`` defaults to the geometric mean of the groups' median exposures, so ``a``
and ``b`` are nearly uncorrelated. Defaults (``LogisticPriors``): a ~ Normal(0, 2), weak
on the probability scale (95% of its mass between 2% and 98%); b ~ Normal(0, 1.5): a
doubling of exposure multiplies the odds by at most about e^(2 x 1.5 x 0.69) ~ 8 with
95% prior probability, and the sign is left to the data. Fitted with NUTS (numpyro).

The risk of a candidate regimen is the same average over ITS simulated patients, for
every posterior draw (a, b): a posterior distribution of the probability that a patient
on that regimen has the event. With a PK posterior, the virtual patients mix all PK
draws (PK uncertainty widens the exposure distribution, not the interval).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import MCMC, NUTS

from popkin.errors import FitError
from popkin.simulate.run import Simulation
from popkin.simulate.summary import across_draws

__all__ = ["EventCounts", "LogisticPriors", "ToxicityOptions", "ToxicityFit", "fit_toxicity",
           "event_counts", "group_exposures", "risk"]


@dataclass(frozen=True)
class EventCounts:
    """Patients with an event per dose group: ``groups`` (labels, e.g. "110 mg BID", the
    arm labels of the exposure simulation), ``n`` (patients) and ``events`` (patients
    with at least one event) per group; ``endpoint``: the event's name."""

    endpoint: str
    groups: tuple[str, ...]
    n: tuple[int, ...]
    events: tuple[int, ...]

    def __post_init__(self):
        if not (len(self.groups) == len(self.n) == len(self.events)) or not self.groups:
            raise ValueError("EventCounts: groups, n and events need one entry per group")
        if any(not 0 <= e <= n for e, n in zip(self.events, self.n)):
            raise ValueError(f"EventCounts({self.endpoint}): events must lie between 0 and n per group")

    @property
    def rates(self) -> np.ndarray:
        return np.asarray(self.events, float) / np.asarray(self.n, float)


def event_counts(table: pd.DataFrame, endpoint: str, group_label=lambda dose: f"{dose} mg BID") -> EventCounts:
    """Counts of ``endpoint`` from a published table laid out as LXI-15029 Table 2: a
    column ``event`` (rows ``N`` and the event names) and one column per dose group
    (columns named by the dose, e.g. "10", "20"; a ``total`` column is ignored).
    ``group_label`` turns a dose column into the arm label of the exposure simulation."""
    frame = table.set_index("event")
    if endpoint not in frame.index or "N" not in frame.index:
        raise KeyError(f"the table has no row {endpoint!r} (or no row N); rows: {list(frame.index)}")
    doses = [c for c in frame.columns if c.strip().lower() != "total"]
    return EventCounts(endpoint, tuple(group_label(d) for d in doses),
                       tuple(int(frame.loc["N", d]) for d in doses),
                       tuple(int(frame.loc[endpoint, d]) for d in doses))


@dataclass(frozen=True)
class LogisticPriors:
    """Normal priors of the intercept (log-odds at the reference exposure) and of the
    slope (per unit log exposure); see the module docstring."""

    intercept_mean: float = 0.0
    intercept_sd: float = 2.0
    slope_mean: float = 0.0
    slope_sd: float = 1.5


@dataclass(frozen=True)
class ToxicityOptions:
    """NUTS settings and data reduction.

    chains, warmup, samples: NUTS chains (vectorised: one compilation) and draws per chain.
    seed: random seed. patients: at most this many virtual patients per group enter the
    likelihood (evenly spaced over the simulation; enough for the group average to be
    stable to ~1e-3, and cheap). interval: posterior interval reported (0.9: 5-95%).
    """

    chains: int = 2
    warmup: int = 500
    samples: int = 1000
    seed: int = 0
    patients: int = 400
    interval: float = 0.9


def _model(x, n, y, prior):
    """prior: [intercept mean, intercept SD, slope mean, slope SD] (an array, so that one
    compiled sampler serves every endpoint and prior)."""
    a = numpyro.sample("intercept", dist.Normal(prior[0], prior[1]))
    b = numpyro.sample("slope", dist.Normal(prior[2], prior[3]))
    p = jnp.mean(jax.nn.sigmoid(a + b * x), axis=-1)
    p = jnp.clip(p, 1e-12, 1 - 1e-12)
    numpyro.sample("events", dist.Binomial(n, probs=p), obs=y)


def _subsample(values: np.ndarray, m: int) -> np.ndarray:
    values = np.asarray(values, dtype=float).reshape(-1)
    if values.size <= m:
        return values
    return values[np.linspace(0, values.size - 1, m).round().astype(int)]


def group_exposures(sim: Simulation, groups: Sequence[str], metric: str, patients: int) -> np.ndarray:
    """[G, M] exposures (``metric``) of the groups' arms, M evenly spaced patients each."""
    missing = [g for g in groups if g not in sim.metrics]
    if missing:
        raise KeyError(f"no simulated arm for group(s) {missing}; arms are {sim.labels}")
    out = np.stack([_subsample(sim.metrics[g][metric], patients) for g in groups])
    if not np.all(out > 0):
        raise FitError(f"exposure {metric} must be > 0 for the log scale; found {out[~(out > 0)][:3]}")
    return out


@dataclass(frozen=True)
class ToxicityFit:
    """A fitted exposure-toxicity model.

    counts: the data; metric: the exposure metric (e.g. ``auc``); reference: the
    exposure at which the intercept applies; samples: posterior draws
    {"intercept": [S], "slope": [S]}; exposures: the groups' virtual exposures [G, M];
    diagnostics: R-hat and bulk ESS per parameter; options, priors: as fitted.
    """

    counts: EventCounts
    metric: str
    reference: float
    samples: dict
    exposures: np.ndarray
    diagnostics: pd.DataFrame
    options: ToxicityOptions
    priors: LogisticPriors = field(default_factory=LogisticPriors)

    def probability(self, exposures: np.ndarray) -> np.ndarray:
        """Posterior draws [S] of P(event) for a patient population with these
        exposures (any shape; averaged over them)."""
        x = np.log(_subsample(exposures, 4000) / self.reference)
        a, b = self.samples["intercept"], self.samples["slope"]
        return np.asarray(jax.nn.sigmoid(a[:, None] + b[:, None] * x[None, :]).mean(axis=1))

    def curve(self, exposures: np.ndarray, interval: float | None = None) -> pd.DataFrame:
        """P(event) at single exposure values (a patient with exactly that exposure):
        columns exposure, probability (posterior median), lower, upper."""
        interval = self.options.interval if interval is None else interval
        x = np.log(np.asarray(exposures, float) / self.reference)
        p = np.asarray(jax.nn.sigmoid(self.samples["intercept"][:, None] + self.samples["slope"][:, None] * x))
        tail = (1 - interval) / 2 * 100
        lo, mid, hi = np.percentile(p, [tail, 50, 100 - tail], axis=0)
        return pd.DataFrame(dict(exposure=np.asarray(exposures, float), probability=mid, lower=lo, upper=hi))

    def predictive_check(self, interval: float | None = None, seed: int = 1) -> pd.DataFrame:
        """Posterior predictive check per dose group: observed events, the median and the
        equal-tailed ``interval`` of replicated event counts, and whether the observed
        count lies inside (``covered``)."""
        interval = self.options.interval if interval is None else interval
        a, b = self.samples["intercept"], self.samples["slope"]
        x = np.log(self.exposures / self.reference)
        p = np.asarray(jax.nn.sigmoid(a[:, None, None] + b[:, None, None] * x[None]).mean(axis=2))   # [S, G]
        rng = np.random.default_rng(seed)
        rep = rng.binomial(np.asarray(self.counts.n)[None, :], p)
        tail = (1 - interval) / 2 * 100
        lo, mid, hi = np.percentile(rep, [tail, 50, 100 - tail], axis=0)
        obs = np.asarray(self.counts.events)
        return pd.DataFrame(dict(group=self.counts.groups, n=self.counts.n, observed=obs,
                                 observed_rate=self.counts.rates, predicted_rate=np.median(p, axis=0),
                                 median=mid, lower=lo, upper=hi, covered=(obs >= lo) & (obs <= hi)))


@functools.lru_cache(maxsize=8)
def _sampler(chains: int, warmup: int, samples: int, shape: tuple) -> MCMC:
    """One numpyro ``MCMC`` per setting and data shape (groups x patients), with the data
    as traced arguments (``jit_model_args``): the endpoints of a dose selection (same
    groups and patients) reuse its compiled sampler instead of compiling one each."""
    return MCMC(NUTS(_model, target_accept_prob=0.9), num_warmup=warmup, num_samples=samples, num_chains=chains,
                chain_method="vectorized", progress_bar=False, jit_model_args=True)


def fit_toxicity(counts: EventCounts, sim: Simulation, metric: str = "auc",
                 options: ToxicityOptions = ToxicityOptions(), priors: LogisticPriors = LogisticPriors(),
                 reference: float | None = None) -> ToxicityFit:
    """Fit the exposure-toxicity model (module docstring) with NUTS.

    counts: ``EventCounts`` whose group labels are arms of ``sim``; sim: a simulation of
    the groups' regimens (e.g. ``SteadyState()`` of each dose BID); metric: the exposure
    (``auc``, ``cmax``, ``cav``, ``ctrough``); reference: exposure of the intercept.
    """
    x_raw = group_exposures(sim, counts.groups, metric, options.patients)
    if reference is None:
        reference = float(np.exp(np.mean(np.log(np.median(x_raw, axis=1)))))
    x = jnp.log(jnp.asarray(x_raw) / reference)
    n = jnp.asarray(counts.n, dtype=float)
    y = jnp.asarray(counts.events, dtype=float)
    prior = jnp.asarray([priors.intercept_mean, priors.intercept_sd, priors.slope_mean, priors.slope_sd])
    mcmc = _sampler(options.chains, options.warmup, options.samples, tuple(x.shape))
    mcmc.run(jax.random.PRNGKey(options.seed), x, n, y, prior)
    by_chain = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    diag = pd.DataFrame({k: dict(rhat=float(split_gelman_rubin(v)) if options.chains > 1 else np.nan,
                                 ess=float(effective_sample_size(v))) for k, v in by_chain.items()}).T
    samples = {k: v.reshape(-1) for k, v in by_chain.items()}
    return ToxicityFit(counts, metric, float(reference), samples, x_raw, diag, options, priors)


def risk(fits: Mapping[str, ToxicityFit] | Sequence[ToxicityFit], sim: Simulation,
         interval: float = 0.9) -> pd.DataFrame:
    """P(event) per arm of ``sim`` and endpoint: columns arm, endpoint, probability
    (posterior median), lower, upper (equal-tailed ``interval``)."""
    fits = list(fits.values()) if isinstance(fits, Mapping) else list(fits)
    rows = []
    for arm in sim.labels:
        for f in fits:
            draws = f.probability(sim.metrics[arm][f.metric])
            mid, lo, hi = across_draws(draws, interval)
            rows.append(dict(arm=arm, endpoint=f.counts.endpoint, probability=mid, lower=lo, upper=hi))
    return pd.DataFrame(rows)

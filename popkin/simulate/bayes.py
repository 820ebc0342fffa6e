"""A patient's individual posterior from a few measured levels (Bayesian forecasting).

Given the population (``FixedPopulation`` or ``PosteriorPopulation``), a patient's
dosing history and measured concentrations, the posterior of the patient's standard
normal deviates ``b`` (eta = diag(omega) L b) is

    p(b | y, P) ∝ p(y | b, P) N(b; 0, I)

with the residual-error likelihood of the fitting code (BLQ records as censored). Two
methods (``PosteriorOptions.method``):

``"laplace"`` (default, fast; the usual MAP Bayesian forecasting of TDM software):
    for every population draw P_d, the mode b_d (the empirical Bayes estimate, by Newton's
    method) and the Hessian H_d of -log p(b, y | P_d) there (central differences of exact
    gradients, so ODE models work too); the posterior is approximated by N(b_d, H_d^-1). With several population draws (a fit's posterior)
    the patient's posterior is the mixture over draws with weights proportional to the
    Laplace marginal likelihood p(y | P_d) of the patient's data, so that population
    draws that explain the levels better count more.
``"nuts"``: NUTS (numpyro) on b given the population's central values (posterior
    medians of the typical values, omegas and residual SDs, and the Cholesky factor of
    the posterior mean IIV correlation; the values themselves for a fixed population).
    Exact up to Monte Carlo error, slower; the check on the Laplace approximation. All
    patients of a history are sampled by one sampler (they are independent given the
    population), so several patients cost one compilation.

Samples of ``b`` become individual parameters with the model's own ``derive``.
Inter-occasion variability is not supported here (the forecast would need a new
occasion's kappa): models with IOV raise ``ModelError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from numpyro.diagnostics import split_gelman_rubin
from numpyro.infer import MCMC, NUTS

from popkin.errors import ModelError
from popkin.infer.numpyro_model import derive, observation_distribution, predict_grid
from popkin.infer.problem import Problem, bind
from popkin.simulate.individuals import individual_one
from popkin.simulate.population import ParameterSource

__all__ = ["PosteriorOptions", "IndividualPosterior", "individual_posterior"]


@dataclass(frozen=True)
class PosteriorOptions:
    """How the individual posterior is computed.

    method: "laplace" or "nuts" (module docstring).
    samples: posterior samples of each patient's parameters kept for forecasts.
    population_draws: at most this many population draws in the Laplace mixture
        (evenly thinned; a fixed population has one).
    warmup: NUTS warm-up iterations; seed: random seed.
    """

    method: str = "laplace"
    samples: int = 500
    population_draws: int = 50
    warmup: int = 500
    seed: int = 0

    def __post_init__(self):
        if self.method not in ("laplace", "nuts"):
            raise ValueError(f"PosteriorOptions: method must be 'laplace' or 'nuts', got {self.method!r}")
        if self.samples < 1 or self.population_draws < 1:
            raise ValueError("PosteriorOptions: samples and population_draws must be >= 1")


@dataclass(frozen=True)
class IndividualPosterior:
    """Posterior samples of every patient's individual parameters.

    ids: patient IDs (data order); parameters: name -> [N, S] samples (the structural
    parameters, e.g. CL, V, KA); draw: [N, S] the population draw behind each sample
    (for residual SDs in predictive intervals); sites: the population draws used
    (site -> [D, ...]); mode: [N, D, K] the conditional modes b_d (Laplace) or the
    posterior mean of b (NUTS, D = 1); weights: [N, D] mixture weights; converged: [N, D]
    (max |gradient| at the mode < 1e-6, or R-hat < 1.05 for NUTS); method; model.
    """

    ids: tuple
    parameters: dict
    draw: np.ndarray
    sites: dict
    mode: np.ndarray
    weights: np.ndarray
    converged: np.ndarray
    method: str
    model: object

    @property
    def n_patients(self) -> int:
        return len(self.ids)

    def patient(self, i: int) -> dict:
        """Samples name -> [S] of patient ``i`` (0-based position)."""
        return {k: v[i] for k, v in self.parameters.items()}

    def summary(self, interval: float = 0.9) -> pd.DataFrame:
        """One row per (patient, parameter): median and equal-tailed ``interval``."""
        tail = (1 - interval) / 2 * 100
        rows = []
        for i, pid in enumerate(self.ids):
            for name, v in self.parameters.items():
                lo, mid, hi = np.percentile(v[i], [tail, 50, 100 - tail])
                rows.append(dict(ID=pid, parameter=name, median=mid, lower=lo, upper=hi))
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------- Laplace

_NEWTON_ITER = 60       # Newton iterations at most
_GTOL = 1e-8            # stop when max |d phi / db| is below this
_FD_STEP = 1e-4         # step of the central-difference Hessian (b is on the unit scale)
_STEPS = jnp.asarray([1.0, 0.5, 0.25, 0.1, 0.03, 0.01, 1e-3, 1e-4, 1e-5])


def objective(model, sites: dict, b, data_one):
    """phi(b) = -log p(y | b, P) + |b|^2 / 2 for one patient (``data_one``: a one-subject
    ``FitData``), with the model's own ``derive`` and ``observation_distribution`` (the
    fit's likelihood: residual error at the individual prediction, BLQ as M3)."""
    v = dict(sites)
    if model.eta_names:
        v["z_iiv"] = b[None, :]
    d = derive(model, data_one, v)
    pred = predict_grid(model, data_one, d.params)
    loglik = jnp.sum(observation_distribution(model, data_one, v, pred).log_prob(data_one.events.dv))
    return -loglik + 0.5 * jnp.sum(b * b) + jnp.where(d.linear_ok, 0.0, jnp.inf)


def _mode(phi, b0):
    """Minimise phi by Newton's method; returns (b, phi(b), Hessian at b, max |gradient|).

    Each iteration has two phases that share ONE traced ``vmap(value_and_grad(phi))``
    call on a batch of points (so the event engine is compiled once, not once per use):
    phase A evaluates b and b +- h e_j, giving phi, the gradient and the central-
    difference Hessian (exact gradients: error O(h^2) ~ 1e-8 relative; works for every
    structural model, ODEs with reverse-mode adjoints included); phase B evaluates the
    line search b + s d over fixed fractions s and keeps the first point meeting
    Armijo's rule (the best one otherwise). Away from the mode the Hessian may be
    indefinite (a low level pulls the deviates far from 0): its eigenvalues are replaced
    by their absolute values, floored at 1e-3 (the "saddle-free" Newton direction,
    always downhill). Stops when max |gradient| < 1e-8, when no step improves phi, or
    after 60 iterations; the Hessian returned is that of the last phase A, at b.
    """
    k = b0.shape[0]
    n_pts = max(2 * k + 1, int(_STEPS.shape[0]))
    eye = jnp.eye(k, dtype=b0.dtype) * _FD_STEP
    evaluate = jax.vmap(jax.value_and_grad(phi))

    def points(b, d, phase):
        fd = jnp.concatenate([b[None], b + eye, b - eye])
        ls = b + _STEPS[:, None] * d
        pad = lambda x: jnp.concatenate([x, jnp.broadcast_to(b, (n_pts - x.shape[0], k))])  # noqa: E731
        return jnp.where(phase == 0, pad(fd), pad(ls))

    def body(state):
        b, f, g, h, d, phase, it, done = state
        vals, grads = evaluate(points(b, d, phase))
        # phase A: value, gradient, Hessian at b; then a direction
        g_a = grads[0]
        h_a = (grads[1:k + 1] - grads[k + 1:2 * k + 1]).T / (2 * _FD_STEP)
        h_a = 0.5 * (h_a + h_a.T)
        w, v = jnp.linalg.eigh(h_a)
        d_a = -(v @ ((v.T @ g_a) / jnp.maximum(jnp.abs(w), 1e-3)))
        conv = jnp.max(jnp.abs(g_a)) < _GTOL
        # phase B: line search along d
        trial = jnp.where(jnp.isfinite(vals[:_STEPS.shape[0]]), vals[:_STEPS.shape[0]], jnp.inf)
        armijo = trial <= f + 1e-4 * _STEPS * jnp.dot(g, d)
        j = jnp.where(jnp.any(armijo), jnp.argmax(armijo), jnp.argmin(trial))
        better = trial[j] < f
        in_a = phase == 0
        b_new = jnp.where(in_a | ~better, b, b + _STEPS[j] * d)
        f_new = jnp.where(in_a, vals[0], jnp.where(better, trial[j], f))
        g_new = jnp.where(in_a, g_a, g)
        h_new = jnp.where(in_a, h_a, h)
        d_new = jnp.where(in_a, d_a, d)
        done_new = jnp.where(in_a, conv, ~better)
        return b_new, f_new, g_new, h_new, d_new, 1 - phase, it + 1, done_new

    def cond(state):
        return (state[6] < 2 * _NEWTON_ITER) & ~state[7]

    zeros = jnp.zeros((k,), b0.dtype)
    init = (b0, jnp.asarray(jnp.inf, b0.dtype), zeros, jnp.eye(k, dtype=b0.dtype), zeros, 0, 0, False)
    b, f, g, h, _, _, _, _ = jax.lax.while_loop(cond, body, init)
    return b, f, h, jnp.max(jnp.abs(g))


def _laplace_one(model, sites, data_one, k: int):
    """(log p(y | P) by Laplace, mode b, Hessian H, max |gradient|) of one patient and draw:
    log p(y | P) ~= -phi(b) - log det(H) / 2 (the (2 pi)^(k/2) of N(0, I) cancels)."""
    b0 = jnp.zeros((k,), dtype=data_one.events.time.dtype)
    b, f, h, g_max = _mode(lambda v: objective(model, sites, v, data_one), b0)
    w = jnp.linalg.eigvalsh(h)
    logdet = jnp.sum(jnp.log(jnp.where(w > 0, w, jnp.nan)))
    return -f - 0.5 * logdet, b, h, g_max


@partial(jax.jit, static_argnums=(0, 1))
def _laplace_all(model, k: int, sites, sliced):
    """[N, D] Laplace results for every patient (sliced data) and population draw."""
    per_draw = jax.vmap(lambda s, d1: _laplace_one(model, s, d1, k), in_axes=(0, None))
    return jax.vmap(lambda d1: per_draw(sites, d1))(sliced)


def _slices(data):
    """The data with an extra axis of length 1 after the subject axis: ``vmap`` over
    axis 0 then hands every patient a one-subject ``FitData``."""
    return jax.tree_util.tree_map(lambda a: a[:, None], data)


def _sample_mixture(key, log_l, modes, hess, n: int):
    """n samples of b from the mixture over draws of N(b_d, H_d^-1), weights ∝ exp(log_l)."""
    k_draw, k_norm = jax.random.split(key)
    logw = jnp.where(jnp.isfinite(log_l), log_l, -jnp.inf)
    d = jax.random.categorical(k_draw, logw, shape=(n,))
    kdim = modes.shape[-1]
    eps = jax.random.normal(k_norm, (n, kdim), dtype=modes.dtype)
    w, v = jnp.linalg.eigh(hess)                                    # [D, K], [D, K, K]
    w = jnp.maximum(w, 1e-8)
    root = v / jnp.sqrt(w)[:, None, :]                              # H^-1 = root root^T
    b = modes[d] + jnp.einsum("nij,nj->ni", root[d], eps)
    return b, d, jax.nn.softmax(logw)


# --------------------------------------------------------------------------- NUTS

def _central_sites(model, sites: dict) -> dict:
    """Posterior medians of scalar/vector sites; the Cholesky factor of the mean
    correlation for L_iiv blocks (a mean of correlation matrices is one)."""
    out = {}
    for name, v in sites.items():
        v = np.asarray(v)
        if name.startswith("L_iiv"):
            corr = np.einsum("dij,dkj->dik", v, v).mean(axis=0)
            out[name] = np.linalg.cholesky(corr)[None]
        else:
            out[name] = np.median(v, axis=0)[None]
    return out


def _nuts(model, sites1: dict, sliced, n: int, k: int, options: PosteriorOptions):
    """NUTS on the deviates of ALL patients at once: given the population values the
    patients are independent, so the joint posterior is the product of theirs and one
    sampler (one compilation; diagonal mass matrix adapted per coordinate) serves all.
    Two chains, vectorised. Returns samples [N, S, K] and per-patient R-hat < 1.05."""
    def potential(z):
        return jnp.sum(jax.vmap(lambda b, d1: objective(model, sites1, b, d1))(z["b"], sliced))

    mcmc = MCMC(NUTS(potential_fn=potential, target_accept_prob=0.9), num_warmup=options.warmup,
                num_samples=options.samples, num_chains=2, chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(options.seed), init_params={"b": jnp.zeros((2, n, k))})
    by_chain = np.asarray(mcmc.get_samples(group_by_chain=True)["b"])             # [2, S, N, K]
    rhat = np.asarray(split_gelman_rubin(by_chain)) if k else np.ones((n, 0))   # [N, K]
    flat = by_chain.reshape(-1, n, k)
    pick = np.linspace(0, len(flat) - 1, options.samples).round().astype(int)
    return np.transpose(flat[pick], (1, 0, 2)), np.all(rhat < 1.05, axis=-1) if k else np.ones(n, bool)


# --------------------------------------------------------------------------- entry point

def _problem(model, history) -> Problem:
    if model.iov is not None:
        raise ModelError("PK-guided dosing does not support inter-occasion variability (IOV) yet: "
                         "refit without IOV or forecast with the IIV part only")
    return history if isinstance(history, Problem) else bind(model, history)


def _thin(sites: dict, m: int) -> dict:
    d = int(np.shape(next(iter(sites.values())))[0])
    if d <= m:
        return {k: np.asarray(v) for k, v in sites.items()}
    pick = np.linspace(0, d - 1, m).round().astype(int)
    return {k: np.asarray(v)[pick] for k, v in sites.items()}


def individual_posterior(source: ParameterSource, history, options: PosteriorOptions = PosteriorOptions()
                         ) -> IndividualPosterior:
    """Individual posteriors of the patients in ``history``.

    source: ``FixedPopulation`` or ``PosteriorPopulation``; history: a ``Dataset`` from
    ``popkin.data.read`` (one or more patients: dosing records and measured levels,
    NONMEM layout) or a ``Problem`` already bound to the model.
    """
    model = source.model
    problem = _problem(model, history)
    data = problem.data
    k = len(model.eta_names)
    sites = _thin(source.sites(), options.population_draws)
    n = data.n_subjects
    sliced = _slices(data)
    key = jax.random.PRNGKey(options.seed)
    cov = np.asarray(data.events.cov)[:, 0, :]
    names = tuple(data.events.cov_names)
    jsites = {s: jnp.asarray(v) for s, v in sites.items()}
    if options.method == "laplace":
        log_l, modes, hess, g_max = _laplace_all(model, k, jsites, sliced)
        keys = jax.random.split(key, n)
        b, d, w = jax.vmap(lambda kk, ll, mm, hh: _sample_mixture(kk, ll, mm, hh, options.samples))(
            keys, log_l, modes, hess)
        converged = np.asarray(g_max) < 1e-6
        modes, weights = np.asarray(modes), np.asarray(w)
    else:
        central = _central_sites(model, sites)
        jcentral = {s: jnp.asarray(v[0]) for s, v in central.items()}
        samples, ok = _nuts(model, jcentral, sliced, n, k, options)
        b = jnp.asarray(samples)
        d = jnp.zeros(b.shape[:2], dtype=jnp.int32)
        sites = central
        jsites = {s: jnp.asarray(v) for s, v in sites.items()}
        converged = np.asarray(ok)[:, None]
        modes, weights = np.asarray(b).mean(axis=1)[:, None, :], np.ones((n, 1))
    params = _parameters(model, jsites, b, d, jnp.asarray(cov), names)
    return IndividualPosterior(tuple(problem.ids), {k_: np.asarray(v) for k_, v in params.items()},
                               np.asarray(d), sites, modes, weights, converged, options.method, model)


@partial(jax.jit, static_argnums=(0, 5))
def _parameters_jit(model, sites, b, d, cov, names):
    def patient(bi, di, ci):
        return jax.vmap(lambda bs, ds: individual_one(model, {k: v[ds] for k, v in sites.items()}, bs, ci,
                                                      names))(bi, di)

    return jax.vmap(patient)(b, d, cov)


def _parameters(model, sites, b, d, cov, names):
    """Structural parameters [N, S] from deviates b [N, S, K] and draws d [N, S]."""
    return _parameters_jit(model, sites, b, d, cov, names)

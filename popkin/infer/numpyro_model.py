"""The population model as ONE plain numpyro function, for prior, fit and prediction.

``population_model(model, data, dv)`` samples, in order (site names in brackets):

1. typical values [CL, V, KA, ...] from their priors (natural scale);
2. estimated covariate coefficients [CL_WT, CL_SEX1, ...];
3. IIV: SDs [omega] (vector over the ``iiv`` coordinate = ``model.eta_names``), the
   Cholesky factor of each correlated block's correlation [L_iiv1, ...] and standard
   normal deviates [z_iiv] (subjects x iiv);
4. IOV: SDs [omega_iov] and deviates [z_iov] (subjects x occasions x iov);
5. residual SDs [sigma_add, sigma_prop, sigma_log; ``_<output>`` suffixes for
   multi-output models];

then records the deterministic etas [eta] = diag(omega) L z (non-centred), the IIV
correlation matrix [corr_iiv] and the individual parameters [individual] (subjects x
Theta parameter, subject level), and finally observes [y] (``Residual`` over the
(subjects, records) grid) with ``obs=dv``.

Steps 1-5 (``sample_population``) and the derived quantities (``derive``) do not touch
the structural model, so site shapes, supports and the deterministic values can be had
without tracing the event engine. Predictions come from
``popkin.pk.engine.predict_population``: one ``vmap`` over subjects, one ``lax.scan``
over each subject's records. The Python loops below run over the model's parameters and
IIV blocks (fixed by the model definition), never over subjects or doses.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from popkin.infer.likelihood import Residual
from popkin.infer.problem import FitData
from popkin.model import (Categorical, Column, Derived, Estimate, Exponential, ExponentialError, Fixed, Linear,
                          PopulationModel, Power, lognormal_around)
from popkin.pk.engine import predict_population

DERIVED = ("eta", "corr_iiv", "individual")


def coefficient_prior(model: PopulationModel, site: str, est: Estimate) -> dist.Distribution:
    """Prior of an estimated covariate coefficient (see ``popkin.model``)."""
    if est.prior is not None:
        return est.prior
    categorical = any(isinstance(e, Categorical) and site in e.coefficients(n)
                      for n in model.thetas for e in model.parameters[n].effects)
    return lognormal_around(est.initial) if categorical else dist.Normal(est.initial, 1.0)


def sigma_prior(initial: float) -> dist.Distribution:
    """Prior of a residual SD: HalfNormal(2 * initial)."""
    return dist.HalfNormal(2.0 * initial)


def sample_population(model: PopulationModel, n_subjects: int, n_occasions: int = 1) -> dict:
    """Sample sites 1-5 of the module docstring; returns site -> value."""
    v = {name: numpyro.sample(name, model.parameters[name].default_prior()) for name in model.thetas}
    v.update({site: numpyro.sample(site, coefficient_prior(model, site, est))
              for site, est in model.coefficients().items()})
    names = model.eta_names
    if names:
        scales = np.concatenate([[b.sd_prior] * len(b.parameters) for b in model.iiv])
        v["omega"] = numpyro.sample("omega", dist.HalfNormal(jnp.asarray(scales)).to_event(1))
        for k, block in enumerate(model.iiv, start=1):
            if block.correlated and len(block.parameters) > 1:
                v[f"L_iiv{k}"] = numpyro.sample(f"L_iiv{k}", dist.LKJCholesky(len(block.parameters), block.lkj))
        v["z_iiv"] = numpyro.sample("z_iiv", dist.Normal(0.0, 1.0).expand([n_subjects, len(names)]).to_event(2))
    if model.iov is not None:
        q = len(model.iov.parameters)
        v["omega_iov"] = numpyro.sample("omega_iov", dist.HalfNormal(model.iov.sd_prior).expand([q]).to_event(1))
        v["z_iov"] = numpyro.sample("z_iov", dist.Normal(0.0, 1.0).expand([n_subjects, n_occasions, q]).to_event(3))
    for site, initial in model.sigma_sites().items():
        v[site] = numpyro.sample(site, sigma_prior(initial))
    return v


@dataclass(frozen=True)
class Individuals:
    """Quantities derived from the sampled values (no structural model involved).

    eta (N, P); kappa (N, E, Q) or None; corr (P, P) or None; params: structural
    parameter -> (N,) or (N, E); individual (N, n_theta): Theta parameters per subject;
    linear_ok: False when a Linear covariate factor is <= 0 for some subject.
    """

    eta: jax.Array
    kappa: jax.Array | None
    corr: jax.Array | None
    params: dict
    individual: jax.Array
    linear_ok: jax.Array


def _etas(model: PopulationModel, v: dict, n: int):
    names = model.eta_names
    if not names:
        return jnp.zeros((n, 0)), None
    omega, z = v["omega"], v["z_iiv"]
    cols, corr, start = [], None, 0
    for k, block in enumerate(model.iiv, start=1):
        m = len(block.parameters)
        sl = slice(start, start + m)
        if f"L_iiv{k}" in v:
            chol = v[f"L_iiv{k}"]
            cols.append(z[:, sl] @ (omega[sl][:, None] * chol).T)     # eta_i = diag(omega) L z_i
            corr = (jnp.eye(len(names)) if corr is None else corr).at[sl, sl].set(chol @ chol.T)
        else:
            cols.append(z[:, sl] * omega[sl])
        start += m
    return jnp.concatenate(cols, axis=1), corr


def _coef(value, site, v):
    return v[site] if isinstance(value, Estimate) else value


def _log_factor(param: str, eff, cov, v):
    """log of the covariate factor for every subject (cov: baseline values (N,)) and
    whether the factor is positive for all of them."""
    if isinstance(eff, Power):
        return _coef(eff.exponent, f"{param}_{eff.covariate}", v) * jnp.log(cov / eff.reference), True
    if isinstance(eff, Exponential):
        return _coef(eff.slope, f"{param}_{eff.covariate}", v) * (cov - eff.center), True
    if isinstance(eff, Linear):
        factor = 1.0 + _coef(eff.slope, f"{param}_{eff.covariate}", v) * (cov - eff.center)
        return jnp.log(jnp.where(factor > 0, factor, 1.0)), jnp.all(factor > 0)
    total = jnp.zeros_like(cov)
    for level, f in zip(eff.levels, eff.factors):
        total = total + jnp.where(cov == level, jnp.log(_coef(f, eff.site(param, level), v)), 0.0)
    return total, True


def typical_scale(model: PopulationModel, data: FitData, v: dict):
    """Each Theta parameter's typical value for every subject (covariates at baseline)
    on the scale its eta adds to: log, or logit for ``domain="fraction"``; a dict
    parameter -> (N,), and whether every Linear covariate factor is positive."""
    ev, n = data.events, data.n_subjects
    out, ok = {}, jnp.asarray(True)
    for name in model.thetas:
        spec, tv = model.parameters[name], v[name]
        if spec.domain == "fraction":
            out[name] = (jnp.log(tv) - jnp.log1p(-tv)) * jnp.ones((n,))
            continue
        log_p = jnp.log(tv) * jnp.ones((n,))
        for eff in spec.effects:
            term, positive = _log_factor(name, eff, ev.baseline(eff.covariate), v)
            log_p, ok = log_p + term, ok & positive
        out[name] = log_p
    return out, ok


def derive(model: PopulationModel, data: FitData, v: dict, population: bool = False) -> Individuals:
    """Etas, kappas, correlation and individual parameters from sampled values ``v``.

    population=True sets eta and kappa to 0 (typical-value parameters, for PRED).
    """
    ev = data.events
    n = data.n_subjects
    typical, ok = typical_scale(model, data, v)
    eta, corr = _etas(model, v, n)
    if population:
        eta = jnp.zeros_like(eta)
    kappa = None
    if model.iov is not None:
        kappa = jnp.take_along_axis(v["z_iov"] * v["omega_iov"], data.occasion[:, :, None], axis=1)
        kappa = jnp.zeros_like(kappa) if population else kappa
    etas = {p: eta[:, j] for j, p in enumerate(model.eta_names)}
    kappas = {} if kappa is None else {p: kappa[:, :, j] for j, p in enumerate(model.iov.parameters)}
    params, subject_level = {}, []
    for name, spec in model.parameters.items():
        if isinstance(spec, Fixed):
            params[name] = jnp.full((n,), float(spec.value))
            continue
        if isinstance(spec, Column):
            params[name] = ev.covariate(spec.name)
            continue
        if isinstance(spec, Derived):
            params[name] = spec.function(dict(params))
            continue
        base = typical[name] + etas.get(name, 0.0)
        link = jax.nn.sigmoid if spec.domain == "fraction" else jnp.exp
        subject_level.append(link(base))
        params[name] = link(base[:, None] + kappas[name]) if name in kappas else subject_level[-1]
    params = {k: v for k, v in params.items() if k not in model.intermediate}   # the structure's own only
    return Individuals(eta, kappa, corr, params, jnp.stack(subject_level, axis=1), ok)


def residual_sds(model: PopulationModel, data: FitData, v: dict):
    """Per-record (add, prop, log) arrays (N, E) of the residual error model."""
    add, prop, log = [], [], []
    for o in model.error:
        suffix = "" if len(model.error) == 1 else f"_{o.name}"
        sds = {k: v[f"sigma_{k}{suffix}"] for k in o.error.sds()}
        add.append(jnp.asarray(sds.get("add", sds.get("log", 0.0)), dtype=float))
        prop.append(jnp.asarray(sds.get("prop", 0.0), dtype=float))
        log.append(isinstance(o.error, ExponentialError))
    idx = data.output
    return jnp.stack(add)[idx], jnp.stack(prop)[idx], jnp.asarray(np.asarray(log))[idx]


def predict_grid(model: PopulationModel, data: FitData, params: dict, structural=None):
    """Model predictions F (N, E) for structural parameters ``params``. ``structural``:
    a variant of ``model.structural`` to use instead (e.g. with forward-mode ODE solves)."""
    return predict_population(model.structural if structural is None else structural, data.events, params,
                              steady_state=data.steady_state, max_generated=data.max_generated,
                              bolus_only=data.bolus_only)


def observation_distribution(model: PopulationModel, data: FitData, v: dict, pred) -> Residual:
    """The ``Residual`` distribution of the record grid given predictions ``pred``."""
    add, prop, log = residual_sds(model, data, v)
    return Residual(pred, add, prop, log, data.observed, data.censored, data.limit, censoring=data.censoring)


def population_model(model: PopulationModel, data: FitData, dv=None):
    """The joint density p(theta, omega, z, sigma, y). ``dv``: the observed values
    (N, E) to condition on, or None to simulate them (prior / posterior predictive)."""
    v = sample_population(model, data.n_subjects, data.n_occasions)
    d = derive(model, data, v)
    numpyro.factor("linear_covariates_positive", jnp.where(d.linear_ok, 0.0, -jnp.inf))
    if model.eta_names:
        numpyro.deterministic("eta", d.eta)
    if d.corr is not None:
        numpyro.deterministic("corr_iiv", d.corr)
    numpyro.deterministic("individual", d.individual)
    pred = predict_grid(model, data, d.params)
    numpyro.sample("y", observation_distribution(model, data, v, pred), obs=dv)

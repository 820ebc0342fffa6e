"""Where virtual patients' parameters come from: ``FixedPopulation`` and
``PosteriorPopulation``, two ``ParameterSource``\\ s of one ``PopulationModel``.

A source reduces to ``PopulationDraws``: the population-level values (typical values,
covariate coefficients, omega, IIV correlation Cholesky factors, residual SDs), named
as the sites of a fit's posterior and stacked over ``D`` draws. A fixed population has
``D = 1``; a posterior has one draw per retained MCMC sample, so that every summary can
be computed per draw and its spread across draws is the parameter uncertainty. Virtual
patient ``i`` belongs to draw ``i // per_draw`` and has standard normal deviates
``z_i ~ N(0, I)``; its individual parameters are computed by the fitting code itself
(``popkin.infer.numpyro_model.derive``: eta = diag(omega) L z, covariate effects,
log-normal and logit-normal domains, Fixed parameters), so fits and simulations apply
the model identically.

Covariates of virtual patients: a constant mapping (``{"WT": 70}``) or a table of
covariate vectors (``pandas.DataFrame``, e.g. the baseline covariates of a trial) from
which each patient draws one row with replacement, by its own random key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Union

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from popkin.errors import ModelError
from popkin.model import Column, PopulationModel, Theta

__all__ = ["PopulationDraws", "ParameterSource", "FixedPopulation", "PosteriorPopulation", "UncertaintyPopulation",
           "Covariates",
           "draws_from_sites"]

Covariates = Union[None, Mapping[str, float], pd.DataFrame]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PopulationDraws:
    """Population-level values of ``D`` draws (a pytree of arrays, traced).

    sites: site -> array [D, ...], named as in a fit's posterior: typical values (Theta
        names), covariate coefficients, ``omega`` [D, K], ``L_iiv<k>`` (Cholesky factors
        of the correlated IIV blocks) and residual SDs (``sigma_prop``, ...).
    covariates: [R, C] table of covariate vectors (R = 1 for constants); each patient uses
        one row; ``cov_names`` (static) names the columns.
    """

    sites: dict
    covariates: jax.Array
    cov_names: tuple = field(default=(), metadata=dict(static=True))

    @property
    def n_draws(self) -> int:
        return int(np.shape(next(iter(self.sites.values())))[0])

    def draw(self, d) -> dict:
        """The site values of draw(s) ``d`` (an index or an index array)."""
        return {k: v[d] for k, v in self.sites.items()}


class ParameterSource(Protocol):
    """What simulations need from a parameter source.

    model: the ``PopulationModel`` whose structure and parameterisation are simulated.
    draws(): the ``PopulationDraws`` (D >= 1).
    sites(): the same values named as in a fit's posterior, site -> array [D, ...].
    """

    model: PopulationModel

    def draws(self) -> PopulationDraws: ...

    def sites(self) -> dict: ...


# --------------------------------------------------------------------------- fixed

@dataclass(frozen=True, eq=False)
class FixedPopulation:
    """A population with known values (typical values, omega, correlation, residual SDs).

    model: the ``PopulationModel``. Values default to the model's initial values (so a
        model written with the true values is its own fixed population).
    values: overrides, keyed as in a fit's posterior:
        * Theta names (``"CL": 5.0``) and coefficient sites (``"CL_WT": 0.75``);
        * ``"omega"``: IIV SDs on the log (logit) scale, a mapping ``{"CL": 0.3, ...}``
          (missing names keep the model's initial SD) or a sequence in
          ``model.eta_names`` order;
        * ``"corr_iiv"``: the full K x K IIV correlation matrix (default: identity);
        * residual SD sites (``"sigma_prop"``, ``"sigma_add"``, ...).
    covariates: virtual patients' covariates (see the module docstring).
    """

    model: PopulationModel
    values: Mapping = field(default_factory=dict)
    covariates: Covariates = None

    def __post_init__(self):
        _check_keys(self.model, self.values)

    @classmethod
    def from_mode(cls, fit, covariates: Covariates = None) -> "FixedPopulation":
        """The population of a MAP fit (``popkin.fit(..., method="map")``): typical values,
        coefficients and residual SDs at the joint mode, and the IIV SDs and correlations
        of the etas at the mode across subjects. The mode's own omegas are not used: the
        joint mode pulls them up towards the scale of their prior (``popkin.infer.map``),
        while the SD of the etas is shrunken, i.e. biased low when individual data are
        sparse; read omegas from NUTS or Laplace when the spread of exposure matters."""
        model = PosteriorPopulation(fit).model
        post = fit.idata.posterior
        values = {}
        for name in list(model.thetas) + list(model.coefficients()) + list(model.sigma_sites()):
            values[name] = float(np.asarray(post[name].values).ravel()[0])
        if model.eta_names:
            eta = np.asarray(post["eta"].values, dtype=float).reshape(-1, *post["eta"].shape[-2:])[0]
            values["omega"] = eta.std(axis=0, ddof=1)
            corr = np.eye(len(model.eta_names))
            start = 0
            for block in model.iiv:
                q = len(block.parameters)
                if block.correlated and q > 1:
                    corr[start:start + q, start:start + q] = np.corrcoef(eta[:, start:start + q], rowvar=False)
                start += q
            values["corr_iiv"] = corr
        return cls(model, values, covariates)

    def site_values(self) -> dict:
        """Every population site (Theta, coefficients, omega [K], corr_iiv [K, K], sigmas)."""
        m = self.model
        v = dict(self.values)
        out = {name: float(v.get(name, m.parameters[name].initial)) for name in m.thetas}
        out.update({site: float(v.get(site, est.initial)) for site, est in m.coefficients().items()})
        out["omega"] = _omega_vector(m, v.get("omega"))
        corr = np.eye(len(m.eta_names)) if v.get("corr_iiv") is None else np.asarray(v["corr_iiv"], float)
        out["corr_iiv"] = corr
        out.update({site: float(v.get(site, init)) for site, init in m.sigma_sites().items()})
        return out

    def sites(self) -> dict:
        """The population values as a one-draw posterior: site -> array [1, ...] named
        as in a fit (Theta names, coefficients, ``omega`` [1, K], ``L_iiv<k>`` for the
        model's correlated blocks, residual SDs)."""
        s = self.site_values()
        m = self.model
        k = len(m.eta_names)
        corr = s["corr_iiv"]
        if corr.shape != (k, k) or not np.allclose(corr, corr.T) or np.any(np.abs(np.diag(corr) - 1) > 1e-12):
            raise ModelError(f"corr_iiv must be a symmetric {k} x {k} correlation matrix (unit diagonal) over "
                             f"{', '.join(m.eta_names)}")
        allowed = np.zeros((k, k), dtype=bool)
        start = 0
        for block in m.iiv:
            q = len(block.parameters)
            if block.correlated:
                allowed[start:start + q, start:start + q] = True
            start += q
        np.fill_diagonal(allowed, True)
        if np.any((corr != 0) & ~allowed):
            raise ModelError("corr_iiv has correlations between parameters that the model keeps independent; "
                             "put them in one IIV block with correlated=True")
        out = {n: np.asarray([s[n]]) for n in list(m.thetas) + list(m.coefficients()) + list(m.sigma_sites())}
        out["omega"] = s["omega"][None]
        start = 0
        for b, block in enumerate(m.iiv, start=1):
            q = len(block.parameters)
            if block.correlated and q > 1:
                try:
                    out[f"L_iiv{b}"] = np.linalg.cholesky(corr[start:start + q, start:start + q])[None]
                except np.linalg.LinAlgError:
                    raise ModelError(f"the correlation block {block.parameters} is not positive definite") from None
            start += q
        return out

    def draws(self) -> PopulationDraws:
        return draws_from_sites(self.model, self.sites(), self.covariates)


# --------------------------------------------------------------------------- posterior

@dataclass(frozen=True, eq=False)
class PosteriorPopulation:
    """Population values from a fit's posterior draws (``FitResult`` of ``popkin.fit``).

    fit: a ``FitResult`` (``fit.idata.posterior`` and ``fit.model`` are read), or use
        ``PosteriorPopulation.from_idata(model, idata)``.
    n_draws: how many posterior draws to keep, evenly thinned over chains and draws
        (None: all). Simulation cost is proportional to n_draws x patients per draw.
    covariates: virtual patients' covariates (see the module docstring).
    """

    fit: object
    n_draws: int | None = None
    covariates: Covariates = None

    @property
    def model(self) -> PopulationModel:
        model = getattr(self.fit, "model", None)
        if not isinstance(model, PopulationModel):
            raise ModelError("the fit carries no PopulationModel (a loaded fit needs load(path, model=...)); "
                             "give the model to popkin.infer.load or use PosteriorPopulation.from_idata")
        return model

    @classmethod
    def from_idata(cls, model: PopulationModel, idata, n_draws: int | None = None,
                   covariates: Covariates = None) -> "PosteriorPopulation":
        """A source from an arviz InferenceData written by ``popkin.fit`` and its model."""
        return cls(_Fit(idata, model), n_draws, covariates)

    def sites(self) -> dict:
        """Posterior draws of every population site: site -> array [D, ...] (thinned
        evenly to ``n_draws`` over chains and draws)."""
        m = self.model
        post = self.fit.idata.posterior
        total = post.sizes["chain"] * post.sizes["draw"]
        want = total if self.n_draws is None else min(int(self.n_draws), total)
        if want < 1:
            raise ModelError("n_draws must be >= 1")
        pick = np.unique(np.linspace(0, total - 1, want).round().astype(int))
        out = {}
        for name in _population_site_names(m):
            if name not in post:
                raise ModelError(f"the posterior has no variable {name!r}; was it fitted with this model?")
            a = np.asarray(post[name].values, dtype=float)
            out[name] = a.reshape((total,) + a.shape[2:])[pick]
        return out

    def draws(self) -> PopulationDraws:
        return draws_from_sites(self.model, self.sites(), self.covariates)


@dataclass(frozen=True, eq=False)
class UncertaintyPopulation:
    """Population values drawn from the asymptotic sampling distribution of a Laplace
    fit (``popkin.fit(..., method="laplace")``): the estimate on the estimation scale
    (log typical values, log omegas, log residual SDs, ...) plus multivariate normal
    noise with the covariance of the estimates (the inverse Hessian of the OFV), mapped
    back. This is the usual simulation "with parameter uncertainty from $COV"; draw 0
    is the estimate itself.

    fit: a ``LaplaceResult`` with a covariance (standard errors computed).
    n_draws: population draws (>= 1); seed: their random seed.
    covariates: virtual patients' covariates (see the module docstring).
    """

    fit: object
    n_draws: int = 100
    seed: int = 0
    covariates: Covariates = None

    @property
    def model(self) -> PopulationModel:
        return PosteriorPopulation(self.fit).model

    def estimation_scale(self) -> tuple[np.ndarray, np.ndarray, list]:
        """(estimate P (K,), covariance (K, K), labels) on the estimation scale."""
        space, x, cov = self._estimate()
        return x, cov, space.names()

    def _estimate(self):
        from popkin.infer.laplace_space import PopulationSpace

        cov = getattr(self.fit, "covariance", None)
        problem = getattr(self.fit, "problem", None)
        if cov is None or problem is None:
            raise ModelError("UncertaintyPopulation needs a Laplace fit with standard errors (its covariance "
                             "step failed or was skipped); use PosteriorPopulation(fit) for the estimate alone")
        space = PopulationSpace(self.model, problem.data)
        post = self.fit.idata.posterior
        x = np.asarray(space.unconstrain({s.name: np.asarray(post[s.name].values)[0, 0] for s in space.sites}))
        names = space.names()
        return space, x, cov.loc[names, names].to_numpy(dtype=float)

    def sites(self) -> dict:
        """Draws of every population site: site -> array [n_draws, ...]."""
        if int(self.n_draws) < 1:
            raise ModelError("n_draws must be >= 1")
        space, x, cov = self._estimate()
        rng = np.random.default_rng(self.seed)
        w, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
        root = vecs * np.sqrt(np.clip(w, 0.0, None))           # cov = root root^T (PSD-safe)
        xs = x + rng.standard_normal((int(self.n_draws), x.size)) @ root.T
        xs[0] = x
        constrained = jax.vmap(space.constrain)(jnp.asarray(xs))
        wanted = _population_site_names(self.model)
        return {k: np.asarray(v, dtype=float) for k, v in constrained.items() if k in wanted}

    def draws(self) -> PopulationDraws:
        return draws_from_sites(self.model, self.sites(), self.covariates)


def _population_site_names(model: PopulationModel) -> list:
    """The sites a simulation reads, named as in a fit's posterior."""
    names = list(model.thetas) + list(model.coefficients()) + list(model.sigma_sites())
    if model.eta_names:
        names.append("omega")
    names += [f"L_iiv{b}" for b, block in enumerate(model.iiv, start=1)
              if block.correlated and len(block.parameters) > 1]
    return names


@dataclass(frozen=True)
class _Fit:
    idata: object
    model: PopulationModel


# --------------------------------------------------------------------------- helpers

def _check_keys(model: PopulationModel, values: Mapping) -> None:
    known = set(model.thetas) | set(model.coefficients()) | set(model.sigma_sites()) | {"omega", "corr_iiv"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ModelError(f"unknown population value(s) {', '.join(unknown)}; this model has typical values "
                         f"{', '.join(model.thetas)}, coefficients {', '.join(model.coefficients()) or 'none'}, "
                         f"omega/corr_iiv over {', '.join(model.eta_names) or 'no IIV'} and residual SDs "
                         f"{', '.join(model.sigma_sites())}")


def _omega_vector(model: PopulationModel, given) -> np.ndarray:
    init = {p: b.initial for b in model.iiv for p in b.parameters}
    names = model.eta_names
    if given is None:
        return np.asarray([init[p] for p in names], dtype=float)
    if isinstance(given, Mapping):
        extra = sorted(set(given) - set(names))
        if extra:
            raise ModelError(f"omega given for {', '.join(extra)}, which have no IIV in the model "
                             f"(IIV on {', '.join(names) or 'nothing'})")
        return np.asarray([float(given.get(p, init[p])) for p in names], dtype=float)
    arr = np.asarray(given, dtype=float).reshape(-1)
    if arr.shape != (len(names),):
        raise ModelError(f"omega needs {len(names)} SDs ({', '.join(names)}), got {arr.size}")
    return arr


def _covariate_table(model: PopulationModel, covariates: Covariates) -> tuple[np.ndarray, tuple]:
    needed = tuple(c for c in model.covariates() if c != "DVID")
    if model.iov is not None:
        needed = tuple(c for c in needed if c != model.iov.occasion)
    if covariates is None:
        covariates = {}
    if isinstance(covariates, pd.DataFrame):
        missing = [c for c in needed if c not in covariates.columns]
        table = covariates
    else:
        missing = [c for c in needed if c not in covariates]
        table = pd.DataFrame({k: [float(v)] for k, v in covariates.items()})
    if missing:
        raise ModelError(f"the model reads covariate(s) {', '.join(missing)}: give them to the population "
                         "(covariates={'WT': 70} or a DataFrame of virtual patients' covariates)")
    names = tuple(table.columns)
    values = table.to_numpy(dtype=float) if names else np.zeros((1, 0))
    if values.shape[0] == 0:
        raise ModelError("the covariate table is empty")
    if not np.all(np.isfinite(values[:, [names.index(c) for c in needed]])):
        raise ModelError(f"the covariate table has missing values in {', '.join(needed)}")
    return values, names


def draws_from_sites(model: PopulationModel, sites: Mapping, covariates: Covariates = None) -> PopulationDraws:
    """``PopulationDraws`` from site values [D, ...] named as in a fit's posterior."""
    table, names = _covariate_table(model, covariates)
    for name in model.thetas:
        spec: Theta = model.parameters[name]
        vals = np.asarray(sites[name], dtype=float)
        bad = ~(vals > 0) if spec.domain == "positive" else ~((vals > 0) & (vals < 1))
        if bad.any():
            raise ModelError(f"typical value of {name} must be " +
                             ("> 0" if spec.domain == "positive" else "in (0, 1)") + f", got {vals[bad][:3]}")
    for name, spec in model.parameters.items():
        if isinstance(spec, Column) and spec.name not in names:
            raise ModelError(f"parameter {name} is read from column {spec.name}: give it as a covariate")
    arrays = {k: jnp.asarray(np.asarray(v, dtype=float)) for k, v in sites.items()}
    if len({int(np.shape(v)[0]) for v in arrays.values()}) > 1:
        raise ModelError("population sites have different numbers of draws")
    return PopulationDraws(arrays, jnp.asarray(table), names)

"""Marginal maximum likelihood by the Laplace approximation (``popkin.fit(..., method="laplace")``).

The random effects of each subject (IIV etas and, with IOV, the kappas) are integrated
out by a Laplace approximation at their conditional mode, the FOCE-I idea with the exact
Hessian (NONMEM's ``METHOD=COND LAPLACIAN INTERACTION``):

* inner problem (``popkin.infer.laplace_inner``): for the current population values,
  every subject's EBE by Newton's method on the exact Hessian of its joint log density,
  ``vmap``-ed over subjects; the residual variance is evaluated at the individual
  prediction (interaction);
* outer problem: L-BFGS-B (scipy) on OFV = -2 log L over the population parameters on
  their estimation scale (``popkin.infer.laplace_space``: log typical values, log omega,
  Cholesky-factor correlations, log residual SDs), with the exact gradient; then Newton
  steps on the exact Hessian of the OFV, which also gives the standard errors
  (``popkin.infer.laplace_table``).

Objective function value, two conventions (both reported):

* ``ofv`` = -2 log L with every constant: ``n_obs log(2 pi)`` for the observed records
  (and the Jacobian of a log-scale error), as R's ``logLik``, Stan and arviz count it;
* ``ofv_nonmem`` = ``ofv - n_obs log(2 pi)`` (minus ``2 sum log DV`` over records with a
  log-scale error, which NONMEM fits as log DV), the number NONMEM prints as its
  OBJECTIVE FUNCTION VALUE. ``n_obs`` counts the records that enter as densities (BLQ
  records enter as probabilities and carry no constant).

    result = popkin.fit(model, data, method="laplace")
    result.ofv, result.ofv_nonmem, result.table, result.ebes
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import warnings
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy.optimize

from popkin.errors import FitError
from popkin.infer.convert import subject_coords, to_inference_data
from popkin.infer.density import with_derived
from popkin.infer.laplace_inner import with_random_effects
from popkin.infer.laplace_objective import LaplaceObjective
from popkin.infer.laplace_space import PopulationSpace
from popkin.infer.laplace_table import covariance, laplace_table
from popkin.infer.laplace_points import point_predictions
from popkin.infer.pointwise import Pointwise
from popkin.infer.problem import Problem, bind
from popkin.infer.result import FitResult
from popkin.model import ExponentialError

LOG_2PI = math.log(2.0 * math.pi)
INNER_GTOL_WARN = 1e-5   # an EBE whose gradient is above this after the inner search is flagged


@dataclass(frozen=True)
class LaplaceOptions:
    """Options of a Laplace fit.

    max_iterations: outer L-BFGS-B iterations at most.
    tolerance: stop when the OFV changes by less than this (relative, scipy's ``ftol``).
    newton_steps: Newton steps on the exact Hessian of the OFV after L-BFGS-B (0 to skip;
        they bring the gradient to ~1e-8 so that estimates are reproducible to many digits).
    standard_errors: compute the Hessian of the OFV and the standard errors.
    seed: not used by the estimate (deterministic); kept so that every method's options
        carry one.
    """

    max_iterations: int = 1000
    tolerance: float = 1e-12
    newton_steps: int = 5
    standard_errors: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.max_iterations < 1 or self.newton_steps < 0:
            raise ValueError("LaplaceOptions: max_iterations must be >= 1 and newton_steps >= 0")


Options = LaplaceOptions  # the name ``popkin.infer.fit`` dispatches to


@dataclass
class LaplaceResult(FitResult):
    """A ``FitResult`` with what a likelihood fit adds.

    ofv: -2 log-likelihood with every constant (R ``-2 * logLik``); ofv_nonmem: the same
    without ``n_obs log(2 pi)`` (NONMEM's OBJECTIVE FUNCTION VALUE); loglik: log L;
    n_obs: records entering as densities; covariance: covariance of the estimates on the
    estimation scale (``None`` when the Hessian is not positive definite); ebes: one row per
    subject with ID, the etas ``ETA_<param>`` and the individual parameters at the EBEs;
    gradient: max |dOFV/dP| at the estimate.
    """

    ofv: float = float("nan")
    ofv_nonmem: float = float("nan")
    loglik: float = float("nan")
    n_obs: int = 0
    covariance: pd.DataFrame | None = None
    ebes: pd.DataFrame | None = field(default=None, repr=False)
    gradient: float = float("nan")

    def summary(self) -> str:
        text = super().summary()
        return (text + f"\nOFV (-2 log L, all constants) = {self.ofv:.4f}; NONMEM convention "
                f"(without {self.n_obs} log 2 pi) = {self.ofv_nonmem:.4f}; log-likelihood = {self.loglik:.4f}")


def nonmem_constant(problem: Problem) -> float:
    """OFV - OFV_NONMEM: n_obs log(2 pi) plus 2 sum log DV over log-scale (exponential
    error) records (see the module docstring)."""
    data = problem.data
    observed = np.asarray(data.observed)
    const = observed.sum() * LOG_2PI
    dv = np.asarray(data.events.dv, dtype=float)
    outputs = np.asarray(data.output)
    for k, out in enumerate(problem.model.error):
        if isinstance(out.error, ExponentialError):
            sel = observed & (outputs == k)
            const += 2.0 * np.log(dv[sel]).sum()
    return float(const)


def _newton_polish(objective: LaplaceObjective, x, steps: int):
    """Up to ``steps`` Newton steps on the Hessian of the OFV, each kept only if it
    lowers the OFV (halving the step up to 10 times). Returns (x, Hessian at x or None)."""
    hess = None
    for _ in range(steps):
        value, grad = objective.value_and_gradient(x)
        if np.max(np.abs(grad)) < 1e-8:
            break
        hess = objective.hessian(x)
        if not np.all(np.isfinite(hess)) or np.linalg.eigvalsh(hess)[0] <= 0:
            break
        step = np.linalg.solve(hess, grad)
        for _ in range(10):
            if objective.value_and_gradient(x - step)[0] <= value:
                x, hess = x - step, None
                break
            step = step / 2
        else:
            objective.value_and_gradient(x)
            break
    return x, hess


def _attrs(problem: Problem, options: LaplaceOptions, extra: dict) -> dict:
    from popkin import __version__

    return {"popkin_version": __version__, "inference_library": "numpyro+jax (Laplace)", "method": "laplace",
            "options": json.dumps(dataclasses.asdict(options)), "model": str(problem.model),
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **extra}


def _ebe_table(problem: Problem, values: dict) -> pd.DataFrame:
    model = problem.model
    frame = pd.DataFrame({"ID": subject_coords(problem.ids)})
    eta = np.asarray(values.get("eta", np.zeros((len(problem.ids), 0))))
    for j, p in enumerate(model.eta_names):
        frame[f"ETA_{p}"] = eta[:, j]
    individual = np.asarray(values["individual"])
    for j, p in enumerate(model.thetas):
        frame[p] = individual[:, j]
    return frame


def _pointwise(problem: Problem, sampled: dict) -> Pointwise:
    """The one-draw ``Pointwise`` of the estimate (no predictive draw: IPRED stands in)."""
    ipred, pred, ll = (a[None] for a in point_predictions(problem, sampled))
    return Pointwise(ll, ipred, ipred, pred)


def run(problem: Problem, options: LaplaceOptions = LaplaceOptions()) -> LaplaceResult:
    """Fit ``problem`` by marginal maximum likelihood (Laplace); see the module docstring."""
    model, data = problem.model, problem.data
    space = PopulationSpace(model, data)
    objective = LaplaceObjective(model, data)
    x0 = np.asarray(space.start(), dtype=np.float64)
    if objective(x0)[0] >= 1e300:
        raise FitError("the Laplace objective is not finite at the initial values: check the initial values "
                       "(typical values, residual SDs) and that the model predicts positive values where "
                       "the error model needs them")
    res = scipy.optimize.minimize(objective, x0, jac=True, method="L-BFGS-B",
                                  options=dict(maxiter=options.max_iterations, ftol=options.tolerance,
                                               gtol=1e-7, maxcor=30))
    x, hess = _newton_polish(objective, np.asarray(res.x), options.newton_steps)
    value, grad = objective.value_and_gradient(x)
    b = np.asarray(objective.b)
    msgs = []
    if not np.isfinite(value) or np.max(np.abs(grad)) > 1e-3:
        msgs.append(f"Laplace outer optimisation did not converge (max |dOFV/dP| = {np.max(np.abs(grad)):.2g}; "
                    f"{res.message}); the estimates are approximate")
    bad = np.flatnonzero(objective.inner_gradient > INNER_GTOL_WARN)
    if bad.size:
        ids = ", ".join(str(problem.ids[i]) for i in bad[:10])
        msgs.append(f"the EBE search did not converge for subject(s) {ids}: their etas and the OFV are approximate")
    cov_u = None
    if options.standard_errors:
        if hess is None:
            hess = objective.hessian(x)
        cov_u, cov_msg = covariance(hess)
        if cov_msg:
            msgs.append("covariance step: " + cov_msg)

    population = {k: np.asarray(v) for k, v in objective.population(x).items()}
    sampled = {k: np.asarray(v) for k, v in with_random_effects(model, data, population, jnp.asarray(b)).items()}
    values = {k: np.asarray(v) for k, v in with_derived(model, data, sampled).items()}
    samples = {k: v[None, None] for k, v in values.items()}
    points = _pointwise(problem, sampled)
    loglik = -0.5 * value
    offset = nonmem_constant(problem)
    n_obs = int(np.asarray(data.observed).sum())
    extra = {"ofv": value, "ofv_nonmem": value - offset, "loglik": loglik, "n_obs": n_obs,
             "laplace_gradient": float(np.max(np.abs(grad)))}
    idata = to_inference_data(problem, samples, {"potential_energy": np.asarray([[0.5 * value]])}, points,
                              _attrs(problem, options, extra))
    idata.posterior.attrs.update(extra)     # kept by FitResult.save / popkin.infer.load
    if "posterior_predictive" in idata.groups():
        del idata["posterior_predictive"]   # one simulated data set at the estimate is not a predictive
    table = laplace_table(space, x, cov_u, idata.posterior)
    cov_frame = None
    if cov_u is not None:
        names = space.names()
        cov_frame = pd.DataFrame(cov_u, index=names, columns=names)
    if msgs:
        from popkin.infer.fit import ConvergenceWarning

        for m in msgs:
            warnings.warn(m, ConvergenceWarning, stacklevel=2)
    return LaplaceResult(idata, table, "laplace", tuple(msgs), model, problem, ofv=value,
                         ofv_nonmem=value - offset, loglik=loglik, n_obs=n_obs, covariance=cov_frame,
                         ebes=_ebe_table(problem, values), gradient=float(np.max(np.abs(grad))))


def fit_laplace(model, data, options: LaplaceOptions | None = None) -> LaplaceResult:
    """``popkin.fit(model, data, method="laplace")`` without the dispatch."""
    return run(bind(model, data), options or LaplaceOptions())

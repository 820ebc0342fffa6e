"""The parameter values diagnostics are computed at, from a fit or given directly.

``Estimates`` holds a model bound to its data (``Problem``) and values of the numpyro
model's sampled sites (typical values, coefficients, omega, L_iiv<k>, z_iiv, omega_iov,
z_iov, residual SDs):

* ``point``: one value per site, used for PRED, IPRED, CWRES and individual fits:
  - NUTS: posterior medians of the population sites; the etas are the posterior
    medians of each subject's eta (the deviates z are solved from them); a correlated
    block's Cholesky factor is that of the posterior-mean correlation matrix;
  - MAP / Laplace: the estimate itself (the Laplace etas are the EBEs);
* ``draws``: population values for simulation (S, ...): the posterior draws (thinned
  evenly to at most ``max_draws``) for NUTS, the estimate once for MAP / Laplace.

``Estimates.from_fit(result)`` builds them from a ``FitResult`` (which must carry its
``problem``: a fit from ``popkin.fit``, or ``popkin.infer.load(path, model, data)``);
``Estimates.at(problem, values)`` from known population values (e.g. the true parameters
of a simulation), the etas then being the EBEs (conditional modes given those values,
the inner problem of ``popkin.infer.laplace``) unless z_iiv / z_iov are given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from popkin.errors import PopkinError
from popkin.infer.problem import Problem

RANDOM = ("z_iiv", "z_iov")


@dataclass(frozen=True)
class Estimates:
    """Parameter values for diagnostics (see the module docstring)."""

    problem: Problem
    point: dict
    draws: dict
    method: str = "given"

    @property
    def model(self):
        return self.problem.model

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(self.problem.space.transforms)

    @property
    def n_draws(self) -> int:
        return int(next(iter(self.draws.values())).shape[0]) if self.draws else 1

    @classmethod
    def at(cls, problem: Problem, values: dict, method: str = "given") -> "Estimates":
        """Estimates at known constrained values of the population sites; z_iiv / z_iov
        when left out are the EBEs given those values."""
        point = _complete(problem, values)
        draws = {k: np.asarray(v)[None] for k, v in point.items() if k not in RANDOM}
        return cls(problem, point, draws, method)

    @classmethod
    def from_fit(cls, result, max_draws: int = 200) -> "Estimates":
        """From a ``FitResult`` (see the module docstring)."""
        problem = getattr(result, "problem", None)
        if problem is None:
            raise PopkinError("these diagnostics re-run the model, so the fit must carry its model and data: "
                              "use the result of popkin.fit, or popkin.infer.load(path, model, data)")
        post = result.idata.posterior
        sites = tuple(problem.space.transforms)
        stacked = {k: post[k].values.reshape((-1,) + post[k].shape[2:]) for k in sites}
        n = next(iter(stacked.values())).shape[0]
        if n == 1:
            point = {k: v[0] for k, v in stacked.items()}
            draws = {k: v for k, v in stacked.items() if k not in RANDOM}
            return cls(problem, point, draws, result.method)
        point = {k: np.median(v, axis=0) for k, v in stacked.items() if k not in RANDOM}
        model = problem.model
        for k, block in enumerate(model.iiv, start=1):
            if f"L_iiv{k}" in point:
                idx = [model.eta_names.index(p) for p in block.parameters]
                corr = post["corr_iiv"].values.reshape((-1,) + post["corr_iiv"].shape[2:]).mean(axis=0)
                point[f"L_iiv{k}"] = np.linalg.cholesky(corr[np.ix_(idx, idx)])
        if "eta" in post:
            eta = np.median(post["eta"].values.reshape((-1,) + post["eta"].shape[2:]), axis=0)
            point["z_iiv"] = z_from_eta(model, point, eta)
        if "z_iov" in stacked:
            point["z_iov"] = np.median(stacked["z_iov"], axis=0)
        keep = np.unique(np.linspace(0, n - 1, min(n, max_draws)).round().astype(int))
        draws = {k: v[keep] for k, v in stacked.items() if k not in RANDOM}
        return cls(problem, point, draws, result.method)


def z_from_eta(model, point: dict, eta: np.ndarray) -> np.ndarray:
    """The deviates z with eta = diag(omega) L z, block by block (N, P)."""
    z = np.zeros_like(eta)
    omega = np.asarray(point["omega"])
    start = 0
    for k, block in enumerate(model.iiv, start=1):
        m = len(block.parameters)
        sl = slice(start, start + m)
        chol = np.asarray(point.get(f"L_iiv{k}", np.eye(m)))
        a = omega[sl][:, None] * chol
        z[:, sl] = np.linalg.solve(a, eta[:, sl].T).T
        start += m
    return z


def _complete(problem: Problem, values: dict) -> dict:
    space = problem.space
    out, missing = {}, []
    for k in space.transforms:
        if k in values:
            out[k] = np.asarray(values[k], dtype=float)
        elif k in RANDOM:
            missing.append(k)
            out[k] = np.zeros(space.shapes[k])
        else:
            raise PopkinError(f"no value given for {k!r}; the model's sampled sites are {', '.join(space.transforms)}")
    if missing:
        out.update({k: v for k, v in ebes(problem, out).items() if k in missing})
    return out


def ebes(problem: Problem, values: dict) -> dict:
    """z_iiv / z_iov at the conditional modes given the population ``values`` (starting
    from the z in ``values``)."""
    import jax.numpy as jnp

    from popkin.infer.laplace_inner import conditional_modes, n_random, with_random_effects

    model, data = problem.model, problem.data
    population = {k: jnp.asarray(v) for k, v in values.items() if k not in RANDOM}
    parts = [np.asarray(values[k]).reshape(data.n_subjects, -1) for k in RANDOM if k in values]
    if n_random(model, data) == 0:
        return {}
    b0 = np.concatenate(parts, axis=1)
    modes = conditional_modes(model, data, population, jnp.asarray(b0))
    return {k: np.asarray(v) for k, v in with_random_effects(model, data, population, modes.b).items()
            if k in RANDOM}

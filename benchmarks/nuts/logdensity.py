"""Do the Stan program and popkin define the same posterior? Compare log densities at
the same points.

At K random points (constrained values of every sampled site, drawn around the model's
initial values with a fixed seed):

* popkin: ``-potential_energy`` at ``u = Space.unconstrain(values)`` (what NUTS moves
  on: log joint density plus the log-Jacobian of numpyro's transforms) and the log joint
  density on the constrained scale (``numpyro.infer.util.log_density``);
* Stan: ``log_prob(fit, unconstrain_pars(fit, values), adjust_transform = TRUE / FALSE)``.

It also times one log density + gradient evaluation on each side (``grad_eval_s``).

Stan's ``~`` statements drop constant terms, so the two agree up to one additive
constant: the check is that ``stan_k - popkin_k`` is the same number at every point
(spread below ``tol`` x (1 + |log density|)). With the Jacobians the check also proves
that both samplers move on the same unconstrained space (same transforms: log for
positive parameters, the same tanh/stick-breaking map for the LKJ Cholesky factor).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.nuts import spec as specmod
from benchmarks.nuts import stan_side

TOL = 1e-8


def random_points(problem, k: int = 5, seed: int = 1) -> list[dict]:
    """``k`` points: constrained values of the model's sampled sites (numpy arrays)."""
    import jax
    import numpyro.distributions as dist

    from popkin.infer.density import initial_values

    model, data = problem.model, problem.data
    base = {name: np.asarray(v, float) for name, v in initial_values(model, data).items()}
    rng = np.random.default_rng(seed)
    out = []
    for j in range(k):
        v = {}
        for name, value in base.items():
            if name == "z_iiv":
                v[name] = rng.standard_normal(value.shape)
            elif name.startswith("L_iiv"):
                d = value.shape[0]
                v[name] = np.asarray(dist.LKJCholesky(d, 2.0).sample(jax.random.PRNGKey(seed * 100 + j)))
            else:
                v[name] = value * np.exp(0.3 * rng.standard_normal(value.shape))
        out.append(v)
    return out


def popkin_log_densities(problem, points: list[dict], centred: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """(with Jacobian, without) at each point, from popkin's numpyro model, and the time
    of one compiled value-and-gradient evaluation at the first point (best of 20).
    ``centred``: the densities of popkin's centred coordinates (the model's plus the log
    Jacobian of phi -> z, as its centred sampler adds it)."""
    import time

    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    from popkin.infer.density import potential
    from popkin.infer.numpyro_model import population_model

    model, data = problem.model, problem.data
    # data as arguments, not closed over: XLA would otherwise constant-fold the data set
    pot = jax.jit(lambda u, d: potential(model, u, d))
    logd = jax.jit(lambda v, d: log_density(partial(population_model, model), (d, d.events.dv), {}, v)[0])
    from popkin.infer.centring import from_centred

    with_j, without = [], []
    for v in points:
        vj = {k: jnp.asarray(x) for k, x in v.items() if k != "phi_iiv"}
        u = problem.space.unconstrain(vj)
        log_det = 0.0
        if centred:   # the point's phi_iiv (spec.centred_values) is the centred sampler's coordinate
            w = {**u, "z_iiv": jnp.asarray(v["phi_iiv"])}
            log_det = float(from_centred(model, problem.space, data, w)[1])
        with_j.append(-float(pot(u, data)) + log_det)
        without.append(float(logd(vj, data)) + log_det)
    vg = jax.jit(jax.value_and_grad(lambda u, d: potential(model, u, d)))
    u0 = problem.space.unconstrain({k: jnp.asarray(x) for k, x in points[0].items() if k != "phi_iiv"})
    jax.block_until_ready(vg(u0, data))
    best = float("inf")
    for _ in range(20):
        t0 = time.perf_counter()
        jax.block_until_ready(vg(u0, data))
        best = min(best, time.perf_counter() - t0)
    return np.asarray(with_j), np.asarray(without), best


def spread(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(constant offset a - b, its spread max - min relative to 1 + max |b|)."""
    d = np.asarray(a) - np.asarray(b)
    return float(np.mean(d)), float((d.max() - d.min()) / (1.0 + np.max(np.abs(b))))


def compare(problem, rds, csv: Path, spec: dict, work: Path, k: int = 5, seed: int = 1) -> dict:
    """Run both sides at the same ``k`` points; the verdict and the numbers."""
    work.mkdir(parents=True, exist_ok=True)
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    points = random_points(problem, k, seed)
    centred = bool(spec.get("centred"))
    if centred:
        points = [specmod.centred_values(problem, p) for p in points]
    pk_j, pk_n, pk_grad_s = popkin_log_densities(problem, points, centred)
    stan = stan_side.log_prob(rds, csv, spec_path, [specmod.to_stan_values(spec, p) for p in points], work)
    st_j = np.asarray([p["with_jacobian"] for p in stan["points"]], float)
    st_n = np.asarray([p["without_jacobian"] for p in stan["points"]], float)
    off_j, rel_j = spread(st_j, pk_j)
    off_n, rel_n = spread(st_n, pk_n)
    n_unc = {int(p["n_unconstrained"]) for p in stan["points"]}
    n_popkin = int(sum(np.size(x) for x in problem.space.unconstrain(
        {k: v for k, v in points[0].items() if k != "phi_iiv"}).values()))
    return {
        "points": k, "seed": seed,
        "popkin_with_jacobian": pk_j.tolist(), "stan_with_jacobian": st_j.tolist(),
        "popkin_without_jacobian": pk_n.tolist(), "stan_without_jacobian": st_n.tolist(),
        "constant_with_jacobian": off_j, "relative_spread_with_jacobian": rel_j,
        "constant_without_jacobian": off_n, "relative_spread_without_jacobian": rel_n,
        "unconstrained_dims": {"stan": sorted(n_unc), "popkin": n_popkin},
        "stan_n_obs": stan["n_obs"], "popkin_n_obs": int(np.asarray(problem.data.observed).sum()),
        "tolerance": TOL,
        "grad_eval_s": {"popkin": pk_grad_s, "stan": stan["points"][0].get("grad_eval_s"),
                        "note": "one log density + gradient at the first point; popkin: compiled jax "
                                "(best of 20), Stan: rstan grad_log_prob (mean of 200, includes the R call)"},
        "same_density": bool(rel_n < TOL), "same_unconstrained_density": bool(rel_j < TOL),
    }

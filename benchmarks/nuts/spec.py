"""The Stan side's view of a popkin ``PopulationModel``: the program to use and the data
that set its priors, IIV structure, covariate effects and residual model.

``stan_spec(model)`` reads everything from the model definition (``popkin.model``:
default priors LogNormal(log initial, 1) for typical values, HalfNormal(sd_prior) for
IIV SDs, LKJ(lkj) for a correlated block, HalfNormal(2 x initial) for residual SDs), so
the two sides cannot drift apart silently; the log-density check
(``benchmarks.nuts.logdensity``) proves they agree. What the Stan programs do not cover
raises ``Unsupported`` with the reason.

``to_stan_values`` / ``from_stan_draws`` translate between popkin's sampled sites and the
Stan parameters (``theta`` vector in ``model.thetas`` order, ``omega``, ``L_iiv``,
``z_iiv``, ``sigma_add``, ``sigma_prop``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpyro.distributions as dist

from popkin.model import AdditiveError, CombinedError, Power, ProportionalError, Theta

STAN_DIR = Path(__file__).resolve().parent.parent / "stan"
PROGRAMS = {"1cmt-oral": ("oral1.stan", ("CL", "V", "KA")),
            "2cmt-oral": ("oral2.stan", ("CL", "V1", "Q", "V2", "KA"))}


class Unsupported(ValueError):
    """The model uses a feature the benchmark's Stan programs do not implement."""


def _structure_name(model) -> str:
    return getattr(model.structural, "name", type(model.structural).__name__)


def program(model) -> Path:
    """The Stan program for the model's structure."""
    name = _structure_name(model)
    if name not in PROGRAMS:
        raise Unsupported(f"no Stan program for structure {name!r}; have {sorted(PROGRAMS)}")
    return STAN_DIR / PROGRAMS[name][0]


def _lognormal(name: str, spec: Theta) -> tuple[float, float]:
    prior = spec.default_prior()
    if spec.domain != "positive" or not isinstance(prior, dist.LogNormal):
        raise Unsupported(f"{name}: the Stan programs take log-normal typical-value priors on positive "
                          f"parameters, got {type(prior).__name__} ({spec.domain})")
    return float(prior.loc), float(prior.scale)


def stan_spec(model, centred: bool = False) -> dict:
    """Spec of ``model`` for ``stan_run.R`` (JSON-ready; see the module docstring).
    ``centred``: the Stan programs sample the individual log parameters ``phi_iiv``
    (popkin's ``parameterization="centered"``) instead of ``z_iiv``."""
    name = _structure_name(model)
    program(model)
    struct_params = PROGRAMS[name][1]
    thetas = list(model.thetas)
    aliases = dict(getattr(model.structural, "aliases", ()))
    canonical = {aliases.get(k, k): k for k in model.parameters}
    missing = [p for p in struct_params if p not in canonical or canonical[p] not in thetas]
    if missing:
        raise Unsupported(f"parameters {missing} must be estimated typical values (Theta) for the Stan programs")
    extra = [k for k in model.parameters if aliases.get(k, k) not in struct_params]
    if extra:
        raise Unsupported(f"parameters {extra} (dose modifiers, fixed or data parameters) are not in the Stan programs")
    if model.coefficients():
        raise Unsupported("estimated covariate coefficients are not in the Stan programs; fix the exponents")
    if model.iov is not None:
        raise Unsupported("IOV is not in the Stan programs")
    if len(model.error) != 1 or not isinstance(model.error[0].error, (AdditiveError, ProportionalError, CombinedError)):
        raise Unsupported("the Stan programs take one additive, proportional or combined residual error")
    loc_scale = [_lognormal(t, model.parameters[t]) for t in thetas]
    effects = []
    for k, t in enumerate(thetas):
        for eff in model.parameters[t].effects:
            if not isinstance(eff, Power):
                raise Unsupported(f"{t}: only Power covariate effects with fixed exponents are in the Stan programs")
            effects.append({"theta": k + 1, "covariate": eff.covariate, "reference": float(eff.reference),
                            "exponent": float(eff.exponent)})
    blocks = model.iiv
    correlated = [b for b in blocks if b.correlated and len(b.parameters) > 1]
    if correlated and len(blocks) > 1:
        raise Unsupported("the Stan programs take one correlated IIV block, or diagonal blocks only")
    lkj = [b.lkj for b in correlated]
    eta_names = list(model.eta_names)
    omega_scale = [float(b.sd_prior) for b in blocks for _ in b.parameters]
    sds = model.error[0].error.sds()
    return {
        "structure": name,
        "program": PROGRAMS[name][0],
        "thetas": thetas,
        "tv_loc": [ls[0] for ls in loc_scale],
        "tv_scale": [ls[1] for ls in loc_scale],
        "idx": [thetas.index(canonical[p]) + 1 for p in struct_params],
        "effects": effects,
        "eta_names": eta_names,
        "iiv_theta": [thetas.index(p) + 1 for p in eta_names],
        "omega_scale": omega_scale,
        "correlated": int(bool(correlated)),
        "centred": int(bool(centred)),
        "lkj_eta": float(lkj[0]) if lkj else 1.0,
        "has_add": int("add" in sds),
        "add_scale": 2.0 * float(sds.get("add", 0.5)),
        "has_prop": int("prop" in sds),
        "prop_scale": 2.0 * float(sds.get("prop", 0.5)),
    }


def to_stan_values(spec: dict, values: dict) -> dict:
    """popkin's constrained sampled sites (one point) -> rstan's parameter list. A
    centred spec needs ``values["phi_iiv"]`` (``centred_values``) and gives no z_iiv."""
    out = {"theta": [float(values[t]) for t in spec["thetas"]]}
    p = len(spec["eta_names"])
    out["omega"] = np.asarray(values["omega"], float).reshape(p).tolist() if p else []
    out["L_iiv"] = np.asarray(values["L_iiv1"], float).tolist() if spec["correlated"] else [[1.0]]
    centred = bool(spec.get("centred"))
    out["z_iiv"] = np.asarray(values["z_iiv"], float).tolist() if p and not centred else []
    out["phi_iiv"] = np.asarray(values["phi_iiv"], float).tolist() if p and centred else []
    out["sigma_add"] = [float(values["sigma_add"])] if spec["has_add"] else []
    out["sigma_prop"] = [float(values["sigma_prop"])] if spec["has_prop"] else []
    return out


def centred_values(problem, values: dict) -> dict:
    """``values`` (constrained sites of one point) plus ``phi_iiv``: every subject's
    log typical value + eta, popkin's centred coordinates (``popkin.infer.centring``)."""
    import jax.numpy as jnp

    from popkin.infer.centring import to_centred

    u = problem.space.unconstrain({k: jnp.asarray(v) for k, v in values.items()})
    w = to_centred(problem.model, problem.space, problem.data, u)
    return dict(values, phi_iiv=np.asarray(w["z_iiv"], float))


def population_columns(spec: dict) -> list[str]:
    """Stan draw columns of the population parameters (no z_iiv), rstan's naming."""
    cols = [f"theta[{k + 1}]" for k in range(len(spec["thetas"]))]
    p = len(spec["eta_names"])
    cols += [f"omega[{k + 1}]" for k in range(p)]
    if spec["correlated"]:
        cols += [f"L_iiv[{i + 1},{j + 1}]" for i in range(p) for j in range(i)]
    cols += ["sigma_add[1]"] * spec["has_add"] + ["sigma_prop[1]"] * spec["has_prop"]
    return cols


def popkin_names(spec: dict) -> dict:
    """Stan column -> popkin name (``CL``, ``omega[CL]``, ``L_iiv1[2,1]``, ``z_iiv[3,CL]``)."""
    names = {f"theta[{k + 1}]": t for k, t in enumerate(spec["thetas"])}
    for k, e in enumerate(spec["eta_names"]):
        names[f"omega[{k + 1}]"] = f"omega[{e}]"
    p = len(spec["eta_names"])
    for i in range(p):
        for j in range(i):
            names[f"L_iiv[{i + 1},{j + 1}]"] = f"L_iiv1[{i + 1},{j + 1}]"
    names["sigma_add[1]"] = "sigma_add"
    names["sigma_prop[1]"] = "sigma_prop"
    return names


def check_close(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)

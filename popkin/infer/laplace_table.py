"""Standard errors and the parameter table of a Laplace fit.

Covariance on the estimation scale (``popkin.infer.laplace_space``): the inverse of the
observed information, ``cov(P) = 2 H^{-1}`` with ``H = d^2 OFV / dP^2`` (OFV = -2 log L,
so the information is H / 2; NONMEM's $COVARIANCE MATRIX=R). Natural-scale standard
errors by the delta method: ``cov(g) = J cov(P) J^T``, ``J = dg/dP``, where g are the
reported quantities (typical values, coefficients, omega SDs, correlations, IOV SDs,
residual SDs).

Table rows follow ``popkin.infer.table`` (``CL``, ``CL_WT``, ``omega_CL``,
``corr_CL_V``, ``omega_iov_CL``, ``sigma_add``); columns:

* ``kind``, ``unit``;
* ``estimate``: the maximum-likelihood estimate (natural scale);
* ``se``: its standard error (delta method), ``rse_percent`` = 100 se / |estimate|;
* ``se_estimation_scale``: the SE on the scale the optimiser used (log for typical values,
  omega and sigma: approximately the RSE as a fraction), NaN for correlations;
* ``ci95_low``, ``ci95_high``: 95% Wald interval computed on the estimation scale and
  transformed back (asymmetric for positive quantities), Fisher's z for correlations;
* ``cv_percent`` (IIV/IOV: ``100 sqrt(exp(omega^2) - 1)``) and ``shrinkage_percent`` (IIV:
  ``100 (1 - SD(EBE eta) / omega)``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from popkin.infer.laplace_space import PopulationSpace
from popkin.infer.table import cv_percent, shrinkage

Z95 = 1.959963984540054


def covariance(hessian: np.ndarray) -> tuple[np.ndarray | None, str]:
    """(cov(P) = 2 H^{-1}, message). None and the reason when H is not positive
    definite (a parameter not identified, or not at a minimum)."""
    h = 0.5 * (np.asarray(hessian) + np.asarray(hessian).T)
    if not np.all(np.isfinite(h)):
        return None, "the Hessian of the OFV has non-finite entries"
    w = np.linalg.eigvalsh(h)
    if w[0] <= 0:
        return None, (f"the Hessian of the OFV is not positive definite (smallest eigenvalue {w[0]:.3g}): "
                      "some parameter is not identified or the fit is not at a minimum; simplify the model "
                      "(e.g. drop an omega that is estimated near 0) for standard errors")
    cond = w[-1] / w[0]
    msg = "" if cond < 1e12 else (f"the Hessian of the OFV is near singular (condition number {cond:.2g}); "
                                  "standard errors of weakly identified parameters are unreliable")
    return 2.0 * np.linalg.inv(h), msg


def _rows(space: PopulationSpace):
    """(row name, kind, unit, site, element index or (i, j) of a correlation)."""
    model = space.model
    thetas, coefs = set(model.thetas), set(model.coefficients())
    rows = []
    for s in space.sites:
        if s.name in thetas:
            rows.append((s.name, "typical", model.parameters[s.name].unit, s.name, None))
        elif s.name in coefs:
            rows.append((s.name, "covariate", "", s.name, None))
        elif s.name == "omega":
            rows += [(f"omega_{p}", "IIV", "log-SD", "omega", k) for k, p in enumerate(model.eta_names)]
        elif s.name.startswith("L_iiv"):
            block = model.iiv[int(s.name[len("L_iiv"):]) - 1]
            ps = block.parameters
            rows += [(f"corr_{a}_{b}", "correlation", "", s.name, (i, j))
                     for i, a in enumerate(ps) for j, b in enumerate(ps) if j > i]
        elif s.name == "omega_iov":
            rows += [(f"omega_iov_{p}", "IOV", "log-SD", "omega_iov", k) for k, p in enumerate(model.iov.parameters)]
        else:
            rows.append((s.name, "residual", "", s.name, None))
    return rows


def reported(space: PopulationSpace, u) -> jnp.ndarray:
    """The natural-scale quantities of the table rows, as a vector (differentiable)."""
    values = space.constrain(u)
    out = []
    for _, _, _, site, idx in _rows(space):
        v = values[site]
        if isinstance(idx, tuple):
            corr = v @ v.T
            out.append(corr[idx])
        elif idx is not None:
            out.append(v[idx])
        else:
            out.append(jnp.reshape(v, ()))
    return jnp.stack(out)


def _estimation_se(space: PopulationSpace, cov_u):
    """Per row: (scale, unconstrained value index or None)."""
    index, k = {}, 0
    for s in space.sites:
        index[s.name] = (s, k)
        k += s.size
    se = np.sqrt(np.clip(np.diag(cov_u), 0, None)) if cov_u is not None else None
    out = []
    for _, _, _, site, idx in _rows(space):
        s, start = index[site]
        if s.elementwise:
            j = start + (idx if isinstance(idx, int) else 0)
            out.append((s, j, np.nan if se is None else se[j]))
        else:
            out.append((s, None, np.nan))
    return out


def laplace_table(space: PopulationSpace, u, cov_u: np.ndarray | None, posterior) -> pd.DataFrame:
    """The parameter table (see the module docstring). ``u``: the estimate on the
    estimation scale; ``cov_u``: its covariance or None; ``posterior``: the one-draw
    posterior group (for shrinkage)."""
    u = jnp.asarray(u)
    est = np.asarray(jax.jit(lambda v: reported(space, v))(u))
    if cov_u is not None:
        jac = np.asarray(jax.jit(jax.jacfwd(lambda v: reported(space, v)))(u))
        cov_g = jac @ cov_u @ jac.T
        se = np.sqrt(np.clip(np.diag(cov_g), 0, None))
    else:
        se = np.full(est.shape, np.nan)
    shrink = shrinkage(posterior, space.model.eta_names) if "eta" in posterior else {}
    records = []
    for (name, kind, unit, _, idx), e, s, (site, j, se_u) in zip(_rows(space), est, se, _estimation_se(space, cov_u)):
        rec = {"parameter": name, "kind": kind, "unit": unit, "estimate": float(e), "se": float(s),
               "rse_percent": float(100.0 * s / abs(e)) if e != 0 else np.nan,
               "se_estimation_scale": float(se_u)}
        if j is not None:
            lo_hi = [float(site.element_transform(jnp.asarray(float(u[j]) + z * se_u))) for z in (-Z95, Z95)]
        elif kind == "correlation":
            zr = np.arctanh(np.clip(e, -1 + 1e-12, 1 - 1e-12))
            se_z = s / max(1.0 - e * e, 1e-12)
            lo_hi = [float(np.tanh(zr - Z95 * se_z)), float(np.tanh(zr + Z95 * se_z))]
        else:
            lo_hi = [e - Z95 * s, e + Z95 * s]
        rec["ci95_low"], rec["ci95_high"] = lo_hi
        if kind in ("IIV", "IOV"):
            rec["cv_percent"] = float(cv_percent(e))
        if kind == "IIV":
            rec["shrinkage_percent"] = shrink.get(name[len("omega_"):], np.nan)
        records.append(rec)
    table = pd.DataFrame.from_records(records).set_index("parameter")
    table.attrs["method"] = "laplace"
    return table

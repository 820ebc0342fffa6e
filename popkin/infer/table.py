"""The parameter table and the convergence warnings.

Rows (index ``parameter``), in this order: typical values (``CL``), covariate
coefficients (``CL_WT``), IIV SDs (``omega_CL``, log scale), IIV correlations
(``corr_CL_V``), IOV SDs (``omega_iov_CL``), residual SDs (``sigma_prop``).

Columns: ``kind`` (typical, covariate, IIV, correlation, IOV, residual), ``unit``,
``median``, ``q05``, ``q95`` (90% equal-tailed posterior interval), ``rhat`` (rank-
normalised split R-hat), ``ess_bulk``, ``ess_tail``, ``cv_percent`` (IIV/IOV only:
``100 * sqrt(exp(omega^2) - 1)``, the CV of a log-normal parameter, at the median and
interval ends of omega) and ``shrinkage_percent`` (IIV only: ``100 * (1 - SD_i(E[eta_i]) /
omega)``, Savic & Karlsson 2009, with omega at its posterior median).

A MAP table has ``mode`` instead of the posterior summaries and diagnostics, and for
IIV rows ``eta_sd``, the SD over subjects of the etas at the mode, in place of CV% and
shrinkage: omegas at a joint mode are not estimates (``popkin.infer.map``).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from popkin.model import PopulationModel

RHAT_MAX = 1.01
ESS_BULK_MIN = 400


def cv_percent(omega):
    """CV% of a log-normal parameter with log-scale SD ``omega``."""
    return 100.0 * np.sqrt(np.expm1(np.asarray(omega, dtype=float) ** 2))


def draw_summary(draws) -> dict:
    """Median, 90 % equal-tailed interval, R-hat and bulk/tail ESS of one quantity's
    draws (chains, draws), as the parameter table reports them: for quantities derived
    from the posterior after the fit (e.g. KM = VM/CLINT)."""
    a = np.asarray(draws, dtype=float)
    return {"median": float(np.median(a)), "q05": float(np.quantile(a, 0.05)), "q95": float(np.quantile(a, 0.95)),
            "rhat": float(az.rhat(a)), "ess_bulk": float(az.ess(a)), "ess_tail": float(az.ess(a, method="tail"))}


def _rows(model: PopulationModel, posterior) -> list[tuple[str, str, str, object]]:
    """(row name, kind, unit, selector) where selector picks the draws from ``posterior``."""
    rows = [(n, "typical", model.parameters[n].unit, (n, {})) for n in model.thetas]
    rows += [(s, "covariate", "", (s, {})) for s in model.coefficients()]
    rows += [(f"omega_{p}", "IIV", "log-SD", ("omega", {"iiv": p})) for p in model.eta_names]
    for block in model.iiv:
        if block.correlated:
            ps = block.parameters
            rows += [(f"corr_{a}_{b}", "correlation", "", ("corr_iiv", {"iiv": a, "iiv_bis": b}))
                     for i, a in enumerate(ps) for b in ps[i + 1:]]
    if model.iov is not None:
        rows += [(f"omega_iov_{p}", "IOV", "log-SD", ("omega_iov", {"iov": p})) for p in model.iov.parameters]
    rows += [(s, "residual", "", (s, {})) for s in model.sigma_sites()]
    return [r for r in rows if r[3][0] in posterior]


def shrinkage(posterior, names: tuple[str, ...]) -> dict[str, float]:
    """Eta shrinkage (%) per IIV parameter from the posterior (or a one-draw mode)."""
    if not names:
        return {}
    eta_mean = posterior["eta"].mean(("chain", "draw"))
    omega = posterior["omega"].median(("chain", "draw"))
    return {p: float(100.0 * (1.0 - eta_mean.sel(iiv=p).std(ddof=1) / omega.sel(iiv=p))) for p in names}


def parameter_table(model: PopulationModel, idata, method: str) -> pd.DataFrame:
    """The parameter table of a fit (see the module docstring)."""
    post = idata.posterior
    rows = _rows(model, post)
    sampled = method != "map"
    shrink = shrinkage(post, model.eta_names) if sampled else {}
    if sampled:
        rhat = az.rhat(idata)
        ess_bulk = az.ess(idata, method="bulk")
        ess_tail = az.ess(idata, method="tail")
    records = []
    for name, kind, unit, (var, sel) in rows:
        draws = post[var].sel(sel).values.ravel()
        rec = {"parameter": name, "kind": kind, "unit": unit}
        if sampled:
            rec.update(median=float(np.median(draws)), q05=float(np.quantile(draws, 0.05)),
                       q95=float(np.quantile(draws, 0.95)), rhat=float(rhat[var].sel(sel)),
                       ess_bulk=float(ess_bulk[var].sel(sel)), ess_tail=float(ess_tail[var].sel(sel)))
        else:
            rec["mode"] = float(draws[0])
        if kind in ("IIV", "IOV") and sampled:
            rec["cv_percent"] = float(cv_percent(rec["median"]))
            rec["cv_q05"], rec["cv_q95"] = float(cv_percent(rec["q05"])), float(cv_percent(rec["q95"]))
        if kind == "IIV" and sampled:
            rec["shrinkage_percent"] = shrink[name[len("omega_"):]]
        if kind == "IIV" and not sampled:
            rec["eta_sd"] = float(post["eta"].sel(iiv=name[len("omega_"):]).values.ravel().std(ddof=1))
        records.append(rec)
    table = pd.DataFrame.from_records(records).set_index("parameter")
    table.attrs["method"] = method
    return table


def convergence_warnings(idata, table: pd.DataFrame, max_tree_depth: int | None) -> list[str]:
    """Messages for divergences, R-hat > 1.01, bulk ESS < 400 and saturated trees."""
    msgs = []
    stats = getattr(idata, "sample_stats", None)
    if stats is not None and "diverging" in stats:
        div = int(stats["diverging"].values.sum())
        if div:
            total = stats["diverging"].size
            msgs.append(f"{div} divergent transition(s) after warm-up ({100 * div / total:.1f}% of draws): the "
                        "posterior may be biased; raise target_accept (e.g. 0.95) or revisit priors/"
                        "parameterisation (weakly identified IIV, omega near 0)")
    if "rhat" in table:
        bad = table[table["rhat"] > RHAT_MAX]
        if len(bad):
            msgs.append(f"R-hat > {RHAT_MAX} for {', '.join(f'{i} ({r:.3f})' for i, r in bad['rhat'].items())}: "
                        "chains disagree; run longer (more warmup/draws) and check for multimodality")
        eta_rhat = az.rhat(idata, var_names=["eta"])["eta"] if "eta" in idata.posterior else None
        if eta_rhat is not None and float(eta_rhat.max()) > RHAT_MAX:
            msgs.append(f"R-hat > {RHAT_MAX} for some individual etas (max {float(eta_rhat.max()):.3f}); "
                        "run longer")
    if "ess_bulk" in table:
        low = table[table["ess_bulk"] < ESS_BULK_MIN]
        if len(low):
            msgs.append(f"bulk ESS < {ESS_BULK_MIN} for {', '.join(f'{i} ({e:.0f})' for i, e in low['ess_bulk'].items())}: "
                        "intervals are imprecise; run more draws")
    if stats is not None and "n_steps" in stats and max_tree_depth:
        hit = float((stats["n_steps"].values >= 2 ** max_tree_depth - 1).mean())
        if hit > 0.01:
            msgs.append(f"{100 * hit:.1f}% of iterations hit the maximum tree depth ({max_tree_depth}): "
                        "sampling is inefficient; check for strongly correlated or poorly scaled parameters "
                        "(with rich data per subject, try parameterization='centered'; for correlated typical "
                        "values, dense_mass='typical')")
    return msgs

"""Normalised prediction distribution errors (NPDE; Brendel et al. 2006, Pharm Res 23:2036;
Comets, Brendel & Mentre 2008, Comput Methods Programs Biomed 90:154).

For subject i with observations y_i and K simulated replicates Y_i^(k) of the same design
(``popkin.diagnostics.replicates``: new individuals from the fitted population):

1. E_i = mean_k Y_i^(k), V_i = cov_k Y_i^(k) (over the subject's fitted observations);
2. decorrelate with the Cholesky factor V_i = L_i L_i': y*_i = L_i^{-1} (y_i - E_i), and
   the same for every replicate, Y*_i^(k) = L_i^{-1} (Y_i^(k) - E_i) (the npde package's
   default);
3. pde_ij = (1/K) #{k : Y*_ij^(k) < y*_ij}, set to 1/(2K) when 0 and 1 - 1/(2K) when 1;
4. npde_ij = Phi^{-1}(pde_ij).

With the model right, NPDE are independent N(0, 1). ``pd`` (prediction discrepancies,
step 3 without the decorrelation) is reported alongside. BLQ records are left out (NaN):
imputing them (npde's "cdf" method) is not implemented.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular
from scipy.special import ndtri

from popkin.diagnostics.estimates import Estimates
from popkin.diagnostics.replicates import simulate_replicates


def npde_values(dv: np.ndarray, sims: np.ndarray, subject: np.ndarray,
                use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(npde, pd) per observation.

    dv: (n,) observations; sims: (K, n) replicates; subject: (n,) subject index of each
    observation; use: (n,) bool, the observations to include (others get NaN).
    """
    k = sims.shape[0]
    npde = np.full(dv.shape, np.nan)
    pd_ = np.full(dv.shape, np.nan)
    for s in np.unique(subject[use]):
        idx = np.flatnonzero((subject == s) & use)
        y, ys = dv[idx], sims[:, idx]
        mean = ys.mean(axis=0)
        pd_[idx] = _clip((ys < y).mean(axis=0), k)
        cov = np.atleast_2d(np.cov(ys, rowvar=False))
        chol = np.linalg.cholesky(cov)
        y_star = solve_triangular(chol, y - mean, lower=True)
        ys_star = solve_triangular(chol, (ys - mean).T, lower=True).T
        npde[idx] = ndtri(_clip((ys_star < y_star).mean(axis=0), k))
    return npde, pd_


def _clip(p, k):
    return np.clip(p, 1.0 / (2 * k), 1.0 - 1.0 / (2 * k))


def npde_table(estimates: Estimates, n_replicates: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per fitted observation: ID, ROW, TIME, DV, BLQ, NPDE, PD (see the module
    docstring); ``n_replicates`` K simulated data sets (1000 resolves pde to 1/1000)."""
    problem = estimates.problem
    obs = problem.observations.reset_index(drop=True)
    sims = simulate_replicates(estimates, n_replicates, seed)
    use = (obs["BLQ"].to_numpy() == 0) & np.isfinite(obs["DV"].to_numpy(float))
    npde, pd_ = npde_values(obs["DV"].to_numpy(float), sims, obs["_subject"].to_numpy(), use)
    frame = obs[["ID", "ROW", "TIME", "DV", "BLQ"]].copy()
    frame["NPDE"], frame["PD"] = npde, pd_
    return frame


def npde_summary(values: np.ndarray) -> dict:
    """Mean, variance, and the two-sided p-values of the t-test of mean 0, the
    chi-square test of variance 1 (n - 1 degrees of freedom) and the Shapiro-Wilk test of
    normality (Comets et al. 2008's global tests; no multiplicity correction here)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = v.size
    var = float(np.var(v, ddof=1))
    chi2 = (n - 1) * var
    p_var = 2 * min(stats.chi2.cdf(chi2, n - 1), stats.chi2.sf(chi2, n - 1))
    return {"n": n, "mean": float(v.mean()), "variance": var,
            "p_mean": float(stats.ttest_1samp(v, 0.0).pvalue), "p_variance": float(min(p_var, 1.0)),
            "p_normal": float(stats.shapiro(v).pvalue) if 3 <= n <= 5000 else float("nan")}

"""When the benchmark calls a NUTS run converged, on either engine.

The ESS-per-second ratios compare engines only when both engines' draws are usable.
The rule is applied alike to popkin's and Stan's draws.

* Population parameters (typical values, IIV SDs and correlations, residual SDs; a
  dozen coordinates): max R-hat < 1.01 and min bulk ESS >= 100 per chain (Vehtari et
  al. 2021, Bayesian Analysis 16(2), "Rank-normalization, folding, and localization").
* Individual coordinates (one per subject and IIV term: 3,000 at N = 1000): min bulk ESS
  >= 100 per chain, and max R-hat < 1.01 or, failing that, a max R-hat that chains which
  sample the target exactly would reach with probability >= 0.05 (``max_rhat_null_p``),
  each coordinate's bulk and folded R-hat with the ESS its chains have on their own of
  that R-hat's quantity: the sum over chains of each chain's bulk ESS
  (``within_chain_ess``) of the draws and of the folded draws (below). Not the usual ESS of all chains
  together: a chain stuck away from the others lowers that estimate as much as it
  raises R-hat, so it would excuse itself.
  The 1.01 rule alone cannot be met at N = 1000: over 3,010 coordinates of exactly
  mixing chains of 2 x 500 draws it failed in 17 of 20 simulated runs at ESS 980 per
  coordinate, and in 20 of 20 at ESS 540 (max R-hat 1.016-1.039).

The null distribution (derivation). Split R-hat with M = 2 x chains halves of n draws is
R^2 = (n - 1)/n + B/(n W), where B/n is the variance of the M half-means and W the mean
within-half variance. If a coordinate's draws come from the target with bulk ESS e,
spread evenly over the halves, each half-mean has variance sigma^2 M / e. Then
B/n ~ sigma^2 (M / e) X / (M - 1) with X ~ chi^2(M - 1), and W ~ sigma^2, so

    P(R < r) = F_chi2(M-1)((M - 1) e (r^2 - (n - 1)/n) / M),

and over K independent coordinates P(max R < r) is the product.

Checked against simulated AR(1) chains (2 x 500 draws, 3,010 coordinates, 20 runs
each): median max R-hat 1.0111 / 1.0217 / 1.0473 from the formula against 1.0119 /
1.0211 / 1.0476 simulated, at ESS 980 / 540 / 256 per coordinate
(tests/benchmarks/test_harness.py repeats a smaller check).

arviz reports the larger of two R-hats per coordinate: the bulk one (of the
rank-normalised draws) and the folded one (of |draw - median|, a statistic of spread).
Each has the null above with the ESS of its own quantity, so the product runs over both:
the within-chain ESS of the draws and that of the folded draws (``folded``). The folded
quantity's ESS can be far smaller. On the N = 1000 rich draws of 2026-12-04 (2 x 500,
both engines) the bulk ESS had a median of about 2,000 (NUTS's draws of a location are
anticorrelated) and the folded one about 480; every R-hat over 1.01 was a folded one
(max 1.028), and the bulk R-hats stayed under 1.004. Judged at the bulk ESS alone,
p was 1e-8 on both engines; at each quantity's own ESS, 0.70 (popkin) and 0.57 (Stan).

One approximation remains:
* Correlated coordinates act as fewer independent ones, so the exact null's maximum is
  lower than the product says and the test is lenient. The etas of different subjects
  are nearly independent given the population parameters.
"""

from __future__ import annotations

import numpy as np

RHAT_MAX = 1.01
MIN_ESS_PER_CHAIN = 100
NULL_P_MIN = 0.05


def max_rhat_null_p(max_rhat: float, ess, draws: int, chains: int) -> float:
    """P(max R-hat >= ``max_rhat``) over coordinates with bulk ESS ``ess`` (array, one
    per coordinate) if the chains (``chains`` x ``draws`` each) sampled the target
    exactly (module docstring)."""
    from scipy.stats import chi2

    n, m = draws // 2, 2 * chains
    ess = np.asarray(ess, float)
    x = (m - 1) * ess * (max_rhat ** 2 - (n - 1) / n) / m
    log_all_below = np.sum(chi2.logcdf(np.maximum(x, 0.0), m - 1))
    return float(-np.expm1(log_all_below))


def folded(arr) -> np.ndarray:
    """|draws - median| of each column of ``arr`` (chains, draws, n), the median over all
    chains and draws: the quantity whose R-hat is arviz's folded R-hat."""
    arr = np.asarray(arr, float)
    return np.abs(arr - np.median(arr, axis=(0, 1), keepdims=True))


def within_chain_ess(arr) -> np.ndarray:
    """Per column of ``arr`` (chains, draws, n): the sum over chains of the bulk ESS of
    each chain alone (arviz)."""
    import arviz as az

    arr = np.asarray(arr, float)
    return sum(np.asarray(az.ess(az.convert_to_dataset({"x": arr[c:c + 1]}), method="bulk")["x"].values, float)
               for c in range(arr.shape[0]))


def judge(pop_ess, pop_rhat, ind_ess, ind_rhat, ind_within_ess, *, draws: int, chains: int) -> dict:
    """The rule of the module docstring. ``ind_*``: the individual coordinates' bulk ESS,
    R-hat (arviz's: the larger of bulk and folded) and ``ind_within_ess``, one
    within-chain ESS per R-hat statistic (the draws' and the folded draws'; empty
    without IIV). Returns ``converged``,
    ``converged_strict`` (max R-hat < 1.01 over every coordinate) and the individual
    coordinates' numbers."""
    min_ess = MIN_ESS_PER_CHAIN * chains
    pop_ok = bool(np.nanmax(pop_rhat) < RHAT_MAX and np.min(pop_ess) >= min_ess)
    out = {"converged_strict": pop_ok}
    ind_ess, ind_rhat = np.asarray(ind_ess, float), np.asarray(ind_rhat, float)
    if ind_ess.size == 0:
        return dict(out, converged=pop_ok)
    top = float(np.nanmax(ind_rhat))
    within = np.asarray(ind_within_ess, float)
    p = 1.0 if top < RHAT_MAX else max_rhat_null_p(top, within, draws, chains)
    ind_ess_ok = bool(np.min(ind_ess) >= min_ess)
    out.update(
        converged_strict=bool(pop_ok and ind_ess_ok and top < RHAT_MAX),
        converged=bool(pop_ok and ind_ess_ok and p >= NULL_P_MIN),
        individual={"coordinates": int(ind_ess.size), "max_rhat": top,
                    "over_1_01": int(np.sum(ind_rhat >= RHAT_MAX)), "min_ess_bulk": float(np.min(ind_ess)),
                    "median_ess_bulk": float(np.median(ind_ess)),
                    "median_within_chain_ess": float(np.median(within)), "max_rhat_null_p": p})
    return out

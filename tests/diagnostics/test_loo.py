"""LOO model comparison: the tidy table against arviz, subject-level LOO, Pareto-k
warnings (fast, on exact conjugate posteriors), and LOO preferring the true model over a
wrong one on simulated data (slow: two NUTS fits)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from popkin.diagnostics import loo_table, pareto_k_warnings
from popkin.infer.result import FitResult

rng = np.random.default_rng(11)
N_SUBJ, PER = 20, 5
Y = rng.normal(0.5, 1.0, size=N_SUBJ * PER)          # y ~ N(0.5, 1), known unit variance
IDS = np.repeat(np.arange(1, N_SUBJ + 1), PER)


def fit_result(log_lik: np.ndarray, mu: np.ndarray, ids=IDS) -> FitResult:
    """A FitResult holding posterior draws of mu (chains, draws) and the pointwise
    log-likelihood (chains, draws, n)."""
    idata = az.from_dict(posterior={"mu": mu}, log_likelihood={"y": log_lik},
                         constant_data={"ID": ids}, dims={"y": ["observation"], "ID": ["observation"]})
    return FitResult(idata, pd.DataFrame(), "nuts")


def normal_mean_fit(y, sd=1.0, prior_sd=10.0, draws=(4, 500), ids=IDS):
    """Exact conjugate posterior of mu for y ~ N(mu, sd^2) (sd known, prior N(0, prior_sd^2));
    log-likelihood per observation."""
    post_var = 1.0 / (1.0 / prior_sd ** 2 + y.size / sd ** 2)
    post_mean = post_var * np.sum(y) / sd ** 2
    mu = rng.normal(post_mean, np.sqrt(post_var), size=draws)
    return fit_result(stats.norm.logpdf(y[None, None, :], mu[..., None], sd), mu, ids)


def test_table_matches_arviz_and_prefers_the_right_model():
    right = normal_mean_fit(Y)
    wrong = normal_mean_fit(Y, sd=3.0)             # residual SD three times too large
    table = loo_table({"right": right, "wrong": wrong})
    assert list(table.index) == ["right", "wrong"]
    assert table.loc["right", "rank"] == 0 and table.loc["right", "elpd_diff"] == 0.0
    ref = az.loo(right.idata)
    assert table.loc["right", "elpd_loo"] == pytest.approx(float(ref.elpd_loo), rel=1e-12)
    assert table.loc["right", "se"] == pytest.approx(float(ref.se), rel=1e-12)
    assert table.loc["right", "looic"] == pytest.approx(-2 * float(ref.elpd_loo), rel=1e-12)
    assert table.loc["wrong", "elpd_loo"] == pytest.approx(float(az.loo(wrong.idata).elpd_loo), rel=1e-12)
    diff = table.loc["wrong", "elpd_diff"]
    assert diff == pytest.approx(table.loc["right", "elpd_loo"] - table.loc["wrong", "elpd_loo"], rel=1e-9)
    assert diff > 4 * table.loc["wrong", "dse"]
    # one parameter estimated from 100 points: p_loo ~ 1
    assert 0.7 < table.loc["right", "p_loo"] < 1.3
    assert table["n_high_k"].sum() == 0 and not pareto_k_warnings(table)


def test_subject_level_loo_sums_each_subjects_loglik():
    right = normal_mean_fit(Y)
    table = loo_table({"right": right}, by="subject")
    assert table.loc["right", "n_data"] == N_SUBJ and table.attrs["by"] == "subject"
    ll = right.idata.log_likelihood["y"].values
    summed = ll.reshape(ll.shape[:2] + (N_SUBJ, PER)).sum(axis=-1)
    ref = az.loo(az.from_dict(posterior={"mu": right.idata.posterior["mu"].values},
                              log_likelihood={"y": summed}))
    assert table.loc["right", "elpd_loo"] == pytest.approx(float(ref.elpd_loo), rel=1e-12)


def test_pareto_k_warning_on_an_influential_observation():
    # 4 observations and a gross outlier: leaving the outlier out moves the posterior of mu
    # by ~8 posterior SDs, so its importance weights are heavy-tailed (high Pareto k)
    y = np.array([0.1, -0.3, 0.4, 0.0, 40.0])
    fit = normal_mean_fit(y, ids=np.arange(1, 6))
    table = loo_table({"outlier": fit})
    assert table.loc["outlier", "n_high_k"] >= 1
    assert "Pareto k" in pareto_k_warnings(table)[0] and "K-fold" in table.loc["outlier", "warning"]


def test_loo_needs_draws():
    single = fit_result(np.zeros((1, 1, IDS.size)), np.zeros((1, 1)))
    single.method = "laplace"
    with pytest.raises(Exception, match="posterior draws"):
        loo_table({"a": single})


@pytest.mark.slow
def test_loo_prefers_the_true_two_compartment_model(tmp_path):
    """Two-compartment truth (simulated with the closed-form triexponential): NUTS fits of
    a one- and a two-compartment model; subject-level LOO prefers the two-compartment model
    by more than 2 SE of the difference."""
    from popkin.data import read
    from popkin.infer import NUTSOptions, fit
    from popkin.model import IIV, CombinedError, PopulationModel, Theta

    frame = two_compartment_trial()
    data = read(frame)
    err = CombinedError(add=0.02, prop=0.1)
    one = PopulationModel("1cmt-oral", {"CL": Theta(3.0, "L/h"), "V": Theta(40.0, "L"), "KA": Theta(1.0, "1/h")},
                          error=err, iiv=IIV(("CL", "V")))
    two = PopulationModel("2cmt-oral", {"CL": Theta(3.0, "L/h"), "V1": Theta(20.0, "L"), "Q": Theta(4.0, "L/h"),
                                        "V2": Theta(40.0, "L"), "KA": Theta(1.0, "1/h")},
                          error=err, iiv=IIV(("CL", "V1")))
    opts = NUTSOptions(chains=2, warmup=200, draws=200, progress=False, seed=1)
    fits = {"1cmt": fit(one, data, options=opts), "2cmt": fit(two, data, options=opts)}
    table = loo_table(fits, by="subject")
    assert table.index[0] == "2cmt"
    assert table.loc["1cmt", "elpd_diff"] > 2 * table.loc["1cmt", "dse"]


def two_compartment_oral(t, dose, cl, v1, q, v2, ka):
    """Closed-form central concentration of the two-compartment model after an oral dose."""
    k10, k12, k21 = cl / v1, q / v1, q / v2
    s = k10 + k12 + k21
    alpha = (s + np.sqrt(s * s - 4 * k10 * k21)) / 2
    beta = (s - np.sqrt(s * s - 4 * k10 * k21)) / 2
    a = (k21 - alpha) / ((ka - alpha) * (beta - alpha))
    b = (k21 - beta) / ((ka - beta) * (alpha - beta))
    c = (k21 - ka) / ((alpha - ka) * (beta - ka))
    return dose * ka / v1 * (a * np.exp(-alpha * t) + b * np.exp(-beta * t) + c * np.exp(-ka * t))


def two_compartment_trial(n: int = 16, seed: int = 4) -> pd.DataFrame:
    """n subjects, 100 mg oral, 10 samples to 48 h; CL 3, V1 20, Q 4, V2 40, KA 1.5; IIV
    30% on CL and V1; combined error (0.02 mg/L, 10%)."""
    rng = np.random.default_rng(seed)
    times = np.array([0.25, 0.5, 1, 2, 4, 6, 8, 12, 24, 48])
    rows = []
    for i in range(1, n + 1):
        cl, v1 = 3.0 * np.exp(rng.normal(0, 0.3)), 20.0 * np.exp(rng.normal(0, 0.3))
        f = two_compartment_oral(times, 100.0, cl, v1, 4.0, 40.0, 1.5)
        y = f + np.sqrt(0.02 ** 2 + (0.1 * f) ** 2) * rng.normal(size=times.size)
        rows.append({"ID": i, "TIME": 0.0, "AMT": 100.0, "DV": np.nan, "EVID": 1, "MDV": 1, "CMT": 1})
        rows += [{"ID": i, "TIME": t, "AMT": 0.0, "DV": v, "EVID": 0, "MDV": 0, "CMT": 2} for t, v in zip(times, y)]
    return pd.DataFrame(rows)

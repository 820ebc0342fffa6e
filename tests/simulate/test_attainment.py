"""Exposure percentiles and target attainment against exact answers.

With IIV on CL only, AUCtau,ss = Dose / CL exactly (F = 1), so log AUC ~ N(log(D / CL_tv),
omega^2): percentiles and window probabilities are known in closed form. Monte-Carlo
tolerances are stated per test (n patients -> standard error sqrt(p (1 - p) / n))."""

import numpy as np
import pytest
from scipy.stats import norm

from popkin.dosing import bid
from popkin.simulate import FixedPopulation, Settings, simulate
from popkin.simulate.summary import Target, attainment, summarise
from tests.simulate.test_chunking import _fake_posterior

TINY = {"V": 1e-9, "KA": 1e-9}          # no IIV on V and KA (same compiled model as oral1)


@pytest.fixture(scope="module")
def cl_only(oral1):
    pop = FixedPopulation(oral1, {"omega": {"CL": 0.3, **TINY}})
    return simulate(pop, {"100 mg BID": bid(100, days=7), "150 mg BID": bid(150, days=7)},
                    Settings(n=16384, seed=21, chunk=1024))


def exact_p(dose, lo, hi, cl=5.0, omega=0.3):
    mu = np.log(dose / cl)
    return norm.cdf((np.log(hi) - mu) / omega) - norm.cdf((np.log(lo) - mu) / omega)


def test_attainment_matches_the_log_normal_probability(cl_only):
    target = Target("auc", 15.0, 30.0)
    table = attainment(cl_only, [target]).set_index("arm")
    n = 16384
    for arm, dose in (("100 mg BID", 100.0), ("150 mg BID", 150.0)):
        p = exact_p(dose, 15.0, 30.0)
        se = np.sqrt(p * (1 - p) / n)
        got = table.loc[arm]
        assert abs(got["probability"] - p) < 4 * se, (arm, got["probability"], p)
        assert got["mcse"] == pytest.approx(se, rel=0.05)
        assert np.isnan(got["lower"]) and np.isnan(got["upper"])     # one draw: no parameter uncertainty


def test_percentiles_match_the_log_normal_quantiles(cl_only):
    """5th/50th/95th percentiles of AUC within 3% (sample quantile SE at n = 16384 is
    about 1% for these)."""
    table = summarise(cl_only, ("auc", "cav"), (5, 50, 95))
    for q in (5, 50, 95):
        exact = 100.0 / 5.0 * np.exp(norm.ppf(q / 100) * 0.3)
        got = table[(table.arm == "100 mg BID") & (table.metric == "auc") & (table.percentile == q)]["value"].item()
        assert got == pytest.approx(exact, rel=0.03)
        cav = table[(table.arm == "100 mg BID") & (table.metric == "cav") & (table.percentile == q)]["value"].item()
        assert cav == pytest.approx(got / 12.0, rel=1e-9)


def test_one_sided_targets():
    t = Target("ctrough", low=1.0)
    assert t.name == "ctrough>=1"
    np.testing.assert_array_equal(t.hit(np.array([0.5, 1.0, 2.0])), [False, True, True])
    t = Target("cmax", high=3.0)
    np.testing.assert_array_equal(t.hit(np.array([2.9, 3.0, 3.1])), [True, True, False])
    with pytest.raises(ValueError):
        Target("auc")
    with pytest.raises(ValueError):
        Target("auc", 5.0, 1.0)


def test_uncertainty_across_posterior_draws(oral1):
    """Three posterior draws with typical CL 4, 5, 6: each draw's attainment is the exact
    log-normal probability of that draw (4 SE), and the reported interval spans the
    per-draw values (5th-95th percentile of three numbers)."""
    source = _fake_posterior(oral1, [4.0, 5.0, 6.0])
    sim = simulate(source, {"100 mg BID": bid(100, days=7)}, Settings(n=4096, seed=2, chunk=1024))
    target = Target("auc", 15.0, 30.0)
    hits = target.hit(sim.values("100 mg BID", "auc")).mean(axis=1)
    # omega is 0.3 on CL, V and KA here; AUC depends on CL only
    exact = np.array([exact_p(100.0, 15.0, 30.0, cl) for cl in (4.0, 5.0, 6.0)])
    assert np.all(np.abs(hits - exact) < 4 * np.sqrt(exact * (1 - exact) / 4096))
    row = attainment(sim, [target]).iloc[0]
    assert row["probability"] == pytest.approx(np.median(hits))
    assert row["lower"] == pytest.approx(np.percentile(hits, 5))
    assert row["upper"] == pytest.approx(np.percentile(hits, 95))

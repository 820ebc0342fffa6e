"""Seeding and chunking: results depend on the seed and on nothing else (not on the chunk
size), one compiled function serves every chunk, and posterior draws are honoured."""

import arviz as az
import numpy as np
import pytest

from popkin.dosing import bid, qd
from popkin.simulate import FixedPopulation, PosteriorPopulation, Settings, simulate, virtual_patients
from popkin.simulate.run import _given_jit, _parameters_jit

REGIMENS = {"100 mg BID": bid(100, days=7), "250 mg QD": qd(250, days=7)}


@pytest.fixture(scope="module")
def reference(oral1):
    return simulate(FixedPopulation(oral1), REGIMENS, Settings(n=100, seed=7, chunk=64, thresholds=(1.0,)))


def test_results_do_not_depend_on_chunk_size(oral1, reference):
    """Same seed, chunks of 64 (two chunks, the second padded) and of 128 (one padded
    chunk): the same patients, so the same metrics. Tolerance 1e-12 relative: the
    arithmetic per patient is identical, only XLA's vectorisation may differ in the
    last bit."""
    other = simulate(FixedPopulation(oral1), REGIMENS, Settings(n=100, seed=7, chunk=128, thresholds=(1.0,)))
    for arm in REGIMENS:
        for name, values in reference.metrics[arm].items():
            np.testing.assert_allclose(other.metrics[arm][name], values, rtol=1e-12, atol=1e-14, err_msg=name)


def test_seed_changes_patients_and_a_prefix_is_stable(oral1, reference):
    """A different seed gives different patients; the first 64 patients of a 64-patient
    run are the first 64 of the 100-patient run (patient i's draws depend on i only)."""
    other = simulate(FixedPopulation(oral1), REGIMENS, Settings(n=64, seed=8, chunk=64, thresholds=(1.0,)))
    assert not np.allclose(other.metrics["100 mg BID"]["auc"], reference.metrics["100 mg BID"]["auc"][:64])
    prefix = simulate(FixedPopulation(oral1), REGIMENS, Settings(n=64, seed=7, chunk=64, thresholds=(1.0,)))
    np.testing.assert_allclose(prefix.metrics["100 mg BID"]["auc"], reference.metrics["100 mg BID"]["auc"][:64],
                               rtol=1e-12)


def test_one_compilation_serves_every_chunk_and_arm(oral1):
    """After a first run, a run with more chunks and both arms compiles nothing new."""
    settings = Settings(n=64, seed=1, chunk=64)
    simulate(FixedPopulation(oral1), REGIMENS, settings)
    before = (_given_jit._cache_size(), _parameters_jit._cache_size())
    simulate(FixedPopulation(oral1), REGIMENS, Settings(n=300, seed=2, chunk=64))
    assert (_given_jit._cache_size(), _parameters_jit._cache_size()) == before


def test_virtual_patients_have_the_population_distribution(oral1):
    """Individual parameters: log CL ~ N(log 5, 0.3^2); 4000 patients put the sample
    mean within 4 standard errors and the SD within 5%."""
    pats = virtual_patients(FixedPopulation(oral1), Settings(n=4000, seed=3, chunk=1024))
    for name, tv in (("CL", 5.0), ("V", 50.0), ("KA", 1.5)):
        log = np.log(pats[name].to_numpy())
        assert abs(log.mean() - np.log(tv)) < 4 * 0.3 / np.sqrt(4000)
        assert abs(log.std() / 0.3 - 1) < 0.05


def _fake_posterior(oral1, cl_values):
    d = len(cl_values)
    post = {"CL": np.asarray(cl_values, float).reshape(1, d), "V": np.full((1, d), 50.0),
            "KA": np.full((1, d), 1.5), "omega": np.full((1, d, 3), 0.3), "sigma_prop": np.full((1, d), 0.15)}
    idata = az.from_dict(posterior=post, dims={"omega": ["iiv"]}, coords={"iiv": ["CL", "V", "KA"]})
    return PosteriorPopulation.from_idata(oral1, idata)


def test_posterior_population_assigns_patients_to_draws(oral1):
    """n patients per draw, patient i in draw i // n, and each draw's typical CL used:
    the median AUC of draw d is close to dose / CL_d (median of a log-normal)."""
    source = _fake_posterior(oral1, [2.0, 5.0, 10.0])
    sim = simulate(source, {"100 mg BID": bid(100, days=7)}, Settings(n=400, seed=4, chunk=128))
    assert sim.n_draws == 3
    np.testing.assert_array_equal(sim.draw, np.repeat([0, 1, 2], 400))
    med = np.median(sim.values("100 mg BID", "auc"), axis=1)
    np.testing.assert_allclose(med, 100.0 / np.array([2.0, 5.0, 10.0]), rtol=0.06)


def test_thinning_posterior_draws(oral1):
    source = PosteriorPopulation(_fake_posterior(oral1, np.linspace(2, 10, 9)).fit, n_draws=3)
    np.testing.assert_allclose(source.sites()["CL"], [2.0, 6.0, 10.0])

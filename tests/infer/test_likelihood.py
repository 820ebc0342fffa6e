"""The residual-error distribution against scipy.stats (independent reference)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from popkin.infer.likelihood import Residual


def _dist(pred, add, prop, log=False, observed=None, censored=None, limit=None, censoring=True):
    pred = jnp.asarray(pred, float)
    shape = pred.shape
    full = lambda v: jnp.broadcast_to(jnp.asarray(v), shape)  # noqa: E731
    return Residual(pred, full(jnp.asarray(add, float)), full(jnp.asarray(prop, float)), full(bool(log)),
                    full(True) if observed is None else jnp.asarray(observed),
                    full(False) if censored is None else jnp.asarray(censored),
                    full(1.0) if limit is None else jnp.asarray(limit, float), censoring=censoring)


# censoring=False: no record is censored, so the likelihood skips its M3 branch
# (``FitData.censoring``); the densities must be the same
@pytest.mark.parametrize("censoring", [True, False])
@pytest.mark.parametrize("add,prop", [(0.5, 0.0), (0.0, 0.2), (0.3, 0.15)])
def test_normal_errors_match_scipy(add, prop, censoring):
    f = np.array([[0.5, 2.0, 10.0]])
    y = np.array([[0.7, 1.5, 12.0]])
    got = np.asarray(_dist(f, add, prop, censoring=censoring).log_prob(jnp.asarray(y)))
    want = stats.norm.logpdf(y, loc=f, scale=np.sqrt(add ** 2 + (prop * f) ** 2))
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("censoring", [True, False])
def test_exponential_error_is_lognormal_density_of_y(censoring):
    f, y, sd = np.array([[2.0, 5.0]]), np.array([[2.5, 4.0]]), 0.3
    got = np.asarray(_dist(f, sd, 0.0, log=True, censoring=censoring).log_prob(jnp.asarray(y)))
    want = stats.lognorm.logpdf(y, s=sd, scale=f)   # density of Y (Jacobian included)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_censored_records_use_the_cdf_at_the_limit_m3():
    f = np.array([[0.8, 3.0]])
    censored = np.array([[True, True]])
    limit = np.array([[1.0, 1.0]])
    d = _dist(f, 0.2, 0.1, observed=~censored, censored=censored, limit=limit)
    got = np.asarray(d.log_prob(jnp.full((1, 2), jnp.nan)))    # DV of a BLQ record is irrelevant
    want = stats.norm.logcdf(limit, loc=f, scale=np.sqrt(0.2 ** 2 + (0.1 * f) ** 2))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    dl = _dist(f, 0.3, 0.0, log=True, observed=~censored, censored=censored, limit=limit)
    want_log = stats.norm.logcdf(np.log(limit), loc=np.log(f), scale=0.3)
    np.testing.assert_allclose(np.asarray(dl.log_prob(jnp.ones((1, 2)))), want_log, rtol=1e-10)


@pytest.mark.parametrize("censoring", [True, False])
def test_unobserved_records_contribute_nothing_and_nan_dv_is_harmless(censoring):
    f = np.array([[0.0, 2.0, 3.0]])
    observed = np.array([[False, True, False]])
    d = _dist(f, 0.1, 0.2, observed=observed, censoring=censoring)
    lp = d.log_prob(jnp.asarray([[jnp.nan, 2.1, jnp.nan]]))
    assert lp[0, 0] == 0.0 and lp[0, 2] == 0.0
    assert np.isfinite(lp[0, 1])
    grad = jax.grad(lambda a: _dist(f, a, 0.2, observed=observed, censoring=censoring).log_prob(
        jnp.asarray([[jnp.nan, 2.1, jnp.nan]])).sum())(0.1)
    assert np.isfinite(grad)


def test_log_error_blq_with_zero_prediction_is_certain_and_observed_is_impossible():
    f = np.array([[0.0, 0.0]])
    censored = np.array([[True, False]])
    d = _dist(f, 0.3, 0.0, log=True, observed=~censored, censored=censored)
    lp = np.asarray(d.log_prob(jnp.asarray([[0.5, 0.5]])))
    assert lp[0, 0] == 0.0 and lp[0, 1] == -np.inf


def test_samples_have_the_error_model_moments():
    f = jnp.full((1, 20000), 10.0)
    y = np.asarray(_dist(f, 0.5, 0.2).sample(jax.random.PRNGKey(0)))
    # SD sqrt(0.5^2 + 2^2) = 2.062; 20000 draws: standard error of the SD ~0.5%
    assert abs(y.mean() - 10.0) < 0.05 and abs(y.std() - np.hypot(0.5, 2.0)) < 0.03
    ylog = np.asarray(_dist(f, 0.3, 0.0, log=True).sample(jax.random.PRNGKey(1)))
    assert abs(np.log(ylog).mean() - np.log(10.0)) < 0.01 and abs(np.log(ylog).std() - 0.3) < 0.006


def test_observed_log_record_at_zero_prediction_is_impossible_without_censoring():
    d = _dist(np.array([[0.0, 2.0]]), 0.3, 0.0, log=True, censoring=False)
    lp = np.asarray(d.log_prob(jnp.asarray([[0.5, 2.0]])))
    assert lp[0, 0] == -np.inf and np.isfinite(lp[0, 1])


def test_bind_turns_the_m3_branch_off_only_without_blq_records():
    from popkin.data import read
    from popkin.infer import bind
    from popkin.model import AdditiveError, PopulationModel, Theta
    import pandas as pd

    m = PopulationModel(name="t", structure="1cmt-iv", parameters={"CL": Theta(1.0, "L/h"), "V": Theta(10.0, "L")},
                        error=AdditiveError(0.1))
    rows = [dict(ID=1, TIME=0, AMT=100, EVID=1, DV=0, CMT=1), dict(ID=1, TIME=1, AMT=0, EVID=0, DV=9.0, CMT=1),
            dict(ID=1, TIME=2, AMT=0, EVID=0, DV=8.0, CMT=1)]
    plain = pd.DataFrame(rows)
    assert bind(m, read(plain)).data.censoring is False
    blq = plain.assign(BLQ=[0, 0, 1], LLOQ=[0.0, 0.0, 10.0])
    assert bind(m, read(blq)).data.censoring is True

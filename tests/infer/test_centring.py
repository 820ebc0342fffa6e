"""The centred coordinates of popkin.infer.centring: the map and its Jacobian against
autodiff, the individual parameters it implies against ``derive``, and a centred NUTS
fit against the non-centred one (same posterior)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from popkin.infer.centring import centred_mask, from_centred, to_centred
from popkin.infer.density import initial_values
from popkin.infer.numpyro_model import derive
from popkin.infer.problem import bind
from popkin.data import read
from popkin.model import (IIV, IOV, Categorical, CombinedError, Estimate, Exponential, Linear, PopulationModel,
                          Power, Theta)


@pytest.fixture(scope="module")
def data():
    """Three subjects, two occasions each, with weight, sex and age."""
    import pandas as pd

    rows = []
    for i, (wt, sex, age) in enumerate([(50.0, 0, 30.0), (70.0, 1, 45.0), (95.0, 1, 60.0)], start=1):
        common = dict(ID=i, WT=wt, SEX=sex, AGE=age)
        for occ, t0 in ((1, 0.0), (2, 24.0)):
            rows.append(dict(common, TIME=t0, AMT=100.0, EVID=1, CMT=1, DV=np.nan, MDV=1, OCC=occ))
            rows.append(dict(common, TIME=t0 + 1, AMT=0.0, EVID=0, CMT=2, DV=1.0 + occ, MDV=0, OCC=occ))
    return read(pd.DataFrame(rows))


def _model():
    """Covariates of every kind, a correlated IIV block and a diagonal one, IOV on CL."""
    return PopulationModel(
        "1cmt-oral",
        {"CL": Theta(3.0, "L/h", effects=(Power("WT", 70, Estimate(0.75)), Categorical("SEX", (1,)),
                                          Linear("AGE", 40, Estimate(0.0)))),
         "V": Theta(30.0, "L", effects=(Exponential("AGE", 40, 0.01), Power("WT", 70, 1.0))),
         "KA": Theta(1.2, "1/h")},
        iiv=(IIV(("CL", "V"), correlated=True), IIV(("KA",))),
        iov=IOV(("CL",), occasion="OCC"),
        error=CombinedError(0.1, 0.1),
    )


def _random_point(problem, seed):
    """A random unconstrained point of the model's space (every site ~ N(0, 0.5^2))."""
    u = problem.space.unconstrain(initial_values(problem.model, problem.data))
    flat, unravel = ravel_pytree(u)
    return unravel(flat + 0.5 * jax.random.normal(jax.random.PRNGKey(seed), flat.shape))


# which parameters are centred: all, the correlated block only, the diagonal one only
CHOICES = ["centered", ("CL", "V"), ("KA",)]


@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("seed", [0, 1])
def test_centred_map_round_trips_and_gives_each_subjects_log_parameter(data, seed, choice):
    # covariates (power, categorical, linear, exponential), a correlated block and a
    # diagonal one: phi = log TV_i + eta_i, i.e. log of the individual parameter, in
    # the centred columns; the others keep z
    problem = bind(_model(), data)
    mask = centred_mask(problem.model, choice)
    u = _random_point(problem, seed)
    w = to_centred(problem.model, problem.space, problem.data, u, mask)
    back, _ = from_centred(problem.model, problem.space, problem.data, w, mask)
    for k in u:
        np.testing.assert_allclose(back[k], u[k], rtol=1e-12, atol=1e-12)
    d = derive(problem.model, problem.data, problem.space.constrain(u))
    cols = [problem.model.thetas.index(p) for p in problem.model.eta_names]
    want = np.where(np.asarray(mask), np.log(d.individual[:, cols]), u["z_iiv"])
    np.testing.assert_allclose(w["z_iiv"], want, rtol=1e-12)


@pytest.mark.parametrize("choice", CHOICES)
def test_centred_log_jacobian_equals_the_autodiff_determinant(data, choice):
    problem = bind(_model(), data)
    mask = centred_mask(problem.model, choice)
    w = to_centred(problem.model, problem.space, problem.data, _random_point(problem, 3), mask)
    flat, unravel = ravel_pytree(w)

    def z_of(x):
        return from_centred(problem.model, problem.space, problem.data, unravel(x), mask)[0]

    full = jax.jacobian(lambda x: ravel_pytree(z_of(x))[0])(flat)       # (dim u, dim w)
    sign, log_det = np.linalg.slogdet(np.asarray(full))
    assert sign != 0
    _, claimed = from_centred(problem.model, problem.space, problem.data, w, mask)
    np.testing.assert_allclose(float(claimed), log_det, rtol=1e-10)


def test_centred_choice_by_name_is_checked(data):
    model = _model()
    assert centred_mask(model, "noncentered") == (False, False, False)
    assert centred_mask(model, ("KA",)) == (False, False, True)
    with pytest.raises(ValueError, match="no IIV.*CL, V, KA"):
        centred_mask(model, ("CL", "V", "KOUT"))
    with pytest.raises(ValueError, match="correlated IIV block \\(CL, V\\) is centred whole"):
        centred_mask(model, ("CL",))


def test_centred_nuts_samples_the_same_posterior_as_non_centred(theoph_short_fit, theoph_centred_short_fit):
    """Theophylline, 2 x 150 x 150 each way (the shared non-centred short fit, seed 11,
    and a centred one, seed 5): posterior medians of the typical values and omegas agree
    within 4 Monte Carlo SEs of their difference (median MCSE from arviz)."""
    from tests.infer.helpers import assert_same_medians

    assert_same_medians(theoph_short_fit, theoph_centred_short_fit)


def test_parameterization_is_checked():
    from popkin.infer import NUTSOptions

    with pytest.raises(ValueError, match="parameterization"):
        NUTSOptions(parameterization="centred-ish")


def test_model_without_iiv_is_left_as_is():
    import pandas as pd

    frame = pd.DataFrame(dict(ID=[1, 1], TIME=[0.0, 1.0], AMT=[100.0, 0.0], EVID=[1, 0], CMT=[1, 1],
                              DV=[np.nan, 3.0], MDV=[1, 0]))
    model = PopulationModel("1cmt-iv", {"CL": Theta(3.0, "L/h"), "V": Theta(30.0, "L")}, iiv=(),
                            error=CombinedError(0.1, 0.1))
    problem = bind(model, read(frame))
    u = problem.space.unconstrain(initial_values(problem.model, problem.data))
    w = to_centred(problem.model, problem.space, problem.data, u)
    assert set(w) == set(u)
    back, log_det = from_centred(problem.model, problem.space, problem.data, w)
    assert log_det == 0.0 and all(jnp.array_equal(back[k], u[k]) for k in u)

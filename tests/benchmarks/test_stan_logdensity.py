"""The Stan programs of the NUTS benchmark and popkin define the same log density, up to
one constant, on tiny data sets: with Jacobians at the same unconstrained point (rstan
``log_prob(adjust_transform = TRUE)`` vs numpyro's potential energy: both samplers move
on the same space) and without them on the constrained scale; in both parameterisations
(non-centred z_iiv, and centred phi_iiv = log TV + eta, where popkin's side adds the log
Jacobian its centred sampler adds).

Slow (compiles two Stan models, minutes; reused from benchmarks/.cache afterwards) and
skipped without R/rstan."""

import pytest

from benchmarks.nuts import problems as P
from benchmarks.nuts import spec as S
from benchmarks.nuts import stan_side
from benchmarks.nuts.logdensity import compare

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not stan_side.available(), reason="needs R with rstan 2.21 and jsonlite")]


def _check(model, frame_or_csv, tmp_path, read=None, centred=False):
    import popkin.data
    from popkin.infer import bind

    csv = frame_or_csv if read else P.write_nonmem_csv(frame_or_csv, tmp_path / "data.csv")
    ds = read(csv) if read else popkin.data.read(csv)
    spec = S.stan_spec(model, centred=centred)
    comp = stan_side.compile_model(S.STAN_DIR / spec["program"])
    res = compare(bind(model, ds), comp["rds"], csv, spec, tmp_path / "ld", k=4)
    assert res["stan_n_obs"] == res["popkin_n_obs"]
    assert res["unconstrained_dims"]["stan"] == [res["unconstrained_dims"]["popkin"]]
    assert res["same_density"], res
    assert res["same_unconstrained_density"], res
    return res


@pytest.mark.parametrize("centred", [False, True])
def test_theophylline_catalogue_model(tmp_path, centred):
    """models/theoph.py: correlated IIV (LKJ), Wt power effects, additive error."""
    prob = P.PROBLEMS["theoph"]
    csv = prob.prepare(tmp_path)
    model, _ = prob.make_model()
    _check(model, csv, tmp_path, read=prob.read_popkin, centred=centred)


@pytest.mark.parametrize("centred", [False, True])
@pytest.mark.parametrize("correlated", [False, True])
def test_two_compartments_bid(tmp_path, correlated, centred):
    """2-cpt oral, 14 BID doses, 4 subjects; diagonal and correlated IIV."""
    model, _ = P.bid2_model(correlated=correlated)
    _check(model, P.simulate_bid2(4, "rich"), tmp_path, centred=centred)

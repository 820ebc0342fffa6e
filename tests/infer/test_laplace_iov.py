"""Laplace fit with a correlated IIV block and inter-occasion variability, against R nlme.

The model y_ijk = log A_ik + log B_i t_ijk + eps, with log A_ik = log A + eta_A,i + kappa_ik
(kappa: IOV on A, occasions 1 and 2), log B_i = log B + eta_B,i, (eta_A, eta_B) correlated,
is linear in all random effects, so the Laplace approximation is exact and must
reproduce the linear mixed model

    d <- read.csv("lmm_iov.csv"); d$OCC <- factor(d$OCC)    # ID, OCC, TIME, DV: IOV_DATA
    fit <- lme(DV ~ TIME, random = list(ID = pdSymm(~ TIME), OCC = ~ 1), data = d,
               method = "ML", control = lmeControl(msMaxIter = 500, tolerance = 1e-10,
                                                   msTol = 1e-12, opt = "nlminb"))

(R 4.2.2, nlme 3.1-162, run here; OCC nested in ID). This exercises the IOV coordinates
of the jets, the correlation (CorrCholesky) coordinates of the outer problem and the
correlation row of the table.
"""

from __future__ import annotations

import math

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from popkin.data import read  # noqa: E402
from popkin.infer.laplace_objective import LaplaceObjective  # noqa: E402
from popkin.infer.laplace_space import PopulationSpace  # noqa: E402
from popkin.infer.problem import bind  # noqa: E402
from popkin.model import IIV, IOV, AdditiveError, PopulationModel, Theta  # noqa: E402
from tests.infer.test_laplace_lmm import LinearInTime  # noqa: E402  (the same clock model)

pytestmark = pytest.mark.slow   # compiles a second Laplace model (~1-5 min); test_laplace_lmm.py is the fast check

IOV_DATA = """
    1,1,0.5,1.2768; 1,1,1.0,1.5845; 1,1,2.0,1.1309; 1,1,4.0,0.5036
    1,2,6.0,-0.6919; 1,2,8.0,-1.1104; 1,2,10.0,-1.5214; 1,2,12.0,-1.7355
    2,1,0.5,0.3518; 2,1,1.0,0.7212; 2,1,2.0,0.257; 2,1,4.0,0.0808
    2,2,6.0,-0.118; 2,2,8.0,-0.2064; 2,2,10.0,-0.2742; 2,2,12.0,-0.854
    3,1,0.5,0.3586; 3,1,1.0,0.3213; 3,1,2.0,0.3805; 3,1,4.0,0.033
    3,2,6.0,-0.7914; 3,2,8.0,-0.8452; 3,2,10.0,-1.3182; 3,2,12.0,-1.7677
    4,1,0.5,0.2995; 4,1,1.0,0.7961; 4,1,2.0,0.4504; 4,1,4.0,0.0608
    4,2,6.0,-0.6041; 4,2,8.0,-0.8034; 4,2,10.0,-1.1215; 4,2,12.0,-1.5428
    5,1,0.5,0.4135; 5,1,1.0,0.427; 5,1,2.0,0.334; 5,1,4.0,0.3162
    5,2,6.0,-0.3279; 5,2,8.0,-0.689; 5,2,10.0,-0.6688; 5,2,12.0,-0.8872
    6,1,0.5,1.2515; 6,1,1.0,0.3187; 6,1,2.0,0.4743; 6,1,4.0,-0.0851
    6,2,6.0,-0.491; 6,2,8.0,-0.8924; 6,2,10.0,-1.3619; 6,2,12.0,-1.7969
    7,1,0.5,0.7232; 7,1,1.0,0.8179; 7,1,2.0,0.6575; 7,1,4.0,-0.1165
    7,2,6.0,-0.4439; 7,2,8.0,-1.2091; 7,2,10.0,-1.6399; 7,2,12.0,-2.2459
    8,1,0.5,0.9724; 8,1,1.0,0.9658; 8,1,2.0,0.9445; 8,1,4.0,0.7458
    8,2,6.0,0.1217; 8,2,8.0,0.5859; 8,2,10.0,-0.1216; 8,2,12.0,0.0961
    9,1,0.5,0.4547; 9,1,1.0,0.5855; 9,1,2.0,0.6622; 9,1,4.0,-0.3267
    9,2,6.0,-1.2077; 9,2,8.0,-1.6581; 9,2,10.0,-1.795; 9,2,12.0,-2.4434
    10,1,0.5,-0.0401; 10,1,1.0,-0.4394; 10,1,2.0,-0.5343; 10,1,4.0,-0.5502
    10,2,6.0,-1.4281; 10,2,8.0,-1.4745; 10,2,10.0,-1.9918; 10,2,12.0,-2.4829
    11,1,0.5,0.9351; 11,1,1.0,1.0272; 11,1,2.0,0.8011; 11,1,4.0,0.0689
    11,2,6.0,-0.6304; 11,2,8.0,-0.6776; 11,2,10.0,-1.1284; 11,2,12.0,-1.4215
    12,1,0.5,1.0139; 12,1,1.0,0.9203; 12,1,2.0,0.3557; 12,1,4.0,-0.5317
    12,2,6.0,-0.8591; 12,2,8.0,-1.8425; 12,2,10.0,-2.9909; 12,2,12.0,-3.3176
    13,1,0.5,0.8203; 13,1,1.0,0.7202; 13,1,2.0,0.1897; 13,1,4.0,0.188
    13,2,6.0,-0.422; 13,2,8.0,-0.9223; 13,2,10.0,-1.0084; 13,2,12.0,-1.536
    14,1,0.5,1.233; 14,1,1.0,1.3602; 14,1,2.0,1.0762; 14,1,4.0,0.0313
    14,2,6.0,-0.1767; 14,2,8.0,-0.5339; 14,2,10.0,-1.114; 14,2,12.0,-1.4605
    15,1,0.5,-0.7621; 15,1,1.0,-1.1107; 15,1,2.0,-0.9132; 15,1,4.0,-1.7945
    15,2,6.0,-1.4006; 15,2,8.0,-2.2875; 15,2,10.0,-3.063; 15,2,12.0,-3.4141
    16,1,0.5,1.1039; 16,1,1.0,0.9792; 16,1,2.0,0.8205; 16,1,4.0,0.4713
    16,2,6.0,0.7403; 16,2,8.0,-0.0071; 16,2,10.0,-0.1169; 16,2,12.0,-0.2765
    17,1,0.5,1.3849; 17,1,1.0,1.2013; 17,1,2.0,1.1098; 17,1,4.0,0.8697
    17,2,6.0,-0.2538; 17,2,8.0,-0.7894; 17,2,10.0,-1.1377; 17,2,12.0,-1.3919
    18,1,0.5,0.5343; 18,1,1.0,0.5993; 18,1,2.0,-0.1564; 18,1,4.0,-0.0215
    18,2,6.0,-0.488; 18,2,8.0,-1.0685; 18,2,10.0,-1.5661; 18,2,12.0,-2.2056
    19,1,0.5,1.1168; 19,1,1.0,1.3086; 19,1,2.0,0.8592; 19,1,4.0,0.2728
    19,2,6.0,0.2572; 19,2,8.0,-0.6445; 19,2,10.0,-1.1395; 19,2,12.0,-0.8933
    20,1,0.5,1.1906; 20,1,1.0,1.1878; 20,1,2.0,0.8593; 20,1,4.0,0.3985
    20,2,6.0,-0.0914; 20,2,8.0,-0.8244; 20,2,10.0,-1.1408; 20,2,12.0,-2.0114
    21,1,0.5,0.5721; 21,1,1.0,0.5621; 21,1,2.0,0.678; 21,1,4.0,0.1862
    21,2,6.0,0.5275; 21,2,8.0,0.4; 21,2,10.0,0.5602; 21,2,12.0,0.3394
    22,1,0.5,0.5646; 22,1,1.0,0.6331; 22,1,2.0,-0.0218; 22,1,4.0,-0.3911
    22,2,6.0,-0.8282; 22,2,8.0,-1.3961; 22,2,10.0,-2.634; 22,2,12.0,-2.6605
    23,1,0.5,0.808; 23,1,1.0,0.8086; 23,1,2.0,0.4711; 23,1,4.0,0.3774
    23,2,6.0,-0.6032; 23,2,8.0,-0.3232; 23,2,10.0,-0.9049; 23,2,12.0,-1.561
    24,1,0.5,1.1793; 24,1,1.0,0.7657; 24,1,2.0,0.633; 24,1,4.0,0.5522
    24,2,6.0,-0.3093; 24,2,8.0,-1.0013; 24,2,10.0,-0.8139; 24,2,12.0,-1.212
"""

R_FIXEF = (0.842444289994, -0.204510539922)        # log A, log B
R_SE_FIXEF = (0.0917402014590, 0.0166369874405)
R_SD = {"A": 0.38167196799, "B": 0.07587558493, "iov": 0.2250463263, "sigma": 0.196016886}
R_CORR = -0.2088065409
R_LOGLIK = -49.5365159354


def dataset():
    rows = [r.strip().split(",") for r in IOV_DATA.replace("\n", ";").split(";") if r.strip()]
    obs = pd.DataFrame([(int(i), int(o), float(t), float(y)) for i, o, t, y in rows],
                       columns=["ID", "OCC", "TIME", "DV"]).assign(AMT=0.0, RATE=0.0, EVID=0, MDV=0, CMT=1)
    clock = pd.DataFrame({"ID": obs["ID"].unique(), "OCC": 1, "TIME": 0.0, "DV": np.nan, "AMT": 1000.0,
                          "RATE": 1.0, "EVID": 1, "MDV": 1, "CMT": 1})
    frame = pd.concat([clock, obs]).sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False],
                                                kind="stable")
    return read(frame)


@pytest.fixture(scope="module")
def problem():
    model = PopulationModel(structure=LinearInTime(), parameters={"A": Theta(2.0), "B": Theta(0.8)},
                            iiv=IIV(("A", "B"), correlated=True), iov=IOV(("A",), occasion="OCC"),
                            error=AdditiveError(0.3))
    return bind(model, dataset())


def test_ofv_at_the_nlme_estimate_and_gradient(problem):
    space = PopulationSpace(problem.model, problem.data)
    assert [s.name for s in space.sites] == ["A", "B", "omega", "L_iiv1", "omega_iov", "sigma_add"]
    r = math.sqrt(1 - R_CORR ** 2)
    x = np.asarray(space.unconstrain({
        "A": math.exp(R_FIXEF[0]), "B": math.exp(R_FIXEF[1]), "omega": np.array([R_SD["A"], R_SD["B"]]),
        "L_iiv1": np.array([[1.0, 0.0], [R_CORR, r]]), "omega_iov": np.array([R_SD["iov"]]),
        "sigma_add": R_SD["sigma"]}))
    objective = LaplaceObjective(problem.model, problem.data)
    value, grad = objective.value_and_gradient(x)
    # exact Laplace = exact likelihood: -2 logLik to the precision of nlme's printed values
    assert value == pytest.approx(-2 * R_LOGLIK, abs=1e-5)
    assert np.max(np.abs(grad)) < 1e-3
    # the gradient away from the optimum against central differences (h = 1e-5)
    x1 = x + np.array([0.05, -0.03, 0.2, -0.2, 0.3, 0.1, -0.1])
    _, g1 = objective.value_and_gradient(x1)
    fd = [(objective.value_and_gradient(x1 + e)[0] - objective.value_and_gradient(x1 - e)[0]) / 2e-5
          for e in 1e-5 * np.eye(x.size)]
    np.testing.assert_allclose(g1, fd, rtol=1e-5, atol=1e-5)


def test_fit_matches_nlme(problem):
    from popkin.infer import fit

    result = fit(problem.model, dataset(), method="laplace")
    t = result.table
    assert math.log(t.loc["A", "estimate"]) == pytest.approx(R_FIXEF[0], abs=1e-5)
    assert math.log(t.loc["B", "estimate"]) == pytest.approx(R_FIXEF[1], abs=1e-5)
    assert t.loc["omega_A", "estimate"] == pytest.approx(R_SD["A"], rel=1e-4)
    assert t.loc["omega_B", "estimate"] == pytest.approx(R_SD["B"], rel=1e-4)
    assert t.loc["corr_A_B", "estimate"] == pytest.approx(R_CORR, abs=1e-4)
    assert t.loc["omega_iov_A", "estimate"] == pytest.approx(R_SD["iov"], rel=1e-4)
    assert t.loc["sigma_add", "estimate"] == pytest.approx(R_SD["sigma"], rel=1e-4)
    assert result.loglik == pytest.approx(R_LOGLIK, abs=1e-6)
    # fixed-effect SEs vs vcov (nlme conditions on the variance parameters: 1%)
    assert t.loc["A", "se_estimation_scale"] == pytest.approx(R_SE_FIXEF[0], rel=1e-2)
    assert t.loc["B", "se_estimation_scale"] == pytest.approx(R_SE_FIXEF[1], rel=1e-2)
    assert -1 < t.loc["corr_A_B", "ci95_low"] < R_CORR < t.loc["corr_A_B", "ci95_high"] < 1
    assert not result.warnings

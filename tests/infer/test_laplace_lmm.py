"""Laplace fit of a linear mixed model against R nlme's exact maximum likelihood.

For a model linear in the random effects with additive normal error, the Laplace
approximation of the marginal likelihood is exact, so popkin's Laplace OFV, estimates,
EBEs and standard errors must agree with a linear mixed-model fit to rounding. The model
y_ij = log(A_i) + log(B_i) t_ij + eps_ij, log A_i = log A + eta_A, log B_i = log B + eta_B
(diagonal omega, additive error) is written as a popkin structural model (a clock
compartment whose amount equals time), so the whole Laplace path (event engine, jets,
inner Newton, outer optimisation, covariance step) is exercised.

Reference numbers: R 4.2.2, nlme 3.1-162, run here on the data below (simulated once with
numpy, 20 subjects x 5 observations, values rounded to 4 decimals)::

    d <- read.csv("lmm.csv")   # ID, TIME, DV: the rows of LMM_DATA
    fit <- lme(DV ~ TIME, random = list(ID = pdDiag(~ TIME)), data = d, method = "ML",
               control = lmeControl(msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12, opt = "nlminb"))
    fixef(fit); sqrt(diag(vcov(fit))); VarCorr(fit); logLik(fit); fit$apVar; ranef(fit)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from popkin.data import read  # noqa: E402
from popkin.infer.laplace_objective import LaplaceObjective  # noqa: E402
from popkin.infer.laplace_space import PopulationSpace  # noqa: E402
from popkin.infer.problem import bind  # noqa: E402
from popkin.model import IIV, AdditiveError, PopulationModel, Theta  # noqa: E402
from popkin.pk.model import Model  # noqa: E402

LMM_DATA = """
    1,0.5,0.7865; 1,1.0,0.034; 1,4.0,-0.2528; 1,6.0,-0.9745; 1,8.0,-1.182
    2,0.5,1.3204; 2,2.0,0.658; 2,4.0,-0.0321; 2,6.0,-0.9346; 2,8.0,-1.2475
    3,1.0,0.6198; 3,3.0,0.0622; 3,4.0,0.3044; 3,6.0,-1.1915; 3,8.0,-0.739
    4,0.5,0.2364; 4,1.0,-0.3929; 4,2.0,-0.3939; 4,3.0,-0.4856; 4,8.0,-2.0315
    5,0.5,0.4355; 5,1.0,0.2984; 5,2.0,0.4781; 5,4.0,-0.5168; 5,6.0,-0.4095
    6,0.5,0.2212; 6,2.0,-0.328; 6,3.0,-0.4145; 6,4.0,-0.8017; 6,6.0,-1.6569
    7,0.5,1.2456; 7,1.0,1.5157; 7,2.0,0.838; 7,4.0,1.1576; 7,6.0,0.3025
    8,0.5,1.1841; 8,1.0,1.5228; 8,2.0,0.3996; 8,3.0,0.801; 8,4.0,0.5345
    9,1.0,0.3528; 9,2.0,0.3155; 9,3.0,0.3712; 9,4.0,-0.3156; 9,6.0,-0.9348
    10,1.0,0.1289; 10,2.0,0.257; 10,3.0,-0.4459; 10,4.0,-0.4884; 10,8.0,-0.8614
    11,0.5,0.2121; 11,1.0,0.0724; 11,3.0,-0.6646; 11,4.0,-0.7639; 11,6.0,-0.5745
    12,0.5,0.6197; 12,1.0,0.5625; 12,4.0,-0.1365; 12,6.0,-0.4638; 12,8.0,-1.4102
    13,0.5,0.8941; 13,1.0,0.041; 13,3.0,-0.0959; 13,4.0,-0.2307; 13,6.0,-0.424
    14,0.5,1.7927; 14,1.0,1.2263; 14,2.0,0.9643; 14,3.0,1.4604; 14,8.0,0.3035
    15,0.5,1.069; 15,2.0,0.6856; 15,4.0,0.3448; 15,6.0,-0.554; 15,8.0,-1.3838
    16,0.5,1.7733; 16,1.0,1.3975; 16,3.0,0.9758; 16,4.0,1.0967; 16,8.0,-0.0287
    17,0.5,0.7992; 17,3.0,0.7535; 17,4.0,1.0262; 17,6.0,0.9574; 17,8.0,0.6978
    18,0.5,0.6116; 18,1.0,0.1033; 18,2.0,0.5975; 18,3.0,0.3825; 18,8.0,-0.5476
    19,0.5,-0.2834; 19,1.0,0.1752; 19,3.0,-0.7397; 19,6.0,-1.9125; 19,8.0,-1.4211
    20,0.5,0.2187; 20,1.0,-0.018; 20,3.0,-0.2605; 20,4.0,-0.6451; 20,6.0,-1.0522
"""

# R nlme 3.1-162 (see the module docstring)
R_FIXEF = {"A": 0.798547898374, "B": -0.216505618003}          # log A, log B
R_SE_FIXEF = {"A": 0.1194949239654, "B": 0.0185933718123}       # SE of log A, log B (vcov)
R_SD = {"A": 0.48936573, "B": 0.06341636, "sigma": 0.27704368}
R_LOGLIK = -51.2725982804
R_APVAR = np.array([[0.0321270933, -0.003164717, -0.0003580912],   # log SD_A, log SD_B, log sigma
                    [-0.0031647172, 0.062511413, -0.0029196802],
                    [-0.0003580912, -0.002919680, 0.0077087593]])
R_RANEF_A = [-0.19396604480, 0.35124414753, 0.01373281756, -0.60859238697, -0.18071063964, -0.48267282584,
             0.64420976011, 0.49470429819, -0.05463022807, -0.38220938992, -0.52183468075, -0.01495841667,
             -0.15537924045, 0.78376576635, 0.35576202069, 0.85498811983, 0.33967187817, -0.08298706082,
             -0.70668532689, -0.45345256759]
R_RANEF_B = [-0.016804277247, -0.080925324850, -0.011217334786, -0.047095974482, 0.013130184393,
             -0.067660720151, 0.041627235637, 0.008618551055, -0.028055588812, 0.029339281766,
             0.014104407425, -0.026645829233, 0.010881887773, 0.049914857170, -0.062712512591,
             0.014862912871, 0.143674731591, 0.050718945443, -0.022106247215, -0.013649185757]


@dataclass(frozen=True)
class LinearInTime(Model):
    """y = log(A) + log(B) * t. CMT 1 is a clock: an infusion of rate 1 from TIME 0
    makes its amount equal to t (h)."""

    name = "linear-in-time"
    compartments = ("clock",)
    parameters = ("A", "B")
    observed = 0
    linear = True

    def advance(self, x, rate, dt, p):
        return x + rate * dt

    def concentration(self, x, p):
        return jnp.log(p["A"]) + jnp.log(p["B"]) * x[0]


def lmm_dataset():
    rows = [r.strip().split(",") for r in LMM_DATA.replace("\n", ";").split(";") if r.strip()]
    obs = pd.DataFrame([(int(i), float(t), float(y)) for i, t, y in rows], columns=["ID", "TIME", "DV"])
    obs = obs.assign(AMT=0.0, RATE=0.0, EVID=0, MDV=0, CMT=1)
    clock = pd.DataFrame({"ID": obs["ID"].unique(), "TIME": 0.0, "DV": np.nan, "AMT": 1000.0, "RATE": 1.0,
                          "EVID": 1, "MDV": 1, "CMT": 1})
    frame = pd.concat([clock, obs]).sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False],
                                                kind="stable")
    return read(frame)


def lmm_model():
    return PopulationModel(structure=LinearInTime(), parameters={"A": Theta(2.0), "B": Theta(0.8)},
                           iiv=IIV(("A", "B")), error=AdditiveError(0.5))


@pytest.fixture(scope="module")
def problem():
    return bind(lmm_model(), lmm_dataset())


def r_estimate(space: PopulationSpace) -> np.ndarray:
    """nlme's estimates on popkin's estimation scale."""
    values = {"A": math.exp(R_FIXEF["A"]), "B": math.exp(R_FIXEF["B"]),
              "omega": np.array([R_SD["A"], R_SD["B"]]), "sigma_add": R_SD["sigma"]}
    return np.asarray(space.unconstrain(values))


def test_ofv_and_ebes_at_the_nlme_estimate_are_exact(problem):
    # Laplace is exact here: OFV = -2 logLik (all constants) to the precision of R's
    # printed estimates (12 digits; the OFV is stationary there, so 1e-6 is generous).
    space = PopulationSpace(problem.model, problem.data)
    objective = LaplaceObjective(problem.model, problem.data)
    x = r_estimate(space)
    value, grad = objective.value_and_gradient(x)
    assert value == pytest.approx(-2 * R_LOGLIK, abs=1e-6)
    # EBEs: eta = diag(omega) b equal nlme's BLUPs (ranef) to ~1e-8 (R prints 10 digits)
    eta = np.asarray(objective.b) * np.array([R_SD["A"], R_SD["B"]])
    np.testing.assert_allclose(eta[:, 0], R_RANEF_A, atol=1e-7)
    np.testing.assert_allclose(eta[:, 1], R_RANEF_B, atol=1e-7)
    # nlme's optimum is ours: the gradient there is ~0 (R stops at msTol 1e-12; the
    # printed SDs have 8 digits, so allow 1e-4 on a gradient whose scale is ~100)
    assert np.max(np.abs(grad)) < 1e-3


def test_gradient_is_exact(problem):
    # the analytic gradient (jets to third order + implicit differentiation of the EBEs)
    # against central differences of the OFV at a point away from the optimum;
    # h = 1e-5: truncation ~h^2 * OFV''' ~ 1e-9, rounding ~1e-12 / h ~ 1e-7
    space = PopulationSpace(problem.model, problem.data)
    objective = LaplaceObjective(problem.model, problem.data)
    x = r_estimate(space) + np.array([0.1, -0.05, 0.3, -0.4, 0.2])
    _, grad = objective.value_and_gradient(x)
    fd = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = 1e-5
        fd.append((objective.value_and_gradient(x + e)[0] - objective.value_and_gradient(x - e)[0]) / 2e-5)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5)


def test_laplace_fit_matches_nlme(problem, tmp_path):
    from popkin.infer import fit, load

    # the fixture's model object: its compiled functions are reused (models are static
    # arguments of jit, compared by identity)
    result = fit(problem.model, lmm_dataset(), method="laplace")
    t = result.table
    # estimates: nlme's to its printed precision (the optimum is the same function)
    assert math.log(t.loc["A", "estimate"]) == pytest.approx(R_FIXEF["A"], abs=1e-5)
    assert math.log(t.loc["B", "estimate"]) == pytest.approx(R_FIXEF["B"], abs=1e-5)
    assert t.loc["omega_A", "estimate"] == pytest.approx(R_SD["A"], rel=1e-4)
    assert t.loc["omega_B", "estimate"] == pytest.approx(R_SD["B"], rel=1e-4)
    assert t.loc["sigma_add", "estimate"] == pytest.approx(R_SD["sigma"], rel=1e-4)
    assert result.loglik == pytest.approx(R_LOGLIK, abs=1e-6)
    assert result.ofv - result.ofv_nonmem == pytest.approx(100 * math.log(2 * math.pi), abs=1e-9)
    # standard errors of the fixed effects (log scale) vs nlme's vcov: nlme conditions on
    # the variance components, popkin inverts the full observed information; at the ML
    # estimate the cross terms are small here, 1% covers them
    assert t.loc["A", "se_estimation_scale"] == pytest.approx(R_SE_FIXEF["A"], rel=1e-2)
    assert t.loc["B", "se_estimation_scale"] == pytest.approx(R_SE_FIXEF["B"], rel=1e-2)
    # covariance of (log omega_A, log omega_B, log sigma) vs nlme's apVar (the inverse
    # Hessian of the profiled log-likelihood = the Schur complement of the full one, so
    # the same matrix; nlme computes it by finite differences: 1% relative)
    cov = result.covariance.loc[["log omega_A", "log omega_B", "log sigma_add"],
                                ["log omega_A", "log omega_B", "log sigma_add"]].to_numpy()
    np.testing.assert_allclose(cov, R_APVAR, rtol=1e-2, atol=2e-5)
    ebes = result.ebes
    np.testing.assert_allclose(ebes["ETA_A"], R_RANEF_A, atol=1e-5)
    np.testing.assert_allclose(ebes["ETA_B"], R_RANEF_B, atol=1e-5)
    assert not result.warnings
    # the OFV and the table survive save/load
    again = load(result.save(tmp_path / "lmm.nc"))
    assert again.method == "laplace" and again.idata.posterior.attrs["ofv"] == pytest.approx(result.ofv)
    assert again.table.loc["A", "estimate"] == pytest.approx(t.loc["A", "estimate"])

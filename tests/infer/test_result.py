"""The FitResult contract: InferenceData groups and coordinates, the parameter table,
observations, warnings, save/load."""

import json

import arviz as az
import numpy as np
import pytest

from popkin import datasets
from popkin.errors import OutputExistsError
from popkin.infer import load, write_outputs
from popkin.infer.table import cv_percent


def test_inference_data_layout(theoph_short_fit):
    idata = theoph_short_fit.idata
    for group in ("posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data",
                  "constant_data", "point_predictions"):
        assert group in idata.groups(), group
    post = idata.posterior
    ids = list(datasets.theoph().frame.drop_duplicates("ID")["ID"])
    assert list(post["subject"].values) == ids                      # the data's IDs
    assert post["eta"].dims == ("chain", "draw", "subject", "iiv")
    assert list(post["iiv"].values) == ["CL", "V", "KA"]
    assert post["individual"].dims == ("chain", "draw", "subject", "parameter")
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 150
    assert idata.log_likelihood["y"].shape == (2, 150, 132)          # 132 concentrations
    np.testing.assert_array_equal(idata.observed_data["y"].values,
                                  theoph_short_fit.observations["DV"].to_numpy())
    for name in ("diverging", "n_steps", "tree_depth", "acceptance_rate", "energy", "lp", "step_size"):
        assert name in idata.sample_stats, name
    # individual CL = CL * (Wt/70) * exp(eta_CL), draw by draw
    wt = datasets.theoph().frame.drop_duplicates("ID")["Wt"].to_numpy()
    cl = post["CL"].values[..., None] * (wt / 70) * np.exp(post["eta"].sel(iiv="CL").values)
    np.testing.assert_allclose(post["individual"].sel(parameter="CL").values, cl, rtol=1e-10)
    loo = az.loo(idata)                                              # pointwise log-lik usable by LOO
    assert np.isfinite(loo.elpd_loo)


def test_parameter_table(theoph_short_fit):
    table = theoph_short_fit.table
    assert list(table.index) == ["CL", "V", "KA", "omega_CL", "omega_V", "omega_KA",
                                 "corr_CL_V", "corr_CL_KA", "corr_V_KA", "sigma_add"]
    post = theoph_short_fit.posterior
    ka = post["KA"].values.ravel()
    assert table.loc["KA", "median"] == pytest.approx(np.median(ka))
    assert table.loc["KA", "q05"] == pytest.approx(np.quantile(ka, 0.05))
    assert table.loc["KA", "rhat"] == pytest.approx(float(az.rhat(theoph_short_fit.idata)["KA"]))
    om = table.loc["omega_KA"]
    assert om["cv_percent"] == pytest.approx(100 * np.sqrt(np.exp(om["median"] ** 2) - 1))
    eta_mean = post["eta"].sel(iiv="KA").mean(("chain", "draw")).values
    assert om["shrinkage_percent"] == pytest.approx(100 * (1 - eta_mean.std(ddof=1) / om["median"]))
    assert cv_percent(0.3) == pytest.approx(30.69, abs=0.01)
    obs = theoph_short_fit.observations
    assert list(obs.columns) == ["ID", "ROW", "TIME", "DV", "BLQ", "LLOQ", "OUTPUT", "IPRED", "PRED"]
    # the individual predictions follow the data much better than the population ones
    assert np.mean(np.abs(obs["DV"] - obs["IPRED"])) < 0.7 * np.mean(np.abs(obs["DV"] - obs["PRED"]))


def test_save_load_round_trip_and_no_overwrite(theoph_short_fit, tmp_path):
    path = theoph_short_fit.save(tmp_path / "fit.nc")
    again = load(path)
    assert again.method == "nuts" and again.warnings == theoph_short_fit.warnings
    np.testing.assert_allclose(again.table["median"], theoph_short_fit.table["median"], rtol=1e-12)
    np.testing.assert_array_equal(again.posterior["eta"].values, theoph_short_fit.posterior["eta"].values)
    assert list(again.posterior["subject"].values) == list(theoph_short_fit.posterior["subject"].values)
    with pytest.raises(OutputExistsError):
        theoph_short_fit.save(path)
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputExistsError):             # the output folder must be new
        write_outputs(theoph_short_fit, tmp_path / "out")
    attrs = again.idata.posterior.attrs
    assert attrs["method"] == "nuts" and "$PK" in attrs["model"]
    assert json.loads(attrs["options"])["draws"] == 150

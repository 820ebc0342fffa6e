"""MAP: the joint posterior mode as a quick look (typical values) and NUTS start."""

import numpy as np
import pytest

from popkin import datasets
from popkin.infer import MAPOptions, fit
from popkin.infer.catalogue import load_catalogue_model

# nlme fm1Theo.nlme (see test_theoph.py), per 70 kg
NLME = {"KA": np.exp(0.45140893), "CL": 70 * np.exp(-3.21445201), "V": 70 * np.exp(-3.21445201 + 2.43266959)}


def test_map_typical_values_close_to_nlme():
    """The joint mode is not the ML estimate (nlme integrates the random effects out),
    but with 11 samples per subject the individual fits are sharp and the typical values
    agree closely: 5% (observed: within 1%). The residual SD is within 15% of nlme's
    0.682 mg/L."""
    result = fit(load_catalogue_model("models/theoph.py").model, datasets.theoph(), "map", MAPOptions())
    table = result.table
    assert table.attrs["method"] == "map" and "mode" in table
    for name, ref in NLME.items():
        assert table.loc[name, "mode"] == pytest.approx(ref, rel=0.05), name
    assert table.loc["sigma_add", "mode"] == pytest.approx(0.682, rel=0.15)
    # IIV rows report the SD of the modal etas (omega at a joint mode is not an estimate)
    assert 0.3 < table.loc["omega_KA", "eta_sd"] < 1.0
    assert result.idata.posterior.sizes["draw"] == 1
    assert "posterior_predictive" not in result.idata.groups()
    assert np.all(np.isfinite(result.idata.log_likelihood["y"].values))

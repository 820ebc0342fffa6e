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


def test_sampler_start_lowers_inflated_omegas_to_the_spread_of_the_etas():
    """NUTS starts at the mode with each omega set to min(omega at the mode, RMS of the
    mode's etas), at least 0.1, and the deviates rescaled (exactly for a diagonal omega:
    the etas stay the mode's). The non-centred joint mode has no -N log omega term, so its
    omegas sit above the spread of the etas: on theophylline the start's omegas are the
    RMS of the etas, and at least one is lowered by more than half."""
    from popkin.infer import bind
    from popkin.infer.map import find_mode, sampler_start

    problem = bind(load_catalogue_model("models/theoph.py").model, datasets.theoph())
    mode = find_mode(problem, MAPOptions())
    start = problem.space.constrain(sampler_start(problem, mode))
    omega, eta = np.asarray(mode.values["omega"]), np.asarray(mode.values["eta"])
    rms = np.sqrt(np.mean(eta ** 2, axis=0))
    expected = np.maximum(np.minimum(omega, rms), 0.1)
    np.testing.assert_allclose(np.asarray(start["omega"]), expected, rtol=1e-12)
    assert np.any(expected < 0.5 * omega), (omega, rms)
    # the deviates carry the etas: z_start = z_mode x omega_mode / omega_start
    z_mode = np.asarray(mode.values["z_iiv"])
    np.testing.assert_allclose(np.asarray(start["z_iiv"]), z_mode * omega / expected, rtol=1e-12)

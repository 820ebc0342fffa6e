"""Diagnostics at the true parameters of data simulated from the model (conftest):
NPDE and CWRES are ~N(0, 1), the pcVPC's observed percentiles fall in the simulated
intervals at about the nominal rate, individual curves are the closed form; with a wrong
model (clearance doubled) the same checks fail, so they can."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from popkin.diagnostics import Estimates, individual_curves, npde_summary, npde_table, residual_table, vpc
from tests.diagnostics.helpers import TIMES, one_compartment_oral

N_OBS = 60 * len(TIMES)   # 540


def wrong(values):
    out = dict(values)
    out["CL"] = 2.0 * values["CL"]
    return out


def test_individual_curves_are_the_closed_form(simulated):
    problem, values, indiv = simulated
    eta = np.log(indiv[["CL", "V", "KA"]].to_numpy() / np.array([values["CL"], values["V"], values["KA"]]))
    est = Estimates.at(problem, {**values, "z_iiv": eta / values["omega"]})
    curves = individual_curves(est, problem.ids, n_points=25)
    assert len(curves) == 60 * 25
    dose = np.repeat([25.0, 100.0, 400.0], 20)
    for i in (0, 25, 59):
        c = curves[curves["ID"] == i + 1]
        t = c["TIME"].to_numpy()
        np.testing.assert_allclose(t, np.linspace(0.0, 24.0, 25))
        ind = indiv.iloc[i]
        np.testing.assert_allclose(c["IPRED"], one_compartment_oral(t, dose[i], ind.CL, ind.V, ind.KA),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(c["PRED"], one_compartment_oral(t, dose[i], values["CL"], values["V"],
                                                                   values["KA"]), rtol=1e-10, atol=1e-12)


def test_npde_at_the_truth_are_standard_normal(simulated):
    # 540 NPDE, K = 500: mean SE ~0.043 -> |mean| < 0.15 (3.5 SE); variance SE ~0.061 ->
    # within [0.82, 1.18] (3 SE); fixed seeds, so the test is deterministic
    problem, values, _ = simulated
    table = npde_table(Estimates.at(problem, values), n_replicates=500, seed=3)
    s = npde_summary(table["NPDE"])
    assert s["n"] == N_OBS
    assert abs(s["mean"]) < 0.15
    assert 0.82 < s["variance"] < 1.18
    bad = npde_summary(npde_table(Estimates.at(problem, wrong(values)), n_replicates=500, seed=3)["NPDE"])
    assert bad["mean"] > 0.5          # concentrations above what a doubled clearance predicts


def test_cwres_at_the_truth_are_standard_normal(simulated):
    # CWRES use the FOCE linearisation at the EBEs, so they are ~N(0, 1) only approximately:
    # |mean| < 0.15, variance within [0.8, 1.2] on 540 values
    problem, values, _ = simulated
    table = residual_table(Estimates.at(problem, values))
    cw = table["CWRES"].to_numpy()
    assert np.isfinite(cw).sum() == N_OBS
    assert abs(cw.mean()) < 0.15
    assert 0.8 < cw.var(ddof=1) < 1.2
    iwres = table["IWRES"].to_numpy()
    assert 0.5 < iwres.var(ddof=1) < 1.2       # IWRES shrink towards 0 (eta shrinkage), never inflate
    bad = residual_table(Estimates.at(problem, wrong(values)))["CWRES"].to_numpy()
    assert bad.mean() > 0.3 or bad.var(ddof=1) > 1.5


def test_pcvpc_coverage_at_the_truth(simulated):
    # 8 bins x 3 percentiles = 24 checks of a 90% interval: 21.6 expected inside; at least
    # 18 (75%) required. The wrong model must do clearly worse (at most 60%).
    problem, values, _ = simulated
    summary, points = vpc(Estimates.at(problem, values), n_replicates=300, n_bins=8, seed=5)
    assert len(summary) == 24 and summary.attrs["prediction_corrected"]
    assert summary["inside"].mean() >= 0.75
    assert len(points) == N_OBS and points["BIN"].between(0, 7).all()
    bad, _ = vpc(Estimates.at(problem, wrong(values)), n_replicates=300, n_bins=8, seed=5)
    assert bad["inside"].mean() <= 0.6
    # one output selected by name (PK/PD models: vpc(..., output="pca")) is the same VPC here
    name = str(problem.observations["OUTPUT"].iloc[0])
    same, _ = vpc(Estimates.at(problem, values), n_replicates=300, n_bins=8, seed=5, output=name)
    assert same.attrs["output"] == name
    pd.testing.assert_frame_equal(same, summary)
    with pytest.raises(ValueError, match="no output"):
        vpc(Estimates.at(problem, values), n_replicates=10, output="not-an-output")

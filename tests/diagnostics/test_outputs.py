"""The ``popkin fit --out`` hook: ``popkin.infer.write_outputs`` calls
``popkin.diagnostics.outputs.write_outputs``, which writes tables and figures whose
numbers are those of the diagnostics functions."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from popkin.diagnostics import Estimates, residual_table
from popkin.infer import FitResult, write_outputs
from popkin.infer.convert import to_inference_data
from popkin.infer.density import with_derived
from popkin.infer.laplace_points import point_predictions
from popkin.infer.pointwise import Pointwise

FIGURES = os.environ.get("POPKIN_TEST_FIGURES")   # set to a folder to keep the figures


def truth_result(problem, values) -> FitResult:
    """A one-draw FitResult at the true values (EBE etas), as a MAP/Laplace fit stores it."""
    est = Estimates.at(problem, values)
    full = {k: np.asarray(v) for k, v in with_derived(problem.model, problem.data, est.point).items()}
    ipred, pred, ll = point_predictions(problem, est.point)
    points = Pointwise(ll[None], ipred[None], ipred[None], pred[None])
    idata = to_inference_data(problem, {k: v[None, None] for k, v in full.items()}, {}, points, {"method": "truth"})
    table = pd.DataFrame({"estimate": [values["CL"]]}, index=pd.Index(["CL"], name="parameter"))
    return FitResult(idata, table, "map", (), problem.model, problem)


@pytest.mark.slow
def test_write_outputs_writes_the_diagnostics(simulated, tmp_path):
    problem, values, _ = simulated
    result = truth_result(problem, values)
    out = tmp_path / "fit"
    written = write_outputs(result, out)
    names = {p.name for p in written}
    for name in ("parameters.csv", "posterior.nc", "summary.txt", "residuals.csv", "gof.png",
                 "individual_fits.png", "vpc.csv", "vpc.png", "npde.csv", "npde.png"):
        assert name in names and (out / name).stat().st_size > 0, name
    saved = pd.read_csv(out / "residuals.csv")
    direct = residual_table(Estimates.from_fit(result))
    np.testing.assert_allclose(saved["CWRES"], direct["CWRES"], rtol=1e-5)   # written with 6 digits
    np.testing.assert_allclose(saved["IPRED"], direct["IPRED"], rtol=1e-5)
    vpc = pd.read_csv(out / "vpc.csv")
    assert len(vpc) == 24 and vpc["inside"].mean() >= 0.75
    if FIGURES:
        import shutil

        for name in ("gof.png", "individual_fits.png", "vpc.png", "npde.png"):
            shutil.copy(out / name, os.path.join(FIGURES, name))

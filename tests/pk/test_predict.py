"""``popkin predict`` and ``predict_frame``: NONMEM's nmtest through the command line,
individual predictions from the true parameters of the ACOP simulated studies, safe
output files and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import popkin.data
from popkin.errors import ModelError
from popkin.pk import predict_frame
from popkin.pk.command import predict
from tests.pk import nmtest

NMTEST = str(nmtest.PATH)
PARAMS = {"CL": 1.1, "V": 20, "KA": 1.5, "F2": "BIOAV", "ALAG2": "LAGT", "R2": "RAT2", "D2": "DUR2",
          "S2": 0.02}
ACOP = str(nmtest.SHARED / "nlmixr2data")


@pytest.fixture()
def params_file(tmp_path):
    path = tmp_path / "params.json"
    path.write_text(json.dumps(PARAMS))
    return path


def _run(*args):
    return CliRunner().invoke(predict, [str(a) for a in args], catch_exceptions=False)


def test_cli_predicts_nonmem_cp_and_never_overwrites(tmp_path, params_file):
    out = tmp_path / "pred.csv"
    result = _run(NMTEST, "--model", "1cmt-oral", "--params", params_file, "--out", out)
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out)
    raw = pd.read_csv(NMTEST)
    assert list(got.columns) == list(raw.columns) + ["PRED"]  # the file's rows, plus PRED
    assert len(got) == len(raw) and (got["cp"] == raw["cp"]).all()
    keep = nmtest.compared(got, "id", "time")  # outside NONMEM's ALAG > II windows
    np.testing.assert_allclose(got.loc[keep, "PRED"], got.loc[keep, "cp"], rtol=1e-4, atol=1e-6)
    print(f"\npopkin predict vs NONMEM cp: {int(keep.sum())} rows, max relative difference "
          f"{np.max(np.abs(got.PRED - got.cp)[keep] / np.maximum(np.abs(got.cp[keep]), 1e-2)):.1e}")

    before = out.read_bytes()
    result = _run(NMTEST, "--model", "1cmt-oral", "--params", params_file, "--out", out)
    assert result.exit_code == 2 and "already exists" in result.output
    assert out.read_bytes() == before

    params_file.write_text(json.dumps({**PARAMS, "CL": 2.2}))
    result = _run(NMTEST, "--model", "1cmt-oral", "--params", params_file, "--out", out, "--force")
    assert result.exit_code == 0, result.output
    again = pd.read_csv(out)
    assert not np.allclose(again["PRED"], got["PRED"])  # replaced ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.json", "pred.csv"]  # ... no temp file left


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('["CL", 1]', "JSON object"),
    ('{"CL": 1.1, "V": 20, "KA": 1.5, "CLX": 3}', "unknown parameter(s) CLX"),
    ('{"CL": 1.1, "V": 20}', "missing parameter(s) KA"),
    ('{"CL": 1.1, "V": 20, "KA": 1.5, "F2": "NOSUCH"}', "column 'NOSUCH'"),
    ('{"CL": 1.1, "V": 20, "KA": true}', "give a number or a column name"),
    ('{"CL": 1.1, "V": 20, "KA": 1.5}', "RATE = -2 (modelled duration) in row(s) 529, 2246, 2378 needs parameter D2"),
])
def test_cli_errors_are_clear_and_exit_2(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    result = _run(NMTEST, "--model", "1cmt-oral", "--params", path, "--out", tmp_path / "o.csv")
    assert result.exit_code == 2
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.csv").exists()


def test_unknown_model_and_bad_cmt(tmp_path, params_file):
    result = _run(NMTEST, "--model", "3cmt-magic", "--params", params_file, "--out", tmp_path / "o.csv")
    assert result.exit_code == 2 and "unknown model '3cmt-magic'" in result.output
    frame = pd.DataFrame({"ID": [1, 1], "TIME": [0, 1], "AMT": [100, 0], "DV": [np.nan, 1.0],
                          "EVID": [1, 0], "MDV": [1, 0], "CMT": [3, 1]})
    with pytest.raises(ModelError, match=r"CMT outside 1..1 in row\(s\) 1"):
        predict_frame(frame, "1cmt-iv", {"CL": 1.0, "V": 10.0})


def test_ipred_from_parameter_columns():
    """Columns named like model parameters (here per subject CL, V) give IPRED; PRED
    uses the numbers given. Exact: one IV bolus, C = D/V e^{-CL/V t}."""
    frame = pd.DataFrame({
        "ID": [1, 1, 1, 2, 2, 2], "TIME": [0, 2, 6, 0, 2, 6], "AMT": [100, 0, 0, 50, 0, 0],
        "DV": [np.nan, 1, 1, np.nan, 1, 1], "EVID": [1, 0, 0, 1, 0, 0], "MDV": [1, 0, 0, 1, 0, 0],
        "CL": [2.0] * 3 + [5.0] * 3, "V": [10.0] * 3 + [40.0] * 3})
    out = predict_frame(frame, "1cmt-iv", {"CL": 1.0, "V": 20.0})
    amt = np.repeat([100.0, 50.0], 3)
    t = frame["TIME"].to_numpy(float)
    np.testing.assert_allclose(out["PRED"], amt / 20 * np.exp(-t / 20), rtol=1e-6)
    np.testing.assert_allclose(out["IPRED"], amt / frame["V"] * np.exp(-frame["CL"] / frame["V"] * t), rtol=1e-6)


@pytest.mark.parametrize("name, model", [
    ("Oral_1CPT", "1cmt-oral"),
    pytest.param("Infusion_2CPT", "2cmt-iv", marks=pytest.mark.slow),  # one more compile
])
def test_ipred_from_true_parameters_explains_the_acop_data(name, model):
    """ACOP 2016 simulated studies (120 subjects, single, multiple and steady-state
    dosing) carry each subject's true CL, V, KA (Q, V2): IPRED from them must leave
    the simulated residual error, 20% proportional: log(DV / IPRED) has mean ~0 (the
    lognormal/proportional offset is -sigma^2/2 = -0.02 at most) and SD 0.20; a wrong
    dosing or steady-state treatment would shift both far outside these bounds."""
    ds = popkin.data.read(f"{ACOP}/{name}.csv", translate=("acop-ss99",))
    typical = {"CL": 4.0, "V": 70.0, "KA": 1.0} if model == "1cmt-oral" else {"CL": 4.0, "V": 70.0, "Q": 4.0,
                                                                                "V2": 70.0}
    out = predict_frame(ds, model, typical)
    o = out[(out["EVID"] == 0) & (out["MDV"] == 0) & (out["DV"] > 0)]
    r = np.log(o["DV"] / o["IPRED"])
    print(f"\n{name}: {len(o)} observations, log(DV/IPRED) mean {r.mean():.4f}, SD {r.std():.4f}")
    assert len(o) > 6000
    assert abs(r.mean()) < 0.03 and 0.18 < r.std() < 0.22


def test_public_names():
    """``popkin.pk.predict`` is the engine function, not the module of the same name."""
    import popkin.pk as pk
    from popkin.pk import engine

    assert pk.predict is engine.predict and callable(pk.predict_frame)


def test_model_from_a_python_file(tmp_path):
    from popkin.pk import OneCompartment, load_model

    good = tmp_path / "mymodel.py"
    good.write_text("from popkin.pk import OneCompartment\nmodel = OneCompartment(oral=False)\n")
    assert load_model(str(good)) == OneCompartment(oral=False)
    bad = tmp_path / "nomodel.py"
    bad.write_text("x = 1\n")
    with pytest.raises(ModelError, match="must define a variable named `model`"):
        load_model(str(bad))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('oops')\n")
    with pytest.raises(ModelError, match="could not import model file .*RuntimeError: oops"):
        load_model(str(broken))

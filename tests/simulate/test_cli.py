"""``popkin simulate`` and ``popkin dose`` end to end (click's CliRunner), with a
population JSON, against the Python API's numbers."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from popkin.cli import main
from popkin.simulate.spec import parse_regimen, parse_target, population_from_dict

POP = {"model": "1cmt-oral",
       "parameters": {"CL": 5.0, "V": 50.0, "KA": 1.5},
       "units": {"CL": "L/h", "V": "L", "KA": "1/h"},
       "omega": {"CL": 0.3, "V": 0.3, "KA": 0.3},
       "error": {"prop": 0.15}}


@pytest.fixture()
def files(tmp_path):
    pop = tmp_path / "pop.json"
    pop.write_text(json.dumps(POP))
    ae = tmp_path / "ae.csv"
    pd.DataFrame({"event": ["N", "rash"], "50": [6, 0], "100": [6, 1], "200": [6, 4]}).to_csv(ae, index=False)
    return tmp_path, pop, ae


@pytest.mark.slow
def test_simulate_command_writes_the_selection(files):
    """Slow: 110 s on the shared 2-core machine at load ~10 (2026-11-21)."""
    tmp, pop, ae = files
    out = tmp / "out"
    args = ["simulate", "--population", str(pop), "--regimen", "100 mg BID", "--regimen", "250 mg QD",
            "--days", "7", "--n", "64", "--chunk", "64", "--seed", "3", "--target", "auc:15-30",
            "--ae", str(ae), "--endpoint", "rash", "--limit", "P(rash)<=0.5", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    for name in ("selection.csv", "exposure.csv", "attainment.csv", "risk_rash.csv", "toxicity_check_rash.csv",
                 "toxicity_rash.png", "selection.png", "run.json"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "selection.csv")
    assert list(table["arm"]) == ["100 mg BID", "250 mg QD"]
    # the same numbers as the API with the same seed
    from popkin.simulate import Settings, simulate
    from popkin.simulate.summary import attainment

    src = population_from_dict(POP)
    sim = simulate(src, {"100 mg BID": parse_regimen("100 mg BID", 7), "250 mg QD": parse_regimen("250 mg QD", 7)},
                   Settings(n=64, chunk=64, seed=3))
    att = attainment(sim, [parse_target("auc:15-30")])
    np.testing.assert_allclose(table["P(15<=auc<=30)"], att["probability"], rtol=1e-12)
    meta = json.loads((out / "run.json").read_text())
    assert meta["selected"] == table.loc[table["selected"], "arm"].tolist()
    # never overwrite
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "already exists" in again.output


def test_simulate_command_reports_bad_input(files):
    tmp, pop, _ = files
    result = CliRunner().invoke(main, ["simulate", "--population", str(pop), "--regimen", "lots of drug",
                                       "--out", str(tmp / "x")])
    assert result.exit_code != 0 and "cannot read the regimen" in result.output
    assert not (tmp / "x").exists()
    bad = tmp / "bad.json"
    bad.write_text(json.dumps({**POP, "omega": {"Q": 0.3}}))
    result = CliRunner().invoke(main, ["simulate", "--population", str(bad), "--regimen", "10 mg BID",
                                       "--out", str(tmp / "y")])
    assert result.exit_code != 0 and "Q" in result.output


@pytest.mark.slow
def test_dose_command_recommends_a_dose(files):
    tmp, pop, _ = files
    frame = parse_regimen("100 mg BID", 7).with_observations([168.0]).to_frame(ids=[7])
    frame.loc[frame["EVID"] == 0, ["DV", "MDV"]] = [0.5, 0]
    history = tmp / "patient.csv"
    frame.to_csv(history, index=False)
    out = tmp / "dose"
    result = CliRunner().invoke(main, ["dose", "--population", str(pop), "--history", str(history),
                                       "--target", "auc:16-30", "--strength", "10", "--max-dose", "300",
                                       "--samples", "100", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rec = pd.read_csv(out / "recommendation.csv")
    assert len(rec) == 1 and rec["dose"].item() % 10 == 0
    # a trough of 0.5 mg/L at 100 mg BID is below the typical 0.92: CL above typical, a higher dose
    assert rec["dose"].item() > 100
    for name in ("candidates.csv", "individual_parameters.csv", "forecast_7.csv", "forecast_7.png", "run.json"):
        assert (out / name).is_file(), name

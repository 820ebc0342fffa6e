"""Each validation rule, on a small valid dataset changed in one place: the rule must
report exactly that row and column (and nothing else), as an error or a warning."""

import pytest

import popkin.data as pdata

HEADER = ["ID", "TIME", "AMT", "DV", "EVID", "MDV", "CMT", "RATE", "II", "ADDL", "SS", "WT"]
BASE = [  # rows 1..6; subject 2 gets 100 mg q12h x 3 through ADDL
    ["1", "0", "100", ".", "1", "1", "1", "0", "0", "0", "0", "70"],
    ["1", "1", "0", "5.0", "0", "0", "2", "0", "0", "0", "0", "70"],
    ["1", "4", "0", "3.0", "0", "0", "2", "0", "0", "0", "0", "70"],
    ["2", "0", "100", ".", "1", "1", "1", "0", "12", "2", "0", "80"],
    ["2", "1", "0", "4.0", "0", "0", "2", "0", "0", "0", "0", "80"],
    ["2", "30", "0", "2.0", "0", "0", "2", "0", "0", "0", "0", "80"],
]


def dataset(tmp_path, changes=None, rows=None, header=HEADER):
    """BASE with ``changes`` {(row, column): value} applied, written as a CSV."""
    rows = [list(r) for r in (rows or BASE)]
    for (r, col), value in (changes or {}).items():
        rows[r - 1][header.index(col)] = value
    path = tmp_path / "d.csv"
    path.write_text("\n".join(",".join(r) for r in [header] + rows) + "\n")
    return path


def found(path, severity, **kw):
    return {(v.row, v.column) for v in pdata.validate(path, **kw) if v.severity == severity}


def test_base_is_clean(tmp_path):
    assert pdata.validate(dataset(tmp_path)) == []


ERRORS = [
    # non-numeric cells, in role and covariate columns
    ({(2, "TIME"): "1h"}, {(2, "TIME")}),
    ({(1, "AMT"): "100mg"}, {(1, "AMT")}),
    ({(3, "DV"): "<0.1"}, {(3, "DV")}),
    ({(5, "WT"): "eighty"}, {(5, "WT")}),
    # missing values that cannot default
    ({(2, "TIME"): "."}, {(2, "TIME")}),
    ({(3, "ID"): "."}, {(3, "ID")}),
    # TIME going backwards within a subject
    ({(3, "TIME"): "0.5"}, {(3, "TIME")}),
    # doses without an amount, negative amounts
    ({(1, "AMT"): "0"}, {(1, "AMT")}),
    ({(1, "AMT"): "-100"}, {(1, "AMT")}),
    ({(2, "AMT"): "-1"}, {(2, "AMT")}),
    # an observation or other record carrying a dose
    ({(2, "AMT"): "50"}, {(2, "AMT")}),
    ({(2, "EVID"): "2", (2, "MDV"): "1", (2, "AMT"): "50"}, {(2, "AMT")}),
    # codes outside NONMEM's
    ({(1, "EVID"): "101"}, {(1, "EVID")}),
    ({(1, "EVID"): "7"}, {(1, "EVID")}),
    ({(2, "EVID"): "0.5"}, {(2, "EVID")}),
    ({(1, "SS"): "99"}, {(1, "SS")}),
    ({(2, "MDV"): "2"}, {(2, "MDV")}),
    # ADDL / SS need II; ADDL and SS belong on doses
    ({(4, "II"): "0"}, {(4, "II")}),
    ({(1, "SS"): "1"}, {(1, "II")}),
    ({(4, "ADDL"): "-1"}, {(4, "ADDL")}),
    ({(4, "ADDL"): "1.5"}, {(4, "ADDL")}),
    ({(2, "ADDL"): "2"}, {(2, "ADDL")}),
    ({(2, "SS"): "1"}, {(2, "SS")}),
    ({(4, "II"): "-12"}, {(4, "II")}),
    # RATE: legal codes, only on doses, not without AMT (except SS constant infusion)
    ({(1, "RATE"): "-3"}, {(1, "RATE")}),
    ({(2, "RATE"): "10"}, {(2, "RATE")}),
    ({(1, "AMT"): "0", (1, "RATE"): "10"}, {(1, "RATE")}),
    ({(1, "AMT"): "0", (1, "RATE"): "10", (1, "SS"): "1", (1, "II"): "24"}, {(1, "II")}),
    # a dose record that also claims an observation
    ({(1, "MDV"): "0"}, {(1, "MDV")}),
    # negative or fractional compartments
    ({(2, "CMT"): "-2"}, {(2, "CMT")}),
    ({(2, "CMT"): "1.5"}, {(2, "CMT")}),
    # a subject's records split by another subject's
    ({(3, "ID"): "2", (4, "ID"): "1", (5, "ID"): "1", (6, "ID"): "1"}, {(4, "ID")}),
    # several problems at once: all of them
    ({(1, "EVID"): "101", (3, "DV"): "x", (5, "TIME"): "-1", (6, "SS"): "99"},
     {(1, "EVID"), (3, "DV"), (5, "TIME"), (6, "SS")}),
]


@pytest.mark.parametrize("changes,expected", ERRORS)
def test_errors_at_their_row_and_column(tmp_path, changes, expected):
    assert found(dataset(tmp_path, changes), "error") == expected


LEGAL = [
    {(1, "AMT"): "0", (1, "RATE"): "100", (1, "SS"): "1"},  # steady-state constant infusion
    {(1, "AMT"): "0", (1, "RATE"): "100", (1, "SS"): "2"},
    {(1, "RATE"): "-2"},                                      # modelled duration
    {(1, "RATE"): "-1"},                                      # modelled rate
    {(1, "RATE"): "50"},                                      # a 2-h infusion
    {(4, "SS"): "1"},                                         # SS with II 12
    {(2, "MDV"): "1"},                                        # an observation left out
    {(6, "TIME"): "-5", (6, "EVID"): "3", (6, "MDV"): "1", (6, "DV"): "."},  # reset with time restart
    {(2, "CMT"): "."},                                        # CMT '.': the default compartment
]


@pytest.mark.parametrize("changes", LEGAL)
def test_legal_nonmem_is_accepted(tmp_path, changes):
    assert found(dataset(tmp_path, changes), "error") == set()


def test_time_may_restart_at_a_reset_dose(tmp_path):
    rows = [list(r) for r in BASE] + [["2", "0", "100", ".", "4", "1", "1", "0", "0", "0", "0", "80"],
                                      ["2", "2", "0", "3.0", "0", "0", "2", "0", "0", "0", "0", "80"]]
    assert found(dataset(tmp_path, rows=rows), "error") == set()
    rows[6][4] = "1"  # the same record as a plain dose: time goes backwards
    assert found(dataset(tmp_path, rows=rows), "error") == {(7, "TIME")}


def test_duplicated_rows(tmp_path):
    rows = [list(r) for r in BASE]
    rows.insert(2, list(rows[1]))  # row 3 repeats row 2
    path = dataset(tmp_path, rows=rows)
    (v,) = [v for v in pdata.validate(path) if v.severity == "error"]
    assert (v.row, v.column) == (3, None) and "repeats row 2" in v.message


def test_compartments_of_the_model(tmp_path):
    path = dataset(tmp_path, {(3, "CMT"): "3"})
    assert found(path, "error") == set()
    assert found(path, "error", compartments=2) == {(3, "CMT")}
    assert found(path, "error", compartments=3) == set()
    (v,) = pdata.validate(path, compartments=("depot", "central"))
    assert "(1 depot, 2 central)" in v.message


def test_log_scale_dv(tmp_path):
    path = dataset(tmp_path, {(3, "DV"): "0", (5, "DV"): "-1", (6, "MDV"): "1", (6, "DV"): "0"})
    assert found(path, "error") == set()
    assert found(path, "error", log_dv=True) == {(3, "DV"), (5, "DV")}


def test_missing_required_columns(tmp_path):
    header = [h for h in HEADER if h != "TIME"]
    rows = [[c for h, c in zip(HEADER, r) if h != "TIME"] for r in BASE]
    assert found(dataset(tmp_path, rows=rows, header=header), "error") == {(None, "TIME")}


WARNINGS = [
    # an observation listed after a dose at the same time
    ({(2, "TIME"): "0"}, {(2, "TIME")}),
    # DV missing on an observation that says MDV 0
    ({(3, "DV"): "."}, {(3, "DV")}),
    # II on a record that is not a dose
    ({(2, "II"): "24"}, {(2, "II")}),
    # a subject without observations / without doses
    ({(5, "MDV"): "1", (5, "EVID"): "2", (6, "MDV"): "1", (6, "EVID"): "2"}, {(4, "ID")}),
    ({(1, "AMT"): "0", (1, "EVID"): "2"}, {(1, "ID")}),
    # a very large gap in time (> 4 weeks)
    ({(6, "TIME"): "2000"}, {(6, "TIME")}),
    # a covariate missing on every record of a subject
    ({(1, "WT"): ".", (2, "WT"): ".", (3, "WT"): "."}, {(1, "WT")}),
]


@pytest.mark.parametrize("changes,expected", WARNINGS)
def test_warnings_at_their_row_and_column(tmp_path, changes, expected):
    path = dataset(tmp_path, changes)
    assert found(path, "error") == set()
    assert found(path, "warning") == expected


def test_observation_before_the_dose_is_a_predose_sample(tmp_path):
    rows = [list(r) for r in BASE]
    rows.insert(0, ["1", "0", "0", "0.1", "0", "0", "2", "0", "0", "0", "0", "70"])
    assert pdata.validate(dataset(tmp_path, rows=rows)) == []


def test_missing_dv_becomes_not_fitted(tmp_path):
    ds = pdata.read(dataset(tmp_path, {(3, "DV"): "."}))
    assert ds.frame.loc[2, "MDV"] == 1
    assert not bool(ds.pack().obs[0, 2])


def test_blq_warnings(tmp_path):
    header = HEADER + ["BLQ", "LLOQ"]
    rows = [r + ["0", "0.5"] for r in BASE]
    rows[2][header.index("BLQ")] = "1"
    rows[2][header.index("LLOQ")] = "."
    rows[4][header.index("DV")] = "0.2"  # below the LLOQ but not flagged
    path = dataset(tmp_path, rows=rows, header=header)
    assert found(path, "warning") == {(3, "BLQ"), (5, "DV")}


def test_dv_on_a_dose_without_mdv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("ID,TIME,AMT,DV\n1,0,100,5.2\n1,1,0,3\n")
    assert found(path, "warning") == {(1, "DV")}
    path.write_text("ID,TIME,AMT,DV,MDV\n1,0,100,5.2,0\n1,1,0,3,0\n")
    (v,) = [v for v in pdata.validate(path) if v.severity == "error"]
    assert (v.row, v.column) == (1, "MDV") and "cannot be both" in v.message


def test_messages_say_how_to_fix(tmp_path):
    path = dataset(tmp_path, {(1, "EVID"): "101", (4, "SS"): "99", (3, "TIME"): "0.5"})
    text = {(v.row, v.column): v.message for v in pdata.validate(path)}
    assert "translate=('rxode2-evid',)" in text[(1, "EVID")]
    assert "translate=('acop-ss99',)" in text[(4, "SS")]
    assert "sort the records by TIME" in text[(3, "TIME")]
    assert str(pdata.validate(path)[0]).startswith("row 1, column EVID: EVID 101")

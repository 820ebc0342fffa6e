"""from_nonmem: time after dose, dose amounts, steady-state flags, occasions,
and error messages that name the row and column."""

import numpy as np
import pandas as pd
import pytest

from popkin.errors import DatasetError
from popkin.nca import from_nonmem, read_nonmem_csv


def records(*rows):
    cols = ["ID", "TIME", "AMT", "DV", "EVID", "MDV"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows])


def test_time_after_most_recent_dose_and_its_amount():
    frame = records(
        (1, 0, 100, np.nan, 1, 1),
        (1, 1, np.nan, 5.0, 0, 0),
        (1, 24, np.nan, 1.0, 0, 0),  # pre-dose sample at the time of the second dose
        (1, 24, 50, np.nan, 1, 1),
        (1, 26, np.nan, 4.0, 0, 0),
    )
    out = from_nonmem(frame)
    # the sample at 24 h is the pre-dose sample (TIME 0) of the second dose and
    # also closes the first dose's profile (TIME 24), as in PKNCA
    assert out["TIME"].tolist() == [1, 24, 0, 2]
    assert out["DOSE"].tolist() == [100, 100, 50, 50]
    assert out["DOSENO"].tolist() == [1, 1, 2, 2]
    assert out["ATIME"].tolist() == [1, 24, 24, 26]
    assert out["ROW"].tolist() == [2, 3, 3, 5]
    assert out["SS"].tolist() == [0, 0, 0, 0]  # no tau, no II: a single-dose profile each
    # with tau = 24 the second dose follows the first by one interval: steady state
    assert from_nonmem(frame, tau=24)["SS"].tolist() == [0, 0, 1, 1]
    assert from_nonmem(frame, tau=12)["SS"].tolist() == [0, 0, 0, 0]


def test_trough_only_sample_is_not_shared_with_an_unsampled_interval():
    frame = records((1, 0, 10, np.nan, 1, 1), (1, 12, np.nan, 1.0, 0, 0), (1, 12, 10, np.nan, 1, 1))
    out = from_nonmem(frame)
    assert out["TIME"].tolist() == [0] and out["DOSENO"].tolist() == [2]


def test_addl_ii_expansion_and_nonmem_ss_flag():
    frame = records((1, 0, 10, np.nan, 1, 1), (1, 30, np.nan, 2.0, 0, 0), (2, 0, 10, np.nan, 1, 1), (2, 3, np.nan, 2.0, 0, 0))
    frame["ADDL"] = [2, 0, 0, 0]
    frame["II"] = [12, 0, 0, 0]
    frame["SS"] = [0, 0, 1, 0]
    out = from_nonmem(frame)
    assert out["TIME"].tolist() == [6, 3]  # doses at 0, 12, 24 -> 30 is 6 h after the third
    assert out["DOSENO"].tolist() == [3, 1]
    assert out["SS"].tolist() == [1, 1]  # subject 1: previous dose one II earlier; subject 2: SS = 1


def test_case_insensitive_columns_missing_values_and_blq():
    frame = pd.DataFrame({
        "id": [1, 1, 1, 1], "time": [0, 1, 2, 3], "amt": [5, ".", ".", "."], "dv": [".", 3.0, 1.0, "."],
        "evid": [1, 0, 0, 0], "mdv": [1, 0, 0, 1], "blq": [0, 0, 0, 1], "dosegrp": ["A"] * 4,
        "dose": [99] * 4,  # an input column named like a generated one is replaced, not duplicated
    })
    out = from_nonmem(frame)
    assert out.columns.is_unique and out["DOSE"].tolist() == [5, 5, 5]
    assert out["TIME"].tolist() == [1, 2, 3]  # the BLQ row is kept although MDV = 1
    assert out["BLQ"].tolist() == [0, 0, 1]
    assert out["DOSEGRP"].tolist() == ["A"] * 3  # other columns are carried


def test_observations_before_first_dose_or_after_reset_are_left_out_with_a_warning():
    frame = records((1, -1, np.nan, 0.0, 0, 0), (1, 0, 10, np.nan, 1, 1), (1, 1, np.nan, 2.0, 0, 0),
                    (1, 5, np.nan, np.nan, 3, 1), (1, 6, np.nan, 0.5, 0, 0))
    with pytest.warns(UserWarning, match="2 observation"):
        out = from_nonmem(frame)
    assert out["ATIME"].tolist() == [1]


def test_occasion_profiles_reference_the_occasion_dose():
    frame = records(
        (1, 0, 10, np.nan, 1, 1), (1, 0, np.nan, 0.0, 0, 0), (1, 12, np.nan, 2.0, 0, 0),
        (1, 48, np.nan, 1.0, 0, 0),  # last day-1 sample, pre-dose of the BID block
        (1, 48, 10, np.nan, 1, 1), (1, 60, 10, np.nan, 1, 1),
        (1, 60, np.nan, 3.0, 0, 0), (1, 61, np.nan, 9.0, 0, 0), (1, 72, np.nan, 4.0, 0, 0),
        (1, 72, 10, np.nan, 1, 1),  # next dose at the last sample time: not inside the profile
    )
    frame["OCC"] = [1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    out = from_nonmem(frame, occasion="occ", tau=12)
    assert out["TIME"].tolist() == [0, 12, 48, 0, 1, 12]
    assert out["SS"].tolist() == [0, 0, 0, 1, 1, 1]
    assert out["OCC"].tolist() == [1, 1, 1, 2, 2, 2]


def test_dose_inside_an_occasion_is_an_error_naming_the_row():
    frame = records((1, 0, 10, np.nan, 1, 1), (1, 1, np.nan, 2.0, 0, 0), (1, 12, 10, np.nan, 1, 1),
                    (1, 13, np.nan, 3.0, 0, 0))
    frame["OCC"] = 1
    with pytest.raises(DatasetError) as err:
        from_nonmem(frame, occasion="OCC")
    v = err.value.violations[0]
    assert v.row == 3 and v.column == "TIME"
    assert "inside the occasion" in v.message and "another OCC value" in v.message


def test_bad_values_are_all_reported_with_row_and_column():
    frame = pd.DataFrame({"ID": [1, 1, 1], "TIME": [0, "x", 2], "AMT": [10, ".", "."], "DV": [".", 1, "abc"],
                          "EVID": [1, 0, 0], "MDV": [1, 0, 0]})
    with pytest.raises(DatasetError) as err:
        from_nonmem(frame)
    found = {(v.row, v.column) for v in err.value.violations}
    assert found == {(2, "TIME"), (3, "DV")}
    assert "row 3, column DV: 'abc' is not a number" in str(err.value)


def test_missing_required_column_and_dose_without_amount():
    with pytest.raises(DatasetError, match="required column DV is missing"):
        from_nonmem(pd.DataFrame({"ID": [1], "TIME": [0], "AMT": [1]}))
    with pytest.raises(DatasetError, match="row 1, column AMT"):
        from_nonmem(records((1, 0, np.nan, np.nan, 1, 1), (1, 1, np.nan, 2.0, 0, 0)))


def test_read_nonmem_csv_dot_missing_row_numbers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("Id,Time,Amt,Dv,Evid,Mdv\n1,0,10,.,1,1\n\n1,1,.,2.5,0,0\n")
    frame = read_nonmem_csv(path)
    assert list(frame.columns) == ["ROW", "ID", "TIME", "AMT", "DV", "EVID", "MDV"]
    assert frame["ROW"].tolist() == [1, 3]  # row numbers as in the file, blank line counted
    assert np.isnan(frame["DV"].iloc[0]) and frame["DV"].iloc[1] == 2.5
    (tmp_path / "dup.csv").write_text("ID,id,TIME\n1,1,0\n")
    with pytest.raises(DatasetError, match="case-insensitive"):
        read_nonmem_csv(tmp_path / "dup.csv")

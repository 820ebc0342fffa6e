"""The reader: CSV and DataFrame sources, NM-TRAN conventions, defaults, layouts,
and files that are not datasets at all (never a traceback)."""

import numpy as np
import pandas as pd
import pytest

import popkin.data as pdata
from popkin.data import Layout, SingleDose
from popkin.errors import DatasetError


def write(tmp_path, text, name="data.csv", mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def only_errors(source, **kw):
    return [v for v in pdata.validate(source, **kw) if v.severity == "error"]


# --- NM-TRAN reading conventions --------------------------------------------------

def test_dot_is_missing_and_names_are_case_insensitive(tmp_path):
    path = write(tmp_path, "id,Time,amt,Dv,evid,mdv,wt\n1,0,100,.,1,1,70\n1,1,.,5.5,0,0,.\n")
    ds = pdata.read(path)
    f = ds.frame
    assert list(f.columns[:14]) == ["ID", "TIME", "EVID", "AMT", "CMT", "RATE", "II", "ADDL", "SS",
                                    "DV", "MDV", "BLQ", "LLOQ", "ROW"]
    assert np.isnan(f.loc[0, "DV"]) and f.loc[1, "AMT"] == 0 and f.loc[1, "DV"] == 5.5
    assert ds.covariates == ("wt",)  # covariates keep the name as written
    assert np.isnan(f.loc[1, "wt"])
    assert list(f["ROW"]) == [1, 2]


def test_evid_from_amt_and_mdv_from_evid_as_nmtran(tmp_path):
    # no EVID: AMT > 0 is a dose, MDV 1 without a dose is "other" (EVID 2), else an observation
    path = write(tmp_path, "ID,TIME,AMT,DV,MDV\n1,0,100,.,1\n1,0.5,0,.,1\n1,1,0,4.2,0\n")
    f = pdata.read(path).frame
    assert list(f["EVID"]) == [1, 2, 0]
    # no MDV: 1 on non-observations, 0 on observations
    path = write(tmp_path, "ID,TIME,AMT,DV,EVID\n1,0,100,.,1\n1,1,0,4.2,0\n1,2,0,3.1,0\n", "b.csv")
    f = pdata.read(path).frame
    assert list(f["MDV"]) == [1, 0, 0]
    # no AMT/EVID/MDV at all: every record is an observation (and a warning: no doses)
    path = write(tmp_path, "ID,TIME,DV\n1,0,1\n1,1,2\n", "c.csv")
    ds = pdata.read(path)
    assert list(ds.frame["EVID"]) == [0, 0] and ds.frame["CMT"].tolist() == [1, 1]
    assert [(v.row, v.column) for v in ds.warnings] == [(1, "ID")]


def test_dataframe_source_rows_and_source_label():
    df = pd.DataFrame({"ID": [1, 1, 2, 2], "TIME": [0, 1, 0, 1], "AMT": [10, 0, 10, 0],
                       "DV": [np.nan, 1.0, np.nan, 2.0], "WT": [60.0, 60.0, 80.0, 80.0]})
    ds = pdata.read(df)
    assert ds.source == "<DataFrame>" and list(ds.frame["ROW"]) == [1, 2, 3, 4]
    bad = df.assign(TIME=[0, 1, "x", 1])
    assert [(v.row, v.column) for v in only_errors(bad)] == [(3, "TIME")]


def test_text_ids_are_kept(tmp_path):
    path = write(tmp_path, "ID,TIME,AMT,DV\nS-01,0,5,.\nS-01,1,0,2\nS-02,0,5,.\nS-02,1,0,3\n")
    ds = pdata.read(path)
    assert list(ds.frame["ID"].unique()) == ["S-01", "S-02"]
    assert ds.pack().ids == ("S-01", "S-02")


def test_comment_lines_and_c_column_keep_row_numbers(tmp_path):
    text = ("C,ID,TIME,AMT,DV\n"
            ".,1,0,100,.\n"
            "C,1,0.5,0,999\n"      # commented out (IGNORE=C)
            "# a note\n"            # comment line (IGNORE=#)
            ".,1,1,0,abc\n")
    errors = only_errors(write(tmp_path, text))
    assert [(v.row, v.column) for v in errors] == [(4, "DV")]  # the 4th line after the header


@pytest.mark.parametrize("text", [
    "# study 12\n# units: h, mg\nID,TIME,DV\n1,0,1\n1,1,x\n",  # comments above the header
    "#ID,TIME,DV\n1,0,1\n1,1,x\n",                                # the header written as a comment
    "ID,TIME,DV\r\n1,0,1\r\n1,1,x\r\n",                          # Windows line ends
    "ID,TIME,DV\r1,0,1\r1,1,x\r",                                  # old Mac line ends
    "ID,TIME,DV\n1,0,1\x0b\n1,1,x\n",                              # a stray control character
])
def test_headers_and_line_ends(tmp_path, text):
    errors = only_errors(write(tmp_path, text))
    assert [(v.row, v.column) for v in errors][-1] == (2, "DV")


@pytest.mark.parametrize("sep", ["\t", " ", "   "])
def test_tab_and_space_delimited(tmp_path, sep):
    lines = ["ID TIME AMT DV", "1 0 100 .", "1 1 0 3.5"]
    path = write(tmp_path, "\n".join(sep.join(line.split()) for line in lines) + "\n")
    f = pdata.read(path).frame
    assert list(f["DV"].fillna(-1)) == [-1, 3.5]


def test_blq_lloq_and_monolix_cens(tmp_path):
    path = write(tmp_path, "ID,TIME,AMT,DV,BLQ,LLOQ\n1,0,100,.,0,.\n1,1,0,5,0,0.1\n1,24,0,.,1,0.1\n")
    ds = pdata.read(path)
    assert list(ds.frame["BLQ"]) == [0, 0, 1] and ds.frame.loc[2, "LLOQ"] == 0.1
    assert ds.frame.loc[2, "MDV"] == 0  # a censored observation is still part of the fit
    assert ds.summary()["blq"] == 1 and ds.summary()["observations"] == 1
    # Monolix/nlmixr2: CENS 1 with the limit in DV; LIMIT is the lower bound (not used)
    path = write(tmp_path, "ID,TIME,AMT,DV,CENS,LIMIT\n1,0,100,.,0,.\n1,1,0,5,0,.\n1,24,0,0.1,1,0\n", "m.csv")
    ds = pdata.read(path)
    assert ds.frame.loc[2, "BLQ"] == 1 and ds.frame.loc[2, "LLOQ"] == 0.1
    assert ds.warnings == []
    path = write(tmp_path, "ID,TIME,AMT,DV,CENS,LIMIT\n1,0,100,.,0,.\n1,24,0,0.1,1,0.01\n", "l.csv")
    assert [w.column for w in pdata.read(path).warnings] == ["LIMIT"]


def test_decimal_comma_hint(tmp_path):
    path = write(tmp_path, 'ID,TIME,AMT,DV\n1,0,100,.\n1,1,0,"2,5"\n')
    (v,) = only_errors(path)
    assert (v.row, v.column) == (2, "DV") and "decimal mark" in v.message


def test_compartment_names_are_numbered(tmp_path):
    path = write(tmp_path, "ID,TIME,AMT,DV,CMT\n1,0,100,.,depot\n1,1,0,2,central\n1,2,0,1,periph\n")
    errors = only_errors(path, compartments=("depot", "central"))
    assert [(v.row, v.column) for v in errors] == [(3, "CMT")]
    path = write(tmp_path, "ID,TIME,AMT,DV,CMT\n1,0,100,.,depot\n1,1,0,2,Central\n", "b.csv")
    assert list(pdata.read(path, compartments=("depot", "central")).frame["CMT"]) == [1, 2]


def test_dataset_is_read_only(tmp_path):
    ds = pdata.read(write(tmp_path, "ID,TIME,AMT,DV\n1,0,100,.\n1,1,0,2\n"))
    f = ds.frame
    f.loc[0, "AMT"] = -5
    assert ds.frame.loc[0, "AMT"] == 100
    with pytest.raises(AttributeError):
        ds.covariates = ("X",)


def test_row_column_in_input_is_not_used(tmp_path):
    ds = pdata.read(write(tmp_path, "ID,TIME,AMT,DV,ROW\n1,0,100,.,7\n1,1,0,2,9\n"))
    assert list(ds.frame["ROW"]) == [1, 2] and [w.column for w in ds.warnings] == ["ROW"]


def test_summary_on_a_known_design(tmp_path):
    # 2 subjects: 100 mg q12h x 4 (ADDL 3) and 50 mg SS q24h; WT constant, CRCL time-varying
    text = ("ID,TIME,AMT,II,ADDL,SS,DV,BLQ,LLOQ,WT,CRCL\n"
            "1,0,100,12,3,0,.,0,.,70,100\n1,2,0,0,0,0,3.5,0,.,70,100\n1,40,0,0,0,0,.,1,0.1,70,90\n"
            "2,0,50,24,0,1,.,0,.,80,120\n2,4,0,0,0,0,2.0,0,.,80,.\n")
    s = pdata.read(write(tmp_path, text)).summary()
    assert isinstance(s, dict)
    assert (s["subjects"], s["records"], s["dose_records"], s["doses"]) == (2, 5, 2, 5)
    assert (s["observations"], s["blq"], s["not_fitted"]) == (2, 1, 0)
    assert s["dosing_intervals"] == {"II": [12.0, 24.0], "gaps": {12.0: 3}}
    assert s["covariates"]["WT"] == {"missing": 0, "min": 70.0, "max": 80.0, "constant": True}
    assert s["covariates"]["CRCL"]["constant"] is False and s["covariates"]["CRCL"]["missing"] == 1
    text = str(s)
    assert "2 subjects, 5 records" in text and "doses: 5 (2 dose records, ADDL adds 3)" in text
    assert "gaps between doses: 12 h (x3)" in text and "CRCL: 90 to 120, time-varying, 1 missing" in text


# --- layouts ---------------------------------------------------------------------

def test_dict_mapping_renames_columns(tmp_path):
    path = write(tmp_path, "Subject,Hours,Dose,Conc\n1,0,100,.\n1,1,0,2.5\n")
    f = pdata.read(path, mapping={"ID": "Subject", "TIME": "Hours", "AMT": "Dose", "DV": "Conc"}).frame
    assert list(f["EVID"]) == [1, 0] and list(f["AMT"]) == [100, 0]


def test_layout_dose_from_columns_and_infusion(tmp_path):
    lay = Layout(name="x", columns={"ID": "Pt", "TIME": "T", "DV": "C"},
                 dose=SingleDose(amt=("mgkg", "kg"), time=0.0, cmt=2, duration=0.5), obs_cmt=2)
    path = write(tmp_path, "Pt,T,C,mgkg,kg\n7,0.25,1.0,2,50\n7,1,0.5,2,50\n8,0.5,2.0,3,40\n")
    f = pdata.read(path, mapping=lay).frame
    doses = f[f["EVID"] == 1]
    assert list(doses["ID"]) == [7, 8] and list(doses["AMT"]) == [100.0, 120.0]
    assert list(doses["RATE"]) == [200.0, 240.0] and set(doses["CMT"]) == {2}
    assert list(f["EVID"]) == [1, 0, 0, 1, 0]


def test_layout_problems_are_violations(tmp_path):
    lay = Layout(name="x", columns={"ID": "Pt", "TIME": "T", "DV": "C"}, dose=SingleDose(amt="mg"))
    path = write(tmp_path, "Pt,T,C\n1,0,1\n")
    assert [(v.row, v.column) for v in only_errors(path, mapping=lay)] == [(None, "mg")]
    path = write(tmp_path, "Pt,T,C,mg\n1,0,1,.\n1,1,2,100\n2,0,1,50\n", "b.csv")
    errors = only_errors(path, mapping=lay)
    assert [(v.row, v.column) for v in errors] == [(1, "mg")]
    assert "missing on the subject's first row" in errors[0].message
    lay2 = Layout(name="lv", levels={"sex": {"F": 0, "M": 1}})
    path = write(tmp_path, "ID,TIME,AMT,DV,sex\n1,0,1,.,F\n1,1,0,2,X\n", "c.csv")
    assert [(v.row, v.column) for v in only_errors(path, mapping=lay2)] == [(2, "sex")]


def test_missing_id_suggests_a_mapping(tmp_path):
    path = write(tmp_path, "Subject,Time,conc\n1,0,1\n")
    (v,) = only_errors(path)
    assert (v.row, v.column) == (None, "ID") and "'Subject'" in v.message and "mapping=" in v.message


# --- things that are not datasets --------------------------------------------------

@pytest.mark.parametrize("content,fragment", [
    ("", "is empty"),
    ("   \n\n", "is empty"),
    ("ID,TIME,DV\n", "no data rows"),
    ("1,0,100\n1,1,0\n", "looks like data, not a header"),
    ("ID;TIME;DV\n1;0;1,5\n", "';' as the delimiter"),
    ("IDTIMEDV\n1\n", "single column"),
    ("ID,TIME,ID\n1,0,1\n", "twice"),
    ("ID,,DV\n1,0,1\n", "no name"),
])
def test_unreadable_text_files(tmp_path, content, fragment):
    violations = only_errors(write(tmp_path, content))
    assert len(violations) >= 1 and fragment in violations[0].message
    with pytest.raises(DatasetError):
        pdata.read(tmp_path / "data.csv")


@pytest.mark.parametrize("blob,fragment", [
    (bytes(range(256)) * 4, "not a text file"),
    (b"PK\x03\x04" + b"\x00" * 100, "Excel workbook"),
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "not a text file"),
])
def test_binary_files(tmp_path, blob, fragment):
    (v,) = only_errors(write(tmp_path, blob, mode="wb"))
    assert fragment in v.message and v.row is None


def test_missing_file_folder_and_wrong_type(tmp_path):
    assert "not found" in only_errors(tmp_path / "nope.csv")[0].message
    assert "is a folder" in only_errors(tmp_path)[0].message
    assert "cannot read a dataset from a list" in only_errors([1, 2])[0].message


def test_ragged_rows_are_reported_by_row(tmp_path):
    path = write(tmp_path, "ID,TIME,AMT,DV\n1,0,100,.\n1,1,0\n1,2,0,3,4\n1,3,0,2\n")
    errors = only_errors(path)
    assert [(v.row, v.column) for v in errors] == [(2, None), (3, None)]
    assert "has 3 values but the header names 4 columns" in errors[0].message


def test_bad_arguments_are_violations(tmp_path):
    path = write(tmp_path, "ID,TIME,AMT,DV\n1,0,100,.\n")
    assert "unknown translation" in only_errors(path, translate=("nope",))[0].message
    assert "compartments=" in only_errors(path, compartments=0)[0].message
    assert "compartments=" in only_errors(path, compartments="two")[0].message

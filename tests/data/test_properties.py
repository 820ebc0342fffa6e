"""Property tests: random valid datasets survive read -> pack with every dose, sample
and time intact; a random single corruption is reported at exactly its row and
column, always as a DatasetError, never as another exception."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import popkin.data as pdata
from popkin.errors import DatasetError, Violation

HEADER = ["ID", "TIME", "EVID", "AMT", "DV", "MDV", "CMT", "II", "ADDL", "WT", "CRCL"]
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def subject(draw, sid):
    """One subject: doses (some with ADDL) and samples at distinct quarter-hour times."""
    slots = draw(st.lists(st.integers(1, 800), min_size=1, max_size=8, unique=True))
    times = [0.0] + sorted(k / 4 for k in slots)          # a dose always at 0
    n_dose = draw(st.integers(1, min(3, len(times))))
    dose_at = set([0] + draw(st.lists(st.integers(1, len(times) - 1), max_size=n_dose - 1, unique=True))
                  if len(times) > 1 else [0])
    wt = draw(st.integers(40, 120))
    records = []
    for k, t in enumerate(times):
        crcl = "." if draw(st.booleans()) and k > 0 else str(draw(st.integers(20, 150)))
        if k in dose_at:
            addl = draw(st.integers(0, 4))
            ii = draw(st.sampled_from([6.0, 12.0, 24.0])) if addl else 0.0
            amt = draw(st.integers(1, 2000)) / 4
            records.append(dict(ID=sid, TIME=t, EVID=1, AMT=amt, DV=".", MDV=1, CMT=1, II=ii, ADDL=addl,
                                WT=wt, CRCL=crcl))
        else:
            records.append(dict(ID=sid, TIME=t, EVID=0, AMT=0, DV=round(0.01 + 7.3 * sid + t / 10, 6), MDV=0,
                                CMT=2, II=0, ADDL=0, WT=wt, CRCL=crcl))
    return records


@st.composite
def datasets(draw):
    n = draw(st.integers(1, 4))
    return [rec for sid in range(1, n + 1) for rec in draw(subject(sid))]


def render(records, header=HEADER):
    lines = [",".join(header)] + [",".join(str(r[h]) for h in header) for r in records]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("prop")


@settings(max_examples=30, **SETTINGS)
@given(records=datasets())
def test_valid_datasets_round_trip_through_read_and_pack(folder, records):
    path = folder / "valid.csv"
    path.write_text(render(records))
    ds = pdata.read(path)
    f = ds.frame
    assert len(f) == len(records) and list(f["ROW"]) == list(range(1, len(records) + 1))
    assert list(f["TIME"]) == [r["TIME"] for r in records]
    assert list(f["EVID"]) == [r["EVID"] for r in records]

    doses = [r for r in records if r["EVID"] == 1]
    expected_doses = sorted((r["ID"], r["TIME"] + k * r["II"]) for r in doses for k in range(r["ADDL"] + 1))
    obs = sorted((r["ID"], r["TIME"]) for r in records if r["EVID"] == 0)
    assert ds.summary()["doses"] == len(expected_doses)

    a = ds.pack()
    mask, time, evid = (np.asarray(x) for x in (a.mask, a.time, a.evid))
    ids = np.repeat(np.asarray(a.ids), a.n_records).reshape(mask.shape)
    assert int(mask.sum()) == len(records) + sum(r["ADDL"] for r in doses)
    got_doses = sorted(zip(ids[mask & (evid == 1)].tolist(), time[mask & (evid == 1)].tolist()))
    assert got_doses == expected_doses
    got_obs = sorted(zip(ids[np.asarray(a.obs)].tolist(), time[np.asarray(a.obs)].tolist()))
    assert got_obs == obs
    # times never go backwards within a subject, padding repeats the last time
    assert (np.diff(time, axis=1) >= 0).all()

    # CRCL carried forward (last value at or before each record); WT constant
    crcl = np.asarray(a.covariate("CRCL"))
    for i, sid in enumerate(a.ids):
        mine = [r for r in records if r["ID"] == sid]
        for j in np.flatnonzero(mask[i]):
            t = time[i, j]
            known = [float(r["CRCL"]) for r in mine if r["TIME"] <= t and r["CRCL"] != "."]
            first = next(float(r["CRCL"]) for r in mine if r["CRCL"] != ".")
            assert crcl[i, j] == (known[-1] if known else first)
        assert set(np.asarray(a.covariate("WT"))[i].tolist()) == {float(mine[0]["WT"])}


def corrupt(records, kind, pick):
    """Apply one corruption; return (records, header, expected {(row, column)})."""
    recs = [dict(r) for r in records]
    n = len(recs)
    r = pick % n
    header = list(HEADER)
    if kind == "text":
        col = ["TIME", "AMT", "DV", "WT", "CMT", "II"][pick % 6]
        recs[r][col] = "oops"
        return recs, header, {(r + 1, col)}
    if kind == "negative-amt":
        r = [k for k, x in enumerate(recs) if x["EVID"] == 1][pick % sum(x["EVID"] == 1 for x in recs)]
        recs[r]["AMT"] = -abs(recs[r]["AMT"])
        return recs, header, {(r + 1, "AMT")}
    if kind == "time-back":
        later = [k for k in range(1, n) if recs[k]["ID"] == recs[k - 1]["ID"]]
        if not later:
            return None
        r = later[pick % len(later)]
        recs[r]["TIME"] = recs[r - 1]["TIME"] - 1.0
        return recs, header, {(r + 1, "TIME")}
    if kind == "bad-evid":
        recs[r]["EVID"] = [5, 7, 9, 101, -1, 2.5][pick % 6]
        return recs, header, {(r + 1, "EVID")}
    if kind == "bad-ss":
        header.append("SS")
        for x in recs:
            x["SS"] = 0
        r = [k for k, x in enumerate(recs) if x["EVID"] == 1][pick % sum(x["EVID"] == 1 for x in recs)]
        recs[r]["SS"] = [3, 99, -1][pick % 3]
        return recs, header, {(r + 1, "SS")}
    if kind == "missing-time":
        recs[r]["TIME"] = "."
        return recs, header, {(r + 1, "TIME")}
    if kind == "drop-column":
        col = ["ID", "TIME"][pick % 2]
        header.remove(col)
        return recs, header, {(None, col)}
    if kind == "duplicate":
        recs.insert(r + 1, dict(recs[r]))
        return recs, header, {(r + 2, None)}
    if kind == "id-again":
        if recs[-1]["ID"] == recs[0]["ID"]:
            return None
        again = dict(recs[0], TIME=0.0, EVID=0, AMT=0, DV=99.5, MDV=0, CMT=2, II=0, ADDL=0)
        recs.append(again)
        return recs, header, {(len(recs), "ID")}
    if kind == "obs-amt":
        obs = [k for k, x in enumerate(recs) if x["EVID"] == 0]
        if not obs:
            return None
        r = obs[pick % len(obs)]
        recs[r]["AMT"] = 10
        return recs, header, {(r + 1, "AMT")}
    raise AssertionError(kind)


KINDS = ["text", "negative-amt", "time-back", "bad-evid", "bad-ss", "missing-time", "drop-column",
         "duplicate", "id-again", "obs-amt"]


@settings(max_examples=60, **SETTINGS)
@given(records=datasets(), kind=st.sampled_from(KINDS), pick=st.integers(0, 10_000))
def test_single_corruption_is_reported_at_its_row_and_column(folder, records, kind, pick):
    case = corrupt(records, kind, pick)
    if case is None:
        return
    recs, header, expected = case
    path = folder / "bad.csv"
    path.write_text(render(recs, header))
    violations = pdata.validate(path)
    assert all(isinstance(v, Violation) for v in violations)
    errors = {(v.row, v.column) for v in violations if v.severity == "error"}
    assert errors == expected, (kind, [str(v) for v in violations])
    with pytest.raises(DatasetError) as err:
        pdata.read(path)
    assert {(v.row, v.column) for v in err.value.violations if v.severity == "error"} == expected


CELL = st.one_of(st.sampled_from([".", "", "0", "1", "2", "4", "-1", "-2", "12", "24", "99", "101", "abc", "C", "NA", "2,5"]),
                 st.integers(-3, 60).map(str), st.text(max_size=4))
ROLE_NAMES = ["AMT", "DV", "EVID", "MDV", "CMT", "RATE", "II", "ADDL", "SS", "BLQ", "LLOQ", "CENS", "LIMIT", "DVID", "WT"]


@settings(max_examples=60, **SETTINGS)
@given(extra=st.lists(st.sampled_from(ROLE_NAMES), unique=True, max_size=8), data=st.data(),
       options=st.sampled_from([{}, {"log_dv": True}, {"compartments": 2}, {"compartments": ("depot", "central")},
                                {"translate": ("rxode2-evid", "acop-ss99", "occasion-reset")}]))
def test_arbitrary_cells_never_raise(folder, extra, data, options):
    """Any mix of codes, text and blanks gives violations (rows within the file), or a
    dataset that summarises and packs: never an exception."""
    header = ["ID", "TIME"] + extra
    n = data.draw(st.integers(1, 8))
    ids = sorted(data.draw(st.lists(st.sampled_from("123"), min_size=n, max_size=n)))
    times = sorted(data.draw(st.lists(st.integers(0, 30), min_size=n, max_size=n)))
    rows = [[ids[i], str(times[i])] + [data.draw(CELL).replace(",", ";").replace("\n", " ") for _ in extra]
            for i in range(n)]
    path = folder / "fuzz.csv"
    path.write_text("\n".join(",".join(r) for r in [header] + rows) + "\n")
    violations = pdata.validate(path, **options)
    assert all(v.row is None or 1 <= v.row <= n for v in violations)
    if not any(v.severity == "error" for v in violations):
        ds = pdata.read(path, **options)
        assert str(ds.summary()) and int(np.asarray(ds.pack().mask).sum()) >= len(ds.frame)

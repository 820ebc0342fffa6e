"""Event packing: the canonical event frame -> padded per-subject arrays.

This is the one hand-over point between data and models. Everything upstream
(the NONMEM reader, the regimen builder) produces a *canonical event frame*; every
structural model, fit and simulation consumes the ``EventArrays`` built here.

Canonical event frame (a pandas DataFrame, one row per record, NONMEM semantics):

=========  =====================================================================
column     meaning
=========  =====================================================================
ID         subject identifier (any hashable; order of first appearance is kept)
TIME       time of the record (h)
EVID       0 observation, 1 dose, 2 other (e.g. covariate change), 3 reset,
           4 reset and dose
AMT        dose amount (mass units of the dataset, e.g. mg); 0 for non-doses
CMT        compartment number, 1-based as in NONMEM (oral: 1 depot, 2 central)
RATE       infusion rate (amount/h); 0 bolus; -1 modelled rate; -2 modelled
           duration (the model supplies R or D)
II         interdose interval (h) for ADDL and SS
ADDL       number of additional doses at TIME + k*II, k = 1..ADDL
SS         0 none, 1 steady state (reset first), 2 steady state added to the
           current state
DV         observed value (NaN where none)
MDV        1 when DV is not an observation to fit
BLQ        1 when the observation is below the limit of quantification
LLOQ       the limit of quantification for that observation (NaN if none)
ROW        the row number in the user's file (1 = first data row); -1 for
           records popkin generated (ADDL doses, regimens)
<cov>      covariate columns, numeric
=========  =====================================================================

Packing expands ADDL into explicit dose records, carries covariates forward (and
the first value backward), keeps NONMEM's record order, and pads every subject to
the same number of records with ``mask == False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

REQUIRED = ("ID", "TIME", "EVID", "AMT", "CMT", "RATE", "II", "ADDL", "SS", "DV", "MDV")
DEFAULTS = {"AMT": 0.0, "CMT": 1, "RATE": 0.0, "II": 0.0, "ADDL": 0, "SS": 0,
            "DV": np.nan, "MDV": 0, "BLQ": 0, "LLOQ": np.nan, "ROW": -1}


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class EventArrays:
    """Per-subject event records packed into padded arrays, ready for ``vmap``.

    Every array has leading shape ``(n_subjects, n_records)``, ``cov`` has a trailing
    covariate axis. Padding records have ``mask == False``, EVID 2, AMT 0 and the
    subject's last real TIME, so processing them in order is a no-op.

    Attributes (units follow the dataset):
        time: record time (h).
        evid, cmt (1-based), amt, rate, ii, ss: NONMEM dosing fields per record.
        mask: True for real records.
        obs: True where the record is an observation to fit (EVID 0 and MDV 0).
        dv: observed value (NaN where not an observation).
        blq: True where the observation is below the LLOQ.
        lloq: the limit of quantification (NaN where none).
        row: the user's file row (-1 for generated records and padding).
        cov: covariates carried forward to each record, ``(N, E, C)``.
        ids: subject IDs, in order (metadata, not traced).
        cov_names: names of the covariates along the last axis of ``cov``.
    """

    time: jax.Array
    evid: jax.Array
    cmt: jax.Array
    amt: jax.Array
    rate: jax.Array
    ii: jax.Array
    ss: jax.Array
    mask: jax.Array
    obs: jax.Array
    dv: jax.Array
    blq: jax.Array
    lloq: jax.Array
    row: jax.Array
    cov: jax.Array
    ids: tuple = field(metadata=dict(static=True), default=())
    cov_names: tuple = field(metadata=dict(static=True), default=())

    @property
    def n_subjects(self) -> int:
        return int(self.time.shape[0])

    @property
    def n_records(self) -> int:
        return int(self.time.shape[1])

    def covariate(self, name: str) -> jax.Array:
        """The covariate ``name`` at every record, shape ``(N, E)``."""
        try:
            return self.cov[..., self.cov_names.index(name)]
        except ValueError:
            raise KeyError(f"no covariate {name!r}; the data has {list(self.cov_names)}") from None

    def subject(self, i: int) -> "EventArrays":
        """The records of the ``i``-th subject (arrays lose the subject axis)."""
        kw = {f.name: getattr(self, f.name)[i] for f in fields(self) if f.name not in ("ids", "cov_names")}
        return EventArrays(**kw, ids=(self.ids[i],), cov_names=self.cov_names)

    def baseline(self, name: str) -> jax.Array:
        """The covariate ``name`` at each subject's first record, shape ``(N,)``."""
        return self.covariate(name)[:, 0]


def complete(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill optional canonical columns with NONMEM defaults (a new frame)."""
    out = frame.copy()
    missing = {col: val for col, val in DEFAULTS.items() if col not in out.columns}
    if missing:
        out = out.assign(**missing)
    if "EVID" not in out.columns:
        out["EVID"] = np.where(out["AMT"].fillna(0) > 0, 1, 0)
    return out


def _subject_codes(ids: pd.Series) -> np.ndarray:
    """Each record's subject number, subjects numbered in order of first appearance."""
    codes, _ = pd.factorize(ids, sort=False, use_na_sentinel=False)
    return codes


def expand_addl(frame: pd.DataFrame, blank: tuple[str, ...] = ()) -> pd.DataFrame:
    """Replace ADDL by explicit dose records at TIME + k*II, k = 1..ADDL.

    Generated records carry ROW = -1, SS = 0, ADDL = 0, MDV = 1 and the covariates
    of their source record, except the columns in ``blank``, left missing so that
    ``pack`` carries forward the value in force at each implied dose's time (a
    time-varying covariate that changed after the source record). Order: NONMEM gives an
    implied dose that falls at the same time as a data record *after* that record;
    the sort below keeps every data record's file order and places implied doses
    after data records of equal time.
    """
    frame = complete(frame).reset_index(drop=True)
    frame["_order"] = np.arange(len(frame), dtype=float)
    frame["_implied"] = 0
    # A reset (EVID 3/4) may restart the clock (a new occasion at TIME 0): records after
    # it form a new segment that must stay after the previous one, not be merged into it
    # by the sort on TIME below. Implied doses inherit their source record's segment.
    restart = (frame["TIME"] < frame.groupby("ID", sort=False)["TIME"].shift(1)) & frame["EVID"].isin([3, 4])
    frame["_seg"] = restart.astype(int).groupby(frame["ID"], sort=False).cumsum()
    source = np.flatnonzero(((frame["ADDL"].fillna(0) > 0) & frame["EVID"].isin([1, 4])).to_numpy())
    if len(source):
        # all implied doses at once: source record j repeated ADDL_j times, k = 1..ADDL_j,
        # in source order then k (the order a stable sort keeps among exact ties)
        n = frame["ADDL"].to_numpy()[source].astype(np.int64)
        take = np.repeat(source, n)
        k = np.arange(1, len(take) + 1) - np.repeat(np.cumsum(n) - n, n)
        ii = frame["II"].to_numpy(dtype=float)[take]
        rep = frame.take(take)
        rep["TIME"] = frame["TIME"].to_numpy()[take] + ii * k
        rep["EVID"] = 1
        rep["SS"] = 0
        rep["ADDL"] = 0
        rep["ROW"] = -1
        rep["MDV"] = 1
        rep["DV"] = np.nan
        rep["_implied"] = 1
        for col in blank:
            rep[col] = np.nan
        frame["ADDL"] = 0
        frame = pd.concat([frame, rep], ignore_index=True)
    else:
        frame["ADDL"] = 0
    # Within a subject: by time; data records keep file order; implied doses after
    # data records at the same time. Subjects keep their order of first appearance.
    frame["_subj"] = _subject_codes(frame["ID"])
    frame = frame.sort_values(["_subj", "_seg", "TIME", "_implied", "_order"], kind="stable")
    return frame.drop(columns=["_order", "_implied", "_subj", "_seg"]).reset_index(drop=True)


def pack(frame: pd.DataFrame, covariates: list[str] | tuple[str, ...] = ()) -> EventArrays:
    """Pack a canonical event frame (see module docstring) into ``EventArrays``.

    ``covariates`` are the columns to carry into ``cov``; missing values are carried
    forward within a subject, and a subject's leading missing values take its first
    observed value. A covariate missing for every record of a subject stays NaN.
    """
    covariates = tuple(covariates)
    frame = expand_addl(frame, blank=covariates)
    if covariates:
        names = list(dict.fromkeys(covariates))
        for c in names:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
        filled = frame.groupby("ID", sort=False)[names].ffill()
        frame[names] = filled.groupby(frame["ID"], sort=False).bfill()

    # every record's subject (order of first appearance) and position within it; the
    # frame is sorted by subject, so positions run 0..k-1 in record order
    ids = tuple(pd.unique(frame["ID"]))
    subj = _subject_codes(frame["ID"])
    pos = frame.groupby("ID", sort=False).cumcount().to_numpy()
    counts = np.bincount(subj)
    n, e, c = len(ids), int(counts.max()), len(covariates)
    last = (np.arange(n), counts - 1)          # each subject's last real record

    def scatter(values, fill, dtype):
        out = np.full((n, e), fill, dtype=dtype)
        out[subj, pos] = values
        return out

    mask = scatter(True, False, bool)
    time = scatter(frame["TIME"].to_numpy(float), 0.0, np.float64)
    time = np.where(mask, time, time[last][:, None])
    evid_col = frame["EVID"]
    evid = scatter(evid_col.to_numpy(int), 2, np.int32)
    cmt = scatter(frame["CMT"].fillna(1).to_numpy(int), 1, np.int32)
    amt = scatter(frame["AMT"].fillna(0).to_numpy(float), 0.0, np.float64)
    rate = scatter(frame["RATE"].fillna(0).to_numpy(float), 0.0, np.float64)
    ii = scatter(frame["II"].fillna(0).to_numpy(float), 0.0, np.float64)
    ss = scatter(frame["SS"].fillna(0).to_numpy(int), 0, np.int32)
    is_obs = (evid_col.to_numpy() == 0) & (frame["MDV"].fillna(0).to_numpy() == 0)
    obs = scatter(is_obs, False, bool)
    dv = scatter(frame["DV"].to_numpy(float), np.nan, np.float64)
    blq = scatter(frame["BLQ"].fillna(0).to_numpy(float) > 0, False, bool)
    lloq = scatter(frame["LLOQ"].to_numpy(float), np.nan, np.float64)
    row = scatter(frame["ROW"].fillna(-1).to_numpy(int), -1, np.int32)
    cov = np.full((n, e, c), np.nan)
    if c:
        cov[subj, pos] = frame[list(covariates)].to_numpy(float)
        cov = np.where(mask[..., None], cov, cov[last][:, None, :])
    dv = np.where(obs, dv, np.nan)
    arrays = dict(time=time, evid=evid, cmt=cmt, amt=amt, rate=rate, ii=ii, ss=ss, mask=mask,
                  obs=obs, dv=dv, blq=blq, lloq=lloq, row=row, cov=cov)
    return EventArrays(**{k: jnp.asarray(v) for k, v in arrays.items()}, ids=ids, cov_names=covariates)


def unpack(arrays: EventArrays, values, name: str = "PRED") -> pd.DataFrame:
    """Per-record values ``(N, E)`` back to a frame keyed by ID and file ROW.

    Returns the real records only (padding dropped), with columns ID, ROW, TIME and
    ``name``; generated records have ROW = -1.
    """
    values = np.asarray(values)
    mask = np.asarray(arrays.mask)
    sid = np.repeat(np.arange(arrays.n_subjects), arrays.n_records).reshape(mask.shape)
    return pd.DataFrame({
        "ID": np.asarray(arrays.ids, dtype=object)[sid[mask]],
        "ROW": np.asarray(arrays.row)[mask],
        "TIME": np.asarray(arrays.time)[mask],
        name: values[mask],
    })

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
    for col, val in DEFAULTS.items():
        if col not in out.columns:
            out[col] = val
    if "EVID" not in out.columns:
        out["EVID"] = np.where(out["AMT"].fillna(0) > 0, 1, 0)
    return out


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


def pack(frame: pd.DataFrame, covariates: list[str] | tuple[str, ...] = ()) -> EventArrays:
    """Pack a canonical event frame (see module docstring) into ``EventArrays``.

    ``covariates`` are the columns to carry into ``cov``; missing values are carried
    forward within a subject, and a subject's leading missing values take its first
    observed value. A covariate missing for every record of a subject stays NaN.
    """
    covariates = tuple(covariates)
    frame = expand_addl(frame, blank=covariates)
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

"""The NONMEM 7.4.3 event-handling test set (nlmixr2data ``nmtest``) as canonical frames.

Source: shared/data/nlmixr2data/nmtest.csv (R package nlmixr2data, GPL >= 2).
Model that produced ``cp``: one compartment, first-order absorption, CL = 1.1 L/h,
V = 20 L, KA = 1.5 /h; CMT 1 depot, CMT 2 central; F2 = ``bioav``, ALAG2 = ``lagt``,
R2 = ``rat2`` (RATE = -1), D2 = ``dur2`` (RATE = -2); cp = central / (V / 1000).

Shared by the closed-form and the ODE tests (import ``tests.pk.nmtest`` or this file).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from popkin.data.events import expand_addl, pack

SHARED = Path(os.environ.get("POPKIN_SHARED_DATA", "/work/shared/data"))  # set by tests/conftest.py
PATH = SHARED / "nlmixr2data" / "nmtest.csv"
COVARIATES = ("LAGT", "BIOAV", "RAT2", "DUR2")
# NONMEM's parameters; per-record values are taken from the covariate columns.
THETA = {"CL": 1.1, "V": 20.0, "KA": 1.5, "S2": 20.0 / 1000}
COLUMN_PARAMS = {"ALAG2": "LAGT", "F2": "BIOAV", "R2": "RAT2", "D2": "DUR2"}


def raw() -> pd.DataFrame:
    """The file as published, upper-cased column names, ROW = file data row (1-based)."""
    frame = pd.read_csv(PATH, na_values=".")
    frame.columns = [c.upper() for c in frame.columns]
    frame["ROW"] = np.arange(1, len(frame) + 1)
    return frame


def canonical(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The canonical event frame (see popkin.data.events): DV NaN, MDV 1 on non-observations."""
    frame = raw() if frame is None else frame
    out = frame.copy()
    out["MDV"] = (out["EVID"] != 0).astype(int)
    out["DV"] = np.where(out["EVID"] == 0, out["CP"], np.nan)
    return out


def negative_cp_subjects(frame: pd.DataFrame | None = None) -> list:
    """Subjects for which NONMEM reports negative cp (lag > II with SS; excluded)."""
    frame = raw() if frame is None else frame
    return sorted(frame.loc[frame["CP"] < 0, "ID"].unique().tolist())


def packed(frame: pd.DataFrame | None = None):
    """``EventArrays`` of all subjects with the covariates the parameters need.

    ADDL is expanded here with every column copied from the source dose record, so
    that an implied dose carries its dose record's LAGT/BIOAV, as NONMEM applies the
    dose record's ALAG2/F2 to its additional doses (subject 102 has LAGT only on the
    dose record and NONMEM lags its ADDL doses by it)."""
    return pack(expand_addl(canonical(frame)), covariates=COVARIATES)


def params(events) -> dict:
    """NONMEM's parameters for ``EventArrays`` ``events`` (N, E): scalars and (N, E) arrays."""
    out = dict(THETA)
    for name, column in COLUMN_PARAMS.items():
        out[name] = events.covariate(column)
    return out


def reference(events) -> np.ndarray:
    """NONMEM's cp aligned with ``events`` (N, E); NaN for generated/padding records."""
    frame = raw()
    cp = dict(zip(frame["ROW"], frame["CP"]))
    rows = np.asarray(events.row)
    return np.vectorize(lambda r: cp.get(int(r), np.nan), otypes=[float])(rows)


def alag_beyond_ii_windows(frame: pd.DataFrame | None = None) -> dict:
    """Subject -> [(T, T + ALAG2 - II)] for SS dose records with ALAG2 (``lagt``) > II.

    In these windows NONMEM integrates the steady state backwards from the lagged dose
    (see tests/pk/test_nmtest.py); popkin gives the periodic regimen, so records there
    are not compared."""
    frame = raw() if frame is None else frame
    ss = frame[(frame["SS"] > 0) & (frame["EVID"] == 1) & (frame["LAGT"] > frame["II"])]
    out: dict = {}
    for _, r in ss.iterrows():
        out.setdefault(int(r["ID"]), []).append((r["TIME"], r["TIME"] + r["LAGT"] - r["II"]))
    return out


def compared(frame: pd.DataFrame, id_col="ID", time_col="TIME") -> np.ndarray:
    """Boolean per row of ``frame``: outside the ALAG > II windows."""
    keep = np.ones(len(frame), bool)
    for sid, wins in alag_beyond_ii_windows().items():
        ids, t = frame[id_col].to_numpy(), frame[time_col].to_numpy(float)
        for a, b in wins:
            keep &= ~((ids == sid) & (t >= a) & (t < b))
    return keep

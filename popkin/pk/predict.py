"""Predictions at fixed parameters for a NONMEM-style dataset.

    pred = popkin.pk.predict_frame("trial.csv", "1cmt-oral",
                                   {"CL": 1.1, "V": 20, "KA": 1.5, "F2": "BIOAV"})

Parameters map NONMEM names to numbers or to a data column (as ``F2 = BIOAV`` in
$PK); a column is read per record. When the data also hold columns named like model
parameters (e.g. the true individual CL, V, KA of a simulated study), those give the
individual prediction IPRED; PRED uses the numbers given.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from popkin.data.events import expand_addl, pack, unpack
from popkin.errors import ModelError, OutputExistsError
from popkin.pk.engine import bolus_only, generated_slots, predict_population, ss_records
from popkin.pk.model import load_model, n_compartments, resolve_parameters


def read_data(source):
    """A validated ``popkin.data.Dataset`` from a path, a DataFrame or a Dataset."""
    import popkin.data

    if isinstance(source, popkin.data.Dataset):
        return source
    return popkin.data.read(source)


def predict_frame(data, model, params: dict) -> pd.DataFrame:
    """The records of ``data`` with the model prediction PRED (and IPRED).

    data: a ``Dataset``, a DataFrame or a CSV path (read with ``popkin.data.read``).
    model: a structural model, a registered name (``available_models()``) or a
        ``.py`` file defining ``model``.
    params: parameter name -> number, or -> the name of a data column (case-
        insensitive) whose value at each record is used.

    Returns the dataset's canonical frame (one row per record of the file, in file
    order, ROW = file row) with PRED, and IPRED when data columns are named like model
    parameters. Units are those of the data and parameters (e.g. mg, L, h -> mg/L).
    Computes in JAX's default float type (enable ``jax_enable_x64`` for float64).
    """
    model = load_model(model)
    ds = read_data(data)
    frame = ds.frame
    typical, individual = _parameter_sources(model, frame, params)
    _check_records(model, frame, typical)
    needed = sorted({c for c in list(typical.values()) + list(individual.values()) if isinstance(c, str)})
    # implied ADDL doses keep their dose record's columns (NONMEM applies the dose
    # record's F and ALAG to its additional doses)
    events = pack(expand_addl(frame), covariates=needed)
    _check_columns(frame, needed)

    out = frame.copy()
    steady_state = ss_records(events)
    slots = None if steady_state else generated_slots(events)  # a short scan for plain regimens
    plain = bolus_only(events)                                   # boluses only: the record-order scan
    run = jax.jit(lambda ev, p: predict_population(model, ev, p, steady_state=steady_state, max_generated=slots,
                                                   bolus_only=plain))
    for name, source in (("PRED", typical), ("IPRED", individual)):
        if name == "IPRED" and source == typical:
            continue
        # every parameter as an (N, E) array: PRED and IPRED share one compiled program
        values = {k: (events.covariate(v) if isinstance(v, str) else jnp.full(events.time.shape, v, events.time.dtype))
                  for k, v in source.items()}
        pred = unpack(events, run(events, values), name)
        pred = pred[pred["ROW"] >= 0].set_index("ROW")[name]
        out[name] = out["ROW"].map(pred).to_numpy(dtype=float)
    return out


def write_csv(frame: pd.DataFrame, path, *, force: bool = False) -> Path:
    """Write ``frame`` to ``path`` atomically (temporary file + rename).

    Refuses to replace an existing file unless ``force``; the old file is then replaced
    in one step, never left half-written.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; popkin does not overwrite results. "
                                "Choose another --out or pass --force to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            frame.to_csv(handle, index=False)
        if path.exists() and not force:  # appeared meanwhile
            raise OutputExistsError(f"{path} appeared while writing; nothing was overwritten")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ----------------------------------------------------------------------------- helpers

def _parameter_sources(model, frame, params):
    """PRED and IPRED parameter sources: canonical name -> number or column name."""
    if not isinstance(params, dict):
        raise ModelError("parameters must be a mapping of names to numbers or column names, "
                         'e.g. {"CL": 1.1, "V": 20, "F2": "BIOAV"}')
    columns = {str(c).upper(): c for c in frame.columns}
    aliases = dict(getattr(model, "aliases", ()))
    typical = {}
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
            raise ModelError(f"parameter {name}: give a number or a column name, not {value!r}")
        if isinstance(value, str):
            if value.upper() not in columns:
                raise ModelError(f"parameter {name} refers to column {value!r}, which the data do not have; "
                                 f"columns are {', '.join(map(str, frame.columns))}")
            value = columns[value.upper()]
        elif not np.isfinite(value):
            raise ModelError(f"parameter {name} is {value}; give a finite number")
        else:
            value = float(value)
        typical[aliases.get(name, name)] = value

    def column_for(parameter):  # a data column named like the parameter or an alias of it
        for spelling in [parameter] + [a for a, c in aliases.items() if c == parameter]:
            if spelling.upper() in columns:
                return columns[spelling.upper()]
        return None

    for name in model.parameters:  # not given: read from a column of that name if any
        if name not in typical and column_for(name) is not None:
            typical[name] = column_for(name)
    resolve_parameters(model, typical)  # raises ModelError naming missing/unknown ones
    individual = dict(typical)
    for name in model.parameters:
        if not isinstance(typical[name], str) and column_for(name) is not None:
            individual[name] = column_for(name)
    return typical, individual


def _check_records(model, frame, params):
    """CMT within the model; RATE = -1 / -2 need R<n> / D<n>."""
    n = n_compartments(model)
    cmt = pd.to_numeric(frame["CMT"], errors="coerce").fillna(1).astype(int)
    dose = frame["EVID"].isin([1, 4])
    bad = frame[(dose & ((cmt < 1) | (cmt > n))) | (~dose & (cmt > n))]
    if len(bad):
        rows = ", ".join(map(str, bad["ROW"].head(10)))
        raise ModelError(f"CMT outside 1..{n} in row(s) {rows}: model {getattr(model, 'name', '')} has "
                         f"compartments {', '.join(f'{i + 1}={c}' for i, c in enumerate(model.compartments))}; "
                         "fix CMT or choose another model")
    names = set(params)
    for code, prefix, what in ((-1, "R", "modelled rate"), (-2, "D", "modelled duration")):
        need = frame[dose & (frame["RATE"] == code)]
        for c in sorted(set(cmt[need.index])):
            if f"{prefix}{c}" not in names:
                rows = ", ".join(map(str, need.loc[cmt[need.index] == c, "ROW"].head(10)))
                raise ModelError(f"RATE = {code} ({what}) in row(s) {rows} needs parameter {prefix}{c}; "
                                 f"add it to the parameters (a number or a column)")


def _check_columns(frame, columns):
    """Every subject needs a value of every parameter column on at least one record."""
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        missing = values.isna().groupby(frame["ID"], sort=False).all()
        if missing.any():
            ids = ", ".join(map(str, missing[missing].index[:10]))
            raise ModelError(f"column {col} has no numeric value for subject(s) {ids}; give a value on at "
                             "least one record of each subject (values are carried forward)")

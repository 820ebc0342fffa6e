"""A population model bound to data: the arrays the log-density is traced over.

``Problem`` = model definition + ``FitData`` (a pytree of arrays, traced, so the same
compiled log-density serves every data set of the same shapes) + the observation index
(plain numpy/pandas metadata used to name things in the InferenceData).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from popkin.data.events import EventArrays
from popkin.errors import FitError
from popkin.pk.engine import bolus_only, generated_slots, ss_records
from popkin.model import Categorical, ExponentialError, PopulationModel, Power


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class FitData:
    """Everything the numpyro model reads, as arrays with a leading subject axis.

    events: the packed records (IDs stripped so that the treedef does not depend on them).
    observed: records whose DV enters the likelihood as a density (obs and not BLQ).
    censored: BLQ records (obs and BLQ): they enter as P(Y < limit) (M3).
    limit: the LLOQ of censored records (DV where no LLOQ is given; 1 elsewhere).
    output: index of each record's ``Output`` (0 for single-output models).
    occasion: index of each record's occasion (0 without IOV).
    n_occasions: static. steady_state: static, 0 without SS records, else the most SS dose
    records of a subject (``popkin.pk.engine.ss_records``: the nonlinear steady states solved).
    max_generated: static; without steady state, the engine's slots for generated events
    (``popkin.pk.engine.generated_slots``: one per dose landing and infusion end), so the
    event scan has E + max_generated steps rather than 3E (None: the engine's 2E pool).
    bolus_only: static; the records qualify for the engine's bolus path (bolus doses, no
    SS, no reset: ``popkin.pk.engine.bolus_only``), one scan of E steps in record order
    (taken when the model also has no ALAG<n>).
    censoring: static; some record is censored (BLQ). Without, the likelihood has no M3
    term to evaluate.
    """

    events: EventArrays
    observed: jax.Array
    censored: jax.Array
    limit: jax.Array
    output: jax.Array
    occasion: jax.Array
    n_occasions: int = field(default=1, metadata=dict(static=True))
    steady_state: int = field(default=0, metadata=dict(static=True))
    max_generated: int | None = field(default=None, metadata=dict(static=True))
    bolus_only: bool = field(default=False, metadata=dict(static=True))
    censoring: bool = field(default=True, metadata=dict(static=True))

    @property
    def n_subjects(self) -> int:
        return int(self.events.time.shape[0])


@dataclass(frozen=True)
class Problem:
    """A model and its data, ready for inference.

    model: the ``PopulationModel``; data: ``FitData``; ids: subject IDs (data order);
    observations: one row per fitted record (ID, ROW, TIME, DV, BLQ, LLOQ, OUTPUT, and the
    flat index ``_flat`` into the (N, E) record grid), in the order of the
    ``observation`` dimension of the InferenceData; occasions: the occasion values.
    """

    model: PopulationModel
    data: FitData
    ids: tuple
    observations: pd.DataFrame
    occasions: tuple = ()

    @functools.cached_property
    def space(self):
        """The sampled sites and their unconstrained space (``popkin.infer.density.Space``)."""
        from popkin.infer.density import Space

        return Space.of(self.model, self.data)

    @property
    def flat_index(self) -> np.ndarray:
        return self.observations["_flat"].to_numpy()


def as_event_arrays(data) -> EventArrays:
    """Accept a ``popkin.data.Dataset`` (has ``pack()``) or ``EventArrays``."""
    if isinstance(data, EventArrays):
        return data
    if hasattr(data, "pack"):
        return data.pack()
    raise FitError(f"cannot fit to a {type(data).__name__}: give a dataset from popkin.data.read(...) "
                   "or its packed EventArrays")


def bind(model: PopulationModel, data) -> Problem:
    """Check that ``data`` has what ``model`` reads and build the ``Problem``."""
    events = as_event_arrays(data)
    missing = [c for c in model.covariates() if c not in events.cov_names]
    if missing:
        raise FitError(f"the model reads column(s) {', '.join(missing)} but the data has covariates "
                       f"{', '.join(events.cov_names) or 'none'}; check the spelling (case matters) or "
                       "the dataset")
    _check_covariates(model, events)
    output = _outputs(model, events)
    events = _override_cmt(model, events, output)
    occasion, occasions = _occasions(model, events)
    obs = np.asarray(events.obs) & np.asarray(events.mask) & (output >= 0)
    output = np.where(output < 0, 0, output)
    blq = np.asarray(events.blq) & obs
    dv = np.asarray(events.dv, dtype=float)
    lloq = np.asarray(events.lloq, dtype=float)
    limit = np.where(np.isfinite(lloq), lloq, dv)
    bad_limit = blq & ~np.isfinite(limit)
    if bad_limit.any():
        raise FitError(f"{int(bad_limit.sum())} BLQ record(s) have neither LLOQ nor DV to use as the limit "
                       "of quantification; give an LLOQ column")
    observed = obs & ~blq
    bad_dv = observed & ~np.isfinite(dv)
    if bad_dv.any():
        raise FitError(f"{int(bad_dv.sum())} observation record(s) have no DV; set MDV = 1 on them")
    _check_log_scale(model, events, observed, blq, dv, limit, output)
    steady_state = ss_records(events)   # 0, or the most SS dose records of a subject (static)
    fit_data = FitData(
        events=dataclasses.replace(events, ids=()),
        observed=jnp.asarray(observed),
        censored=jnp.asarray(blq),
        limit=jnp.asarray(np.where(blq, limit, 1.0)),
        output=jnp.asarray(output, dtype=jnp.int32),
        occasion=jnp.asarray(occasion, dtype=jnp.int32),
        n_occasions=max(len(occasions), 1),
        steady_state=steady_state,
        max_generated=None if steady_state else generated_slots(events),
        bolus_only=bolus_only(events),
        censoring=bool(blq.any()),
    )
    return Problem(model, fit_data, tuple(events.ids), _observation_table(model, events, obs, output), occasions)


def _check_covariates(model: PopulationModel, events: EventArrays) -> None:
    ids = np.asarray(events.ids, dtype=object)
    for name in model.thetas:
        for eff in model.parameters[name].effects:
            base = np.asarray(events.baseline(eff.covariate), dtype=float)
            bad = ~np.isfinite(base)
            if isinstance(eff, Power):
                bad |= ~(base > 0)
            if isinstance(eff, Categorical):
                bad |= ~np.isin(base, (eff.reference,) + eff.levels)
            if bad.any():
                raise FitError(f"covariate {eff.covariate} (effect on {name}) is missing or invalid for subject(s) "
                               f"{', '.join(map(str, ids[bad][:10]))}: values {base[bad][:10].tolist()}; "
                               + ("a power effect needs values > 0" if isinstance(eff, Power) else
                                  f"categorical levels are {(eff.reference,) + eff.levels}"
                                  if isinstance(eff, Categorical) else "fill it in"))


def _outputs(model: PopulationModel, events: EventArrays) -> np.ndarray:
    shape = np.asarray(events.time).shape
    if len(model.error) == 1 and model.error[0].dvid is None:
        return np.zeros(shape, dtype=np.int32)
    dvid = np.asarray(events.covariate("DVID"), dtype=float)
    out = np.full(shape, -1, dtype=np.int32)
    for k, o in enumerate(model.error):
        out[dvid == o.dvid] = k
    return out  # -1: a DVID the model does not describe (not fitted)


def _override_cmt(model: PopulationModel, events: EventArrays, output: np.ndarray) -> EventArrays:
    if not any(o.cmt is not None for o in model.error):
        return events
    cmt = np.asarray(events.cmt).copy()
    obs = (np.asarray(events.evid) == 0) & np.asarray(events.mask)
    for k, o in enumerate(model.error):
        if o.cmt is not None:
            cmt[obs & (output == k)] = o.cmt
    return dataclasses.replace(events, cmt=jnp.asarray(cmt, dtype=events.cmt.dtype))


def _occasions(model: PopulationModel, events: EventArrays) -> tuple[np.ndarray, tuple]:
    shape = np.asarray(events.time).shape
    if model.iov is None:
        return np.zeros(shape, dtype=np.int32), ()
    occ = np.asarray(events.covariate(model.iov.occasion), dtype=float)
    mask = np.asarray(events.mask)
    if np.any(mask & ~np.isfinite(occ)):
        raise FitError(f"the occasion column {model.iov.occasion} is missing on some records; fill it in")
    values = tuple(np.unique(occ[mask]).tolist())
    index = np.searchsorted(np.asarray(values), np.where(mask, occ, values[0]))
    return index.astype(np.int32), values


def _check_log_scale(model, events, observed, blq, dv, limit, output) -> None:
    for k, o in enumerate(model.error):
        if isinstance(o.error, ExponentialError):
            bad = observed & (output == k) & ~(dv > 0)
            bad |= blq & (output == k) & ~(limit > 0)
            if bad.any():
                rows = np.asarray(events.row)[bad][:10].tolist()
                raise FitError(f"an exponential (log-scale) error needs DV > 0 (and LLOQ > 0): "
                               f"{int(bad.sum())} record(s) break this (file rows {rows}); mark them BLQ or MDV")


def _observation_table(model, events, obs, output) -> pd.DataFrame:
    n, e = obs.shape
    flat = np.flatnonzero(obs.ravel())
    sub = flat // e
    names = np.asarray([o.name for o in model.error], dtype=object)
    get = lambda a: np.asarray(a).ravel()[flat]  # noqa: E731
    return pd.DataFrame({
        "ID": np.asarray(events.ids, dtype=object)[sub],
        "ROW": get(events.row).astype(int),
        "TIME": get(events.time).astype(float),
        "DV": get(events.dv).astype(float),
        "BLQ": get(events.blq).astype(int),
        "LLOQ": get(events.lloq).astype(float),
        "OUTPUT": names[output.ravel()[flat]],
        "_subject": sub,
        "_flat": flat,
    })

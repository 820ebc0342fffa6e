"""Test helpers: records -> one subject's EventArrays padded to a fixed length, and one
compiled predictor per (model, steady-state flag) so tests do not recompile."""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from popkin.data.events import EventArrays, expand_addl, pack
from popkin.pk.closed_form import OneCompartment, TwoCompartment
from popkin.pk.engine import predict, solve

E = 96  # records per test subject after padding: one compiled function per model
MODELS = {
    "1cmt-iv": OneCompartment(oral=False),
    "1cmt-oral": OneCompartment(oral=True),
    "2cmt-iv": TwoCompartment(oral=False),
    "2cmt-oral": TwoCompartment(oral=True),
}


def record(time, evid=0, amt=0.0, cmt=1, rate=0.0, ii=0.0, addl=0, ss=0):
    return dict(ID=1, TIME=float(time), EVID=evid, AMT=float(amt), CMT=cmt, RATE=float(rate),
                II=float(ii), ADDL=addl, SS=ss, DV=np.nan, MDV=int(evid != 0))


def dose(time, amt, cmt=1, **kw):
    return record(time, evid=kw.pop("evid", 1), amt=amt, cmt=cmt, **kw)


def obs(times, cmt=1):
    return [record(t, cmt=cmt) for t in np.atleast_1d(times)]


def subject(records, length=E) -> EventArrays:
    """One subject's records (ADDL expanded) as EventArrays of ``length`` records."""
    frame = pd.DataFrame(records)
    frame["ROW"] = np.arange(1, len(frame) + 1)
    ev = pack(expand_addl(frame)).subject(0)
    e = ev.time.shape[0]
    if e > length:
        raise ValueError(f"{e} records > {length}; raise the padding length")
    pad = length - e

    def grow(a, fill):
        return jnp.concatenate([a, jnp.full((pad,) + a.shape[1:], fill, a.dtype)])

    last = ev.time[-1]
    return EventArrays(
        time=grow(ev.time, last), evid=grow(ev.evid, 2), cmt=grow(ev.cmt, 1), amt=grow(ev.amt, 0.0),
        rate=grow(ev.rate, 0.0), ii=grow(ev.ii, 0.0), ss=grow(ev.ss, 0), mask=grow(ev.mask, False),
        obs=grow(ev.obs, False), dv=grow(ev.dv, np.nan), blq=grow(ev.blq, False),
        lloq=grow(ev.lloq, np.nan), row=grow(ev.row, -1), cov=grow(ev.cov, np.nan),
        ids=ev.ids, cov_names=ev.cov_names)


def full(name: str, p: dict) -> dict:
    """``p`` with every dose modifier present (F<n> = 1, ALAG<n> = 0, R<n> = D<n> = 1
    unless given; R and D only act on RATE = -1/-2 records), as floats: the same
    pytree for every call, so a compiled function is reused instead of retraced."""
    out = {k: (float(v) if np.ndim(v) == 0 else v) for k, v in p.items()}
    for c in range(1, len(MODELS[name].compartments) + 1):
        for prefix, default in (("F", 1.0), ("ALAG", 0.0), ("R", 1.0), ("D", 1.0)):
            out.setdefault(f"{prefix}{c}", default)
    return out


@lru_cache(maxsize=None)
def _compiled(kind: str, name: str, steady_state: bool):
    model = MODELS[name]
    if kind == "predict":
        return jax.jit(lambda ev, p: predict(model, ev, p, steady_state=steady_state))
    if kind == "solve":
        return jax.jit(lambda ev, p: solve(model, ev, p, steady_state=steady_state))
    # d predictions / d parameters, forward mode
    return jax.jit(jax.jacfwd(lambda p, ev: predict(model, ev, p, steady_state=steady_state)))


def predictor(name: str, steady_state: bool = True):
    """Compiled ``predict`` for model ``name``: f(events, params)."""
    return lambda ev, p: _compiled("predict", name, steady_state)(ev, full(name, p))


def solver(name: str, steady_state: bool = True):
    """Compiled ``solve`` for model ``name``: f(events, params) -> amounts."""
    return lambda ev, p: _compiled("solve", name, steady_state)(ev, full(name, p))


def jacobian(name: str, steady_state: bool = False):
    """Compiled d predict / d params for model ``name``: f(params, events) -> dict."""
    return lambda p, ev: _compiled("jacobian", name, steady_state)(full(name, p), ev)


def values(name, records, params, steady_state=False):
    """Predictions at the real records, in record order (numpy)."""
    ev = subject(records)
    out = predictor(name, steady_state)(ev, {k: jnp.asarray(v, float) for k, v in params.items()})
    return np.asarray(out)[np.asarray(ev.mask)], np.asarray(ev.time)[np.asarray(ev.mask)], ev

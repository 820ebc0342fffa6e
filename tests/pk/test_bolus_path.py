"""The engine's bolus path (record-order scan, see ``popkin.pk.engine``) against the
general path: same predictions and gradients on random bolus data, and the path is
chosen exactly when the data and the model allow it."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import popkin.pk.engine as engine
from popkin.data.events import pack
from popkin.pk.engine import bolus_only, predict, predict_population, solve
from tests.pk.helpers import E, MODELS, dose, obs, record, subject

ORAL = {"1cmt-oral", "2cmt-oral"}


def _params(name, rng):
    """Per-record CL and F<n> (arrays [E]) and scalar others: the same pytree for every
    case of a model, so one compiled function serves them all."""
    two = name.startswith("2cmt")
    p = {"CL": 10 ** rng.uniform(-0.5, 1, E)}
    p.update({"V1": 10 ** rng.uniform(0.5, 2), "Q": 10 ** rng.uniform(-0.5, 1), "V2": 10 ** rng.uniform(0.5, 2.5)}
             if two else {"V": 10 ** rng.uniform(0.5, 2)})
    if name in ORAL:
        p["KA"] = 10 ** rng.uniform(-1, 0.7)
    for c in range(1, len(MODELS[name].compartments) + 1):
        p[f"F{c}"] = rng.uniform(0.3, 1.5, E)
    return {k: jnp.asarray(v) for k, v in p.items()}


def _records(name, rng):
    """Random boluses into any compartment (with ADDL: implied doses, ROW = -1, take the
    next data record's parameters), observations at random times and at dose times
    (before and after the dose record in file order)."""
    n_cmt = len(MODELS[name].compartments)
    dose_times = np.sort(np.round(rng.uniform(0, 48, 4), 1))
    recs = obs([0.0]) if rng.uniform() < 0.5 else []
    for t in dose_times:
        here = obs([t], cmt=n_cmt) if rng.uniform() < 0.5 else []
        addl = int(rng.integers(0, 3))
        d = dose(t, rng.uniform(10, 200), cmt=int(rng.integers(1, n_cmt + 1)), ii=6.0 if addl else 0.0, addl=addl)
        recs += here + [d] + obs([t], cmt=n_cmt) * int(rng.uniform() < 0.5)
    times = np.round(rng.uniform(0, 72, 12), 2)
    recs += obs(np.concatenate([times, dose_times[:2] + 6.0]), cmt=n_cmt)
    recs.sort(key=lambda r: r["TIME"])  # stable: file order kept at equal times
    return recs


@lru_cache(maxsize=None)
def _value_and_grad(name: str, path: bool):
    """Predictions and the gradient of a weighted sum of them w.r.t. every parameter,
    on the bolus path (``path``) or the general path; events traced."""
    model = MODELS[name]

    def f(p, ev, w):
        pred = predict(model, ev, p, steady_state=False, bolus_only=path)
        return jnp.sum(jnp.where(ev.mask, w * pred, 0.0)), pred

    return jax.jit(jax.value_and_grad(f, has_aux=True))


def _close(a, b, tol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(b)))))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bolus_path_equals_general_path(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    implied = 0
    for _ in range(4):
        ev = subject(_records(name, rng))
        assert bolus_only(ev)
        implied += int(np.sum((np.asarray(ev.row) == -1) & np.asarray(ev.mask)))
        p = _params(name, rng)
        w = jnp.asarray(rng.normal(size=E))
        (v_fast, pred_fast), g_fast = _value_and_grad(name, True)(p, ev, w)
        (v_gen, pred_gen), g_gen = _value_and_grad(name, False)(p, ev, w)
        mask = np.asarray(ev.mask)
        assert np.all(np.isfinite(np.asarray(pred_gen)[mask]))
        _close(pred_fast, pred_gen)
        _close(v_fast, v_gen)
        for k in g_gen:
            _close(g_fast[k], g_gen[k])
    assert implied > 0


def test_implied_doses_use_the_next_data_records_parameters():
    """Implied ADDL doses (ROW = -1) are in the data of the random cases; here the
    parameters change at each record so that using the wrong record's would show."""
    name = "1cmt-oral"
    rng = np.random.default_rng(7)
    ev = subject([dose(0, 100, cmt=1, ii=4, addl=5), *obs([1, 2, 9, 30], cmt=2)])
    assert np.sum((np.asarray(ev.row) == -1) & np.asarray(ev.mask)) == 5
    p = _params(name, rng)
    w = jnp.ones(E)
    (_, fast), _ = _value_and_grad(name, True)(p, ev, w)
    (_, gen), _ = _value_and_grad(name, False)(p, ev, w)
    _close(fast, gen)


def test_population_and_solve_agree_with_the_general_path():
    """``predict_population`` with per-subject and per-record parameters, and ``solve``."""
    model = MODELS["2cmt-oral"]
    rng = np.random.default_rng(3)
    frames = []
    for i in range(3):
        f = pd.DataFrame(_records("2cmt-oral", rng))
        f["ID"] = i + 1
        f["ROW"] = np.arange(1, len(f) + 1)
        frames.append(f)
    events = pack(pd.concat(frames, ignore_index=True))
    assert bolus_only(events)
    n, e = events.time.shape
    params = {"CL": jnp.asarray(10 ** rng.uniform(-0.5, 1, (n, e))), "V1": jnp.asarray(rng.uniform(10, 50, n)),
              "Q": 3.0, "V2": jnp.asarray(rng.uniform(20, 90, n)), "KA": 1.3,
              "F1": jnp.asarray(rng.uniform(0.5, 1, (n, e)))}
    fast = predict_population(model, events, params)                       # concrete: decided from the data
    gen = predict_population(model, events, params, bolus_only=False)
    _close(fast, gen)
    ev = events.subject(1)
    p1 = {k: (v[1] if np.ndim(v) else v) for k, v in params.items()}
    _close(solve(model, ev, p1), solve(model, ev, p1, bolus_only=False))


# ----------------------------------------------------------------------------- which path


@pytest.fixture
def taken(monkeypatch):
    """Trace ``predict`` and report whether the bolus path ran."""
    real = engine._run_bolus
    seen = []

    def spy(*args):
        seen.append(True)
        return real(*args)

    monkeypatch.setattr(engine, "_run_bolus", spy)

    def run(name, ev, p, traced=False, **kw):
        seen.clear()
        if traced:   # the events as jit arguments
            jax.make_jaxpr(lambda e: predict(MODELS[name], e, p, **kw))(ev)
        else:
            jax.make_jaxpr(lambda q: predict(MODELS[name], ev, q, **kw))(p)
        return bool(seen)

    return run


P_ORAL = {"CL": 2.0, "V": 30.0, "KA": 1.0}
BOLUS = [dose(0, 100, cmt=1, ii=12, addl=2), *obs([1, 5, 13, 30], cmt=2)]


def test_bolus_path_is_chosen_for_bolus_data(taken):
    ev = subject(BOLUS)
    assert bolus_only(ev)
    assert taken("1cmt-oral", ev, P_ORAL)
    assert taken("1cmt-oral", ev, {**P_ORAL, "F1": 0.7, "F2": 0.5})
    assert not taken("1cmt-oral", ev, P_ORAL, bolus_only=False)


@pytest.mark.parametrize("extra", [
    [dose(2, 50, cmt=2, rate=10)],                      # infusion
    [dose(2, 50, cmt=2, rate=-1)],                      # modelled rate (R2)
    [dose(2, 50, cmt=2, rate=-2)],                      # modelled duration (D2)
    [dose(2, 50, cmt=1, ii=12, ss=1)],                  # steady state
    [dose(2, 50, cmt=1, ii=12, ss=2)],
    [record(3, evid=3)],                                # reset
    [dose(3, 50, cmt=1, evid=4)],                       # reset and dose
], ids=["infusion", "rate-1", "rate-2", "ss1", "ss2", "evid3", "evid4"])
def test_bolus_path_is_not_chosen_for_other_records(taken, extra):
    ev = subject(sorted(BOLUS + extra, key=lambda r: r["TIME"]))
    assert not bolus_only(ev)
    assert not taken("1cmt-oral", ev, {**P_ORAL, "R2": 5.0, "D2": 2.0})
    with pytest.raises(ValueError, match="bolus_only=True"):
        predict(MODELS["1cmt-oral"], ev, {**P_ORAL, "R2": 5.0, "D2": 2.0}, bolus_only=True)


def test_bolus_path_is_not_chosen_with_a_lag_time_or_unordered_times_or_traced_events(taken):
    ev = subject(BOLUS)
    assert not taken("1cmt-oral", ev, {**P_ORAL, "ALAG1": 0.5})
    assert not taken("1cmt-oral", ev, {**P_ORAL, "ALAG2": 0.0}, bolus_only=True)
    back = dataclasses.replace(ev, time=ev.time.at[2].set(0.5))    # TIME decreasing (hand-built)
    assert not bolus_only(back)
    assert not taken("1cmt-oral", back, P_ORAL)
    assert not taken("1cmt-oral", ev, P_ORAL, traced=True)   # traced events: general unless told
    assert taken("1cmt-oral", ev, P_ORAL, traced=True, bolus_only=True)


def test_fit_data_carries_the_flag():
    """``bind`` decides on the host and the log density uses it."""
    import popkin.data
    from popkin.infer import bind
    from popkin.model import IIV, CombinedError, PopulationModel, Theta

    model = PopulationModel("1cmt-oral", {"CL": Theta(2.0, "L/h"), "V": Theta(30.0, "L"), "KA": Theta(1.0, "1/h")},
                            iiv=IIV(("CL",), initial=0.3), error=CombinedError(add=0.1, prop=0.1))
    rows = []
    for i in (1, 2):
        rows.append(dict(ID=i, TIME=0.0, EVID=1, AMT=100.0, CMT=1, RATE=0.0, DV=np.nan, MDV=1))
        rows += [dict(ID=i, TIME=t, EVID=0, AMT=0.0, CMT=2, RATE=0.0, DV=2.0 + t / 10, MDV=0) for t in (1.0, 4.0, 8.0)]
    frame = pd.DataFrame(rows)
    assert bind(model, popkin.data.read(frame)).data.bolus_only
    frame.loc[4, "RATE"] = 50.0
    assert not bind(model, popkin.data.read(frame)).data.bolus_only

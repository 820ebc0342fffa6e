"""NONMEM 7.4.3's own event-handling test set (nlmixr2data ``nmtest``) with the ODE
version of its model: 1 compartment, first-order absorption, integrated by diffrax.

Reference: NONMEM's ``cp`` column (CL = 1.1, V = 20, KA = 1.5; F2, ALAG2, R2, D2 from
the data columns; cp = central / (V / 1000)); data preparation shared with the
closed-form test (tests/pk/nmtest.py). Tolerance: 1e-4 relative (NONMEM prints 5
significant digits) and 1e-6 absolute near zero. Subjects with a steady-state dose
whose lag time exceeds II are judged separately (NONMEM reports negative cp for some
of them; the engine clips the lag to II, see the xfail below).
"""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from popkin.pk.engine import predict_population  # noqa: E402
from popkin.pk.model import get_model  # noqa: E402
from tests.pk import nmtest  # noqa: E402


def lag_beyond_ii_with_ss() -> set:
    """Subjects with an SS dose record whose ALAG2 (column LAGT) is longer than II."""
    raw = nmtest.raw()
    ss = raw[(raw["SS"] > 0) & raw["EVID"].isin([1, 4]) & (raw["LAGT"] > raw["II"])]
    return set(ss["ID"].tolist())


@pytest.fixture(scope="module")
def nm():
    events = nmtest.packed()
    p = nmtest.params(events)
    pred = {}
    for name in ("1cmt-oral-ode", "1cmt-oral"):
        model = get_model(name)
        f = jax.jit(lambda e, q: predict_population(model, e, q, steady_state=True))
        pred[name] = np.asarray(f(events, p))
    want = nmtest.reference(events)
    ids = np.array(events.ids)[:, None]
    usable = np.asarray(events.obs) & np.isfinite(want)
    return events, pred, want, ids, usable


def test_ode_model_reproduces_nonmem_cp(nm):
    events, pred, want, ids, usable = nm
    keep = usable & ~np.isin(ids, list(lag_beyond_ii_with_ss()))
    assert keep.sum() > 5500 and len(np.unique(np.broadcast_to(ids, keep.shape)[keep])) >= 40
    np.testing.assert_allclose(pred["1cmt-oral-ode"][keep], want[keep], rtol=1e-4, atol=1e-6)


def test_ode_model_equals_closed_form_on_every_nmtest_record(nm):
    # All 54 subjects, every record (SS 1/2, ADDL, lagged and modelled-rate infusions,
    # resets): the diffrax solution vs the engine's closed form, 1e-6 relative
    # (observed: ~2e-9), 1e-4 absolute in cp units (ng/mL; cp reaches ~1e4).
    events, pred, *_ = nm
    mask = np.asarray(events.mask)
    np.testing.assert_allclose(pred["1cmt-oral-ode"][mask], pred["1cmt-oral"][mask], rtol=1e-6, atol=1e-4)


@pytest.mark.xfail(strict=True, reason="engine: SS dose with ALAG > II (subjects 410, 411, 415, 510, 610 "
                                       "have positive NONMEM cp); _steady_states clips the lag to II")
def test_ss_with_lag_beyond_ii_matches_nonmem(nm):
    events, pred, want, ids, usable = nm
    negative = set(nmtest.negative_cp_subjects())
    keep = usable & np.isin(ids, list(lag_beyond_ii_with_ss() - negative))
    assert keep.sum() > 0
    np.testing.assert_allclose(pred["1cmt-oral-ode"][keep], want[keep], rtol=1e-4, atol=1e-6)

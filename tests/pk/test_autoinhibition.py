"""The auto-inhibition and dose-dependent-bioavailability options of ``CompartmentODE``
(the true model of the virtual LXI-15029 trial) against exact equivalences and the
long-run limit:

* with KINACT = 0 the enzyme stays at 1 and the model IS the MM + linear model, and
  F(AMT) is a plain F1 of Hill(AMT): predictions equal to 1e-9 relative (same solver,
  same steps up to the extra state's error control);
* F(AMT) applies per dose record's own AMT (two doses of different size);
* the steady state of an SS = 1 record (Newton on the one-interval map, enzyme included)
  equals 80 days of BID dosing (enzyme half-life 69 h: 28 half-lives, so the history
  has converged far below the 1e-6 tolerance).
Scipy's LSODA on the whole phase I timeline is in tests/datasets/test_lxi15029_model.py.
"""

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from popkin.data.events import pack  # noqa: E402
from popkin.pk.engine import predict  # noqa: E402
from popkin.pk.ode import ODEOptions  # noqa: E402
from popkin.pk.ode_models import CompartmentODE  # noqa: E402

TIGHT = ODEOptions(solver=diffrax.Tsit5(), rtol=1e-10, atol=1e-12, max_steps=100000)
FULL = CompartmentODE(1, "oral", "mm-linear", autoinhibition=True, bioavailability="hill", options=TIGHT)
PLAIN = CompartmentODE(1, "oral", "mm-linear", options=TIGHT)
P = {"VM": 31.0, "KM": 1.86, "V": 4.0, "KA": 0.51, "CL": 8.4, "KDEG": 0.01, "KINACT": 0.0225, "KI": 1.0,
     "FD50": 11.8, "FGAM": 3.7}


def _hill(amt):
    return amt ** P["FGAM"] / (P["FD50"] ** P["FGAM"] + amt ** P["FGAM"])


def _events(rows):
    frame = pd.DataFrame(rows, columns=["ID", "TIME", "AMT", "EVID", "CMT", "SS", "II"])
    frame["ROW"] = np.arange(1, len(frame) + 1)
    frame["MDV"] = (frame["EVID"] != 0).astype(int)
    frame["RATE"] = 0.0
    frame["ADDL"] = 0
    return pack(frame).subject(0)


def _one_dose(amt):
    rows = [(1, 0.0, amt, 1, 1, 0, 0.0)] + [(1, t, 0.0, 0, 2, 0, 0.0) for t in (0.5, 1, 2, 4, 8, 12)]
    return _events(rows)


def test_registry_names():
    assert FULL.name == "1cmt-oral-mm-linear-autoinh-fdose"
    assert FULL.compartments == ("depot", "central", "enzyme") and FULL.observed == 1 and not FULL.linear
    assert FULL.parameters[-5:] == ("KDEG", "KINACT", "KI", "FD50", "FGAM")


def test_without_inactivation_it_is_the_mm_linear_model_with_f1_of_the_dose():
    for amt in (5.0, 11.8, 40.0, 150.0):
        ev = _events([(1, 0.0, amt, 1, 1, 0, 0.0), (1, 12.0, amt, 1, 1, 0, 0.0)]
                     + [(1, t, 0.0, 0, 2, 0, 0.0) for t in (0.5, 1, 2, 4, 8, 13, 16, 24)])
        full = np.asarray(predict(FULL, ev, {**P, "KINACT": 0.0}))
        plain_p = {k: P[k] for k in ("VM", "KM", "V", "KA", "CL")}
        plain = np.asarray(predict(PLAIN, ev, {**plain_p, "F1": _hill(amt)}))
        np.testing.assert_allclose(full, plain, rtol=1e-9, atol=1e-12)
        assert full[-1] > 0


def test_dose_fraction_follows_each_records_own_amt():
    # a 5 mg dose then a 100 mg dose: F differs by record (0.004 vs 1 at FGAM 3.7)
    ev = _events([(1, 0.0, 5.0, 1, 1, 0, 0.0), (1, 1.0, 0.0, 0, 2, 0, 0.0),
                  (1, 24.0, 100.0, 1, 1, 0, 0.0), (1, 25.0, 0.0, 0, 2, 0, 0.0)])
    p = {**P, "KINACT": 0.0}
    got = np.asarray(predict(FULL, ev, p))
    plain_p = {k: P[k] for k in ("VM", "KM", "V", "KA", "CL")}
    first = np.asarray(predict(PLAIN, _one_dose(5.0), {**plain_p, "F1": _hill(5.0)}))
    np.testing.assert_allclose(got[1], first[2], rtol=1e-9)  # 1 h after the 5 mg dose
    assert _hill(5.0) < 0.05 and _hill(100.0) > 0.99
    assert got[3] > 50 * got[1]


def test_steady_state_record_equals_the_long_run_limit():
    amt, tau = 110.0, 12.0
    samples = [0.5, 1.0, 2.0, 4.0, 8.0, 12.0]
    n = 160  # 80 days BID
    start = (n - 1) * tau
    rows = [(1, k * tau, amt, 1, 1, 0, 0.0) for k in range(n)] + [(1, start + t, 0.0, 0, 2, 0, 0.0) for t in samples]
    rows.sort(key=lambda r: (r[1], r[3] == 0))
    history = np.asarray(predict(FULL, _events(rows), P))[-len(samples):]
    ss_rows = [(1, 0.0, amt, 1, 1, 1, tau)] + [(1, t, 0.0, 0, 2, 0, 0.0) for t in samples]
    ss = np.asarray(predict(FULL, _events(ss_rows), P, steady_state=True))[1:]
    np.testing.assert_allclose(ss, history, rtol=1e-6)
    # accumulation: the steady state is well above the first dose's profile
    first = np.asarray(predict(FULL, _one_dose(amt), P))
    assert ss[1] > 1.3 * first[2]

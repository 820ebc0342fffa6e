"""The event engine against independent references: scipy Radau on the same linear
ODEs, superposition, steady state as the limit of repeated dosing, NONMEM event rules
(resets, ordering, per-record parameters), and gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tests.pk.helpers import dose, jacobian, obs, predictor, record, subject, values

# ----------------------------------------------------------------------------- scipy reference


def _system(name, p):
    """The rate matrix A of dx/dt = A x + inputs, written out independently of popkin."""
    if name.startswith("1cmt"):
        k = p["CL"] / p["V"]
        a = np.array([[-k]])
    else:
        k10, k12, k21 = p["CL"] / p["V1"], p["Q"] / p["V1"], p["Q"] / p["V2"]
        a = np.array([[-(k10 + k12), k21], [k12, -k21]])
    if name.endswith("oral"):
        n = a.shape[0] + 1
        full = np.zeros((n, n))
        full[0, 0] = -p["KA"]
        full[1, 0] = p["KA"]
        full[1:, 1:] = a
        a = full
    return a


def _radau(name, p, doses, times):
    """Amounts at ``times`` for doses (time, cmt, amount, rate): F and ALAG of the dose
    compartment applied here, infusions as piecewise-constant inputs, boluses as jumps.
    Radau, rtol 1e-11, between every pair of consecutive event times."""
    a = _system(name, p)
    n = a.shape[0]
    landings = []
    for t, cmt, amt, rate in doses:
        f, lag = p.get(f"F{cmt}", 1.0), p.get(f"ALAG{cmt}", 0.0)
        land = t + lag
        if rate > 0:
            landings.append((land, cmt - 1, 0.0, rate, land + f * amt / rate))
        else:
            landings.append((land, cmt - 1, f * amt, 0.0, land))
    breaks = sorted({0.0, *[x[0] for x in landings], *[x[4] for x in landings], *times})
    x, out, t0 = np.zeros(n), {}, 0.0
    for t1 in breaks:
        if t1 > t0:
            def rhs(t, y):
                r = np.zeros(n)
                for land, c, _, rate, end in landings:
                    if rate > 0 and land <= t < end:
                        r[c] += rate
                return a @ y + r

            mid = 0.5 * (t0 + t1)  # the input is constant on (t0, t1): evaluate it there
            r_const = rhs(mid, np.zeros(n)) - a @ np.zeros(n)
            sol = solve_ivp(lambda t, y: a @ y + r_const, (t0, t1), x, method="Radau", rtol=1e-11,
                            atol=1e-14 * max(1.0, np.abs(x).max()), jac=lambda t, y: a)
            x = sol.y[:, -1]
        for land, c, bolus, _, _ in landings:  # boluses landing at t1
            if land == t1:
                x = x.copy()
                x[c] += bolus
        out[t1] = x.copy()
        t0 = t1
    return np.array([out[t] for t in times])


def _random_case(name, rng):
    one, oral = name.startswith("1cmt"), name.endswith("oral")
    p = {"CL": 10 ** rng.uniform(-0.5, 1), "V": 10 ** rng.uniform(0.5, 2)} if one else {
        "CL": 10 ** rng.uniform(-0.5, 1), "V1": 10 ** rng.uniform(0.5, 2), "Q": 10 ** rng.uniform(-0.5, 1),
        "V2": 10 ** rng.uniform(0.5, 2.5)}
    if oral:
        p["KA"] = 10 ** rng.uniform(-1, 0.7)
    n = 1 + oral + (not one)
    for c in range(1, n + 1):
        if rng.random() < 0.6:
            p[f"F{c}"] = rng.uniform(0.3, 1.2)
        if rng.random() < 0.5:
            p[f"ALAG{c}"] = rng.uniform(0.1, 2.0)
    doses = []
    for t in np.sort(rng.uniform(0, 48, size=rng.integers(2, 7))):
        cmt = int(rng.integers(1, n + 1))
        amt = rng.uniform(10, 200)
        rate = rng.uniform(5, 50) if rng.random() < 0.4 else 0.0
        doses.append((round(float(t), 3), cmt, amt, rate))
    times = np.sort(np.round(rng.uniform(0.05, 72, size=25), 4))
    return p, doses, times


@pytest.mark.parametrize("name", [pytest.param("1cmt-iv", marks=pytest.mark.slow), "1cmt-oral",
                                  pytest.param("2cmt-iv", marks=pytest.mark.slow), "2cmt-oral"])
def test_random_regimens_match_scipy_radau(name):
    """Random parameters and regimens (boluses and infusions into every compartment,
    F and ALAG per compartment): every compartment amount at 25 random times equals
    an independent Radau integration (rtol 1e-11) to 1e-6 relative (1e-9 of the
    largest amount absolute)."""
    rng = np.random.default_rng({"1cmt-iv": 1, "1cmt-oral": 2, "2cmt-iv": 3, "2cmt-oral": 4}[name])
    from tests.pk.helpers import solver

    worst = 0.0
    for _ in range(5):
        p, doses, times = _random_case(name, rng)
        records = [dose(t, amt, cmt=c, rate=r) for t, c, amt, r in doses] + obs(times)
        records.sort(key=lambda r: r["TIME"])
        ev = subject(records)
        amounts = np.asarray(solver(name, False)(ev, p))
        is_obs = np.asarray(ev.mask) & (np.asarray(ev.evid) == 0)
        got = amounts[is_obs]
        want = _radau(name, p, doses, list(np.asarray(ev.time)[is_obs]))
        scale = np.abs(want).max()
        err = np.abs(got - want) / (np.abs(want) + 1e-3 * scale)
        worst = max(worst, err.max())
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * scale)
    print(f"\n{name}: worst relative difference to Radau {worst:.1e}")


# ----------------------------------------------------------------------------- superposition


def test_two_doses_are_the_sum_of_single_doses():
    p = {"CL": 3.0, "V1": 20.0, "Q": 4.0, "V2": 50.0, "KA": 0.8, "F1": 0.6, "ALAG1": 0.7}
    times = np.linspace(0.1, 60, 40)
    first = [dose(0, 100, cmt=1)]
    second = [dose(7.3, 40, cmt=2, rate=13.0)]
    both, a, b = (_at_observations("2cmt-oral", doses + obs(times, cmt=2), p)
                  for doses in (first + second, first, second))
    np.testing.assert_allclose(both, a + b, rtol=1e-12, atol=1e-15)


def _at_observations(name, records, p):
    got, _, ev = values(name, records, p)
    return got[np.asarray(ev.evid)[np.asarray(ev.mask)] == 0]


# ----------------------------------------------------------------------------- steady state

N_DOSES = 60
SS_CASES = {
    # name: (model, params, dose kwargs, II)
    "oral bolus": ("1cmt-oral", {"CL": 2.0, "V": 30.0, "KA": 1.2}, dict(cmt=1, amt=100), 12.0),
    "oral bolus, F1 and lag": ("1cmt-oral", {"CL": 2.0, "V": 30.0, "KA": 1.2, "F1": 0.7, "ALAG1": 2.5},
                               dict(cmt=1, amt=100), 12.0),
    "lag longer than II": ("1cmt-oral", {"CL": 2.0, "V": 30.0, "KA": 1.2, "ALAG1": 30.0},
                           dict(cmt=1, amt=100), 12.0),
    "infusion shorter than II": ("1cmt-iv", {"CL": 2.0, "V": 30.0}, dict(cmt=1, amt=100, rate=25), 12.0),
    "infusion = II": ("1cmt-iv", {"CL": 2.0, "V": 30.0}, dict(cmt=1, amt=120, rate=10), 12.0),
    "infusion longer than II, lag": ("1cmt-iv", {"CL": 2.0, "V": 30.0, "ALAG1": 5.0},
                                     dict(cmt=1, amt=100, rate=3), 12.0),
    "infusion, F changes duration": ("1cmt-oral", {"CL": 2.0, "V": 30.0, "KA": 1.2, "F2": 0.6, "ALAG2": 1.0},
                                     dict(cmt=2, amt=100, rate=8), 12.0),
    "modelled duration (RATE=-2)": ("1cmt-iv", {"CL": 2.0, "V": 30.0, "D1": 17.0}, dict(cmt=1, amt=100, rate=-2),
                                    12.0),
    "modelled rate (RATE=-1), depot": ("1cmt-oral", {"CL": 2.0, "V": 30.0, "KA": 0.5, "R1": 20.0},
                                       dict(cmt=1, amt=100, rate=-1), 8.0),
    "2 cpt oral, lag": ("2cmt-oral", {"CL": 3.0, "V1": 20.0, "Q": 4.0, "V2": 50.0, "KA": 0.8, "ALAG1": 1.5},
                        dict(cmt=1, amt=100), 12.0),
    "2 cpt infusion longer than II": ("2cmt-iv", {"CL": 3.0, "V1": 20.0, "Q": 4.0, "V2": 50.0},
                                      dict(cmt=1, amt=100, rate=5), 12.0),
}


@pytest.mark.parametrize("case", list(SS_CASES))
def test_steady_state_is_the_limit_of_repeated_doses(case):
    """An SS=1 record (then nothing more) equals 60 doses every II ending at the same
    time, at observations over the following 3 II (which include the landings and
    infusion ends of the regimen still pending), to 1e-9 relative. 60 doses suffice:
    the slowest rate here (beta = 0.045 /h, II = 12 h) leaves e^{-0.045 x 12 x 60} =
    1e-14 of the initial transient."""
    name, p, kw, ii = SS_CASES[case]
    t_ss = (N_DOSES - 1) * ii
    times = t_ss + np.linspace(0, 3 * ii, 31)[1:]
    ss, _, _ = _ss_values(name, [dose(t_ss, ii=ii, ss=1, **kw)] + obs(times), p)
    rep, _, _ = _ss_values(name, [dose(0, ii=ii, addl=N_DOSES - 1, **kw)] + obs(times), p)
    np.testing.assert_allclose(ss[-len(times):], rep[-len(times):], rtol=1e-9, atol=1e-12)


def _ss_values(name, records, p):
    ev = subject(sorted(records, key=lambda r: r["TIME"]))
    out = np.asarray(predictor(name, True)(ev, p))
    return out[np.asarray(ev.mask)], np.asarray(ev.time)[np.asarray(ev.mask)], ev


def test_ss2_adds_the_steady_state_to_the_current_state():
    p = {"CL": 2.0, "V": 30.0, "KA": 1.2}
    times = 50 + np.linspace(0.5, 30, 12)
    base = [dose(0, 300, cmt=2)]
    added, _, _ = _ss_values("1cmt-oral", base + [dose(50, 100, cmt=1, ii=12, ss=2)] + obs(times, cmt=2), p)
    alone, _, _ = _ss_values("1cmt-oral", [dose(50, 100, cmt=1, ii=12, ss=1)] + obs(times, cmt=2), p)
    first, _, _ = _ss_values("1cmt-oral", base + obs(times, cmt=2), p)
    np.testing.assert_allclose(added[-12:], alone[-12:] + first[-12:], rtol=1e-12)


def test_constant_infusion_steady_state_then_washout():
    """AMT = 0, RATE = R, SS = 1 (nmtest subject 26): the concentration is R / CL at the
    record and, as in NONMEM, the infusion does not continue afterwards."""
    p = {"CL": 2.0, "V": 30.0}
    times = np.array([1.0, 5.0, 20.0])
    got, _, _ = _ss_values("1cmt-iv", [dose(0, 0, cmt=1, rate=10, ss=1)] + obs(np.r_[0, times]), p)
    k = 2.0 / 30
    np.testing.assert_allclose(got[1:], 10 / 2.0 * np.exp(-k * np.r_[0, times]), rtol=1e-12)


def test_too_many_running_infusions_gives_nan_not_a_wrong_answer():
    """An SS infusion lasting 300 II leaves 300 infusions running at the record: more
    end events than the 2E-slot pool holds, so the predictions are NaN."""
    got, _, _ = values("1cmt-iv", [dose(0, 3000, rate=1, ii=10, ss=1)] + obs([1, 2]), {"CL": 1.0, "V": 10.0},
                       steady_state=True)
    assert np.all(np.isnan(got))


def test_max_generated_shortens_the_scan_without_changing_results():
    """Traced events default to 2E generated slots; ``generated_slots`` (a landing per
    dose, an end per infusion) gives the same predictions with a shorter scan, and too
    few slots give NaN."""
    import jax

    from popkin.pk import generated_slots
    from popkin.pk.engine import predict
    from tests.pk.helpers import MODELS

    p = {"CL": 2.0, "V": 30.0, "KA": 1.0, "ALAG1": 0.5}
    ev = subject([dose(0, 100, cmt=1, ii=12, addl=3), dose(6, 50, cmt=2, rate=10)] + obs([1, 7, 13, 40], cmt=2))
    assert generated_slots(ev) == 6
    model = MODELS["1cmt-oral"]
    default = jax.jit(lambda e: predict(model, e, p, steady_state=False))(ev)
    short = jax.jit(lambda e: predict(model, e, p, steady_state=False, max_generated=6))(ev)
    np.testing.assert_allclose(short, default, rtol=1e-14)
    too_few = jax.jit(lambda e: predict(model, e, p, steady_state=False, max_generated=5))(ev)
    assert np.all(np.isnan(np.asarray(too_few)[np.asarray(ev.mask)]))


# ----------------------------------------------------------------------------- NONMEM event rules


def test_reset_clears_amounts_and_stops_infusions():
    p = {"CL": 2.0, "V": 30.0}
    records = [dose(0, 100, rate=10), record(4, evid=3)] + obs([5, 8]) + [dose(10, 50)] + obs([12])
    got, t, _ = values("1cmt-iv", records, p)
    k = 2 / 30
    assert got[2] == 0 and got[3] == 0  # infusion stopped by the reset at 4 h
    np.testing.assert_allclose(got[-1], 50 / 30 * np.exp(-k * 2), rtol=1e-13)


def test_reset_and_dose_with_clock_restart_is_a_fresh_start():
    """EVID 4 with TIME going back to 0 (a new occasion): the second occasion equals a
    subject that only had it."""
    p = {"CL": 2.0, "V": 30.0, "KA": 1.0}
    occ2 = [dose(0, 80, cmt=1, evid=4)] + obs([1, 3, 6], cmt=2)
    got, _, _ = values("1cmt-oral", [dose(0, 100, cmt=1)] + obs([2, 24], cmt=2) + occ2, p)
    fresh, _, _ = values("1cmt-oral", occ2, p)
    np.testing.assert_allclose(got[-4:], fresh, rtol=1e-13)


def test_reset_cancels_a_pending_lagged_dose():
    p = {"CL": 2.0, "V": 30.0, "KA": 1.0, "ALAG1": 5.0}
    got, _, _ = values("1cmt-oral", [dose(0, 100, cmt=1), record(2, evid=3)] + obs([6, 10], cmt=2), p)
    assert np.all(got[2:] == 0)


def test_ordering_at_equal_times():
    """A dose record reports its own bolus; an observation at the time a lagged dose
    lands includes it; an observation at the time of an implied ADDL dose precedes it."""
    p = {"CL": 2.0, "V": 30.0}
    got, _, _ = values("1cmt-iv", [dose(0, 90)] + obs([0]), p)
    assert got[0] == pytest.approx(3.0) and got[1] == pytest.approx(3.0)
    got, _, _ = values("1cmt-iv", [dose(0, 90)] + obs([1]), {**p, "ALAG1": 1.0})
    assert got[1] == pytest.approx(3.0, rel=1e-14)
    got, t, ev = values("1cmt-iv", [dose(0, 90, ii=12, addl=1)] + obs([12, 12.5]), p)
    k = 2 / 30
    assert got[1] == pytest.approx(3.0 * np.exp(-k * 12), rel=1e-13)  # before the implied dose
    assert got[3] == pytest.approx(3.0 * np.exp(-k * 12.5) + 3.0 * np.exp(-k * 0.5), rel=1e-13)


def test_per_record_parameters_apply_to_the_interval_ending_at_the_record():
    """NONMEM evaluates $PK at each record and advances to it with those values: CL
    given per record as [1, 1, 1, 3, 3] at times 0, 2, 4, 6, 8 gives e^{-3/V 2} from 4 to 6."""
    v = 10.0
    records = [dose(0, 100)] + obs([2, 4, 6, 8])
    ev = subject(records)
    cl = np.full(ev.time.shape, 3.0)
    cl[:3] = 1.0
    got = np.asarray(predictor("1cmt-iv", False)(ev, {"CL": cl, "V": v}))[:5]
    want = 10 * np.exp(-np.cumsum([0, 2 * 0.1, 2 * 0.1, 2 * 0.3, 2 * 0.3]))
    np.testing.assert_allclose(got, want, rtol=1e-13)


# ----------------------------------------------------------------------------- gradients


GRAD_CASES = {
    "1cmt-oral": {"CL": 1.3, "V": 25.0, "KA": 0.9, "F1": 0.8, "ALAG1": 0.6, "F2": 0.7, "ALAG2": 0.4,
                  "R2": 12.0, "D2": 3.0},
    "2cmt-oral": {"CL": 1.3, "V1": 25.0, "Q": 2.5, "V2": 60.0, "KA": 0.9, "F1": 0.8, "ALAG1": 0.6,
                  "F2": 0.7, "ALAG2": 0.4, "R2": 12.0, "D2": 3.0},
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_gradients_match_central_differences(name):
    """d prediction / d parameter for every parameter (incl. F1, ALAG1, F2, ALAG2, R2,
    D2) on a regimen with a depot dose (at steady state for the 1-cpt model, whose
    compiled program has the SS machinery), a bolus, an infusion with RATE given (F2
    changes its duration), RATE = -1 and RATE = -2, observations away from the kinks.
    Central differences with step 1e-5 x value: truncation ~1e-10, rounding ~1e-11,
    so agreement to 1e-6 relative (1e-9 absolute) is required."""
    p = GRAD_CASES[name]
    ss = name == "1cmt-oral"
    records = [dose(0, 100, cmt=1, ii=12, ss=int(ss)), dose(5, 50, cmt=2), dose(9, 40, cmt=2, rate=10),
               dose(20, 30, cmt=2, rate=-1), dose(30, 30, cmt=2, rate=-2)]
    records += obs([1.3, 3.7, 6.1, 10.2, 13.9, 21.1, 22.5, 31.2, 32.1, 35.5, 50.0], cmt=2)
    records.sort(key=lambda r: r["TIME"])
    ev = subject(records)
    mask = np.asarray(ev.mask) & (np.asarray(ev.evid) == 0)
    jac = jacobian(name, ss)(p, ev)
    f = predictor(name, ss)
    for k, v in p.items():
        h = 1e-5 * v
        fd = (np.asarray(f(ev, {**p, k: v + h})) - np.asarray(f(ev, {**p, k: v - h}))) / (2 * h)
        np.testing.assert_allclose(np.asarray(jac[k])[mask], fd[mask], rtol=1e-6, atol=1e-9, err_msg=k)
        assert np.any(np.abs(fd[mask]) > 1e-6), f"{k} has no effect on this regimen"

"""An independent reference for ODE models: scipy's Radau on the whole dosing history.

``reference`` integrates a plain-numpy right-hand side piecewise between events (dose
times, infusion ends, observation times) with ``scipy.integrate.solve_ivp`` (Radau,
rtol 1e-12), adding boluses as jumps, so it shares no code with popkin's engine or its
diffrax integration. ``frame`` writes the same regimen as a canonical event frame for
popkin. Other test modules import both (``from tests.pk.test_ode_reference import ...``);
the tests here check the reference itself against exact solutions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

RTOL = 1e-12  # Radau's tightest sensible tolerance in float64 (~5000 eps)


@dataclass(frozen=True)
class Dose:
    """A dose of ``amount`` into ``cmt`` (1-based) at ``time`` (h); ``duration`` > 0
    makes it a zero-order infusion at rate amount/duration."""

    time: float
    cmt: int
    amount: float
    duration: float = 0.0


def reference(rhs, x0, doses, times, atol=1e-14):
    """States at ``times`` (sorted, shape (T, n)) of dx/dt = rhs(x) + infusion rates.

    rhs: numpy function of the state, without dose inputs. An observation at the time
    of a bolus sees the state after the bolus, as ``frame`` lists doses before
    observations of the same time (NONMEM's record order).
    """
    x = np.array(x0, dtype=float)
    times = np.asarray(times, float)
    edges = {0.0, *times.tolist()}
    for d in doses:
        edges |= {d.time, d.time + d.duration}
    edges = sorted(edges)
    out, t_prev = {}, edges[0]
    for t in edges:
        if t > t_prev:
            rate = np.zeros_like(x)
            for d in doses:
                if d.duration > 0 and d.time <= t_prev and t <= d.time + d.duration:
                    rate[d.cmt - 1] += d.amount / d.duration
            sol = solve_ivp(lambda _, y: rhs(y) + rate, (t_prev, t), x, method="Radau",
                            rtol=RTOL, atol=atol)
            assert sol.success, sol.message
            x = sol.y[:, -1]
        for d in doses:
            if d.duration == 0 and d.time == t:
                x[d.cmt - 1] += d.amount
        out[t] = x.copy()
        t_prev = t
    return np.array([out[t] for t in times])


def frame(doses, times, obs_cmt, subject=1) -> pd.DataFrame:
    """The regimen and observation times as a canonical event frame (one subject)."""
    rows = [dict(ID=subject, TIME=d.time, EVID=1, AMT=d.amount, CMT=d.cmt,
                 RATE=d.amount / d.duration if d.duration > 0 else 0.0, MDV=1) for d in doses]
    rows += [dict(ID=subject, TIME=t, EVID=0, AMT=0.0, CMT=obs_cmt, RATE=0.0, MDV=0) for t in times]
    out = pd.DataFrame(rows)
    out["II"], out["ADDL"], out["SS"], out["DV"] = 0.0, 0, 0, np.nan
    return out.sort_values("TIME", kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------- the reference itself

def test_reference_matches_one_compartment_exact_solution():
    # 1-cpt oral, k = CL/V, bolus 100 into the depot at 0 and a 2-h infusion of 50 into
    # central at 6 h; exact superposition of the textbook solutions. Tolerance 1e-10
    # relative: the integrator runs at rtol 1e-12, errors accumulate over ~10 segments.
    cl, v, ka = 2.0, 10.0, 0.9
    k = cl / v
    doses = [Dose(0.0, 1, 100.0), Dose(6.0, 2, 50.0, 2.0)]
    times = np.array([0.5, 3.0, 6.5, 7.9, 12.0, 30.0])

    def rhs(x):
        return np.array([-ka * x[0], ka * x[0] - k * x[1]])

    got = reference(rhs, [0.0, 0.0], doses, times)[:, 1]
    oral = 100 * ka / (ka - k) * (np.exp(-k * times) - np.exp(-ka * times))
    r, t_on = 25.0, times - 6.0
    infused = np.where(t_on <= 0, 0.0,
                       np.where(t_on <= 2, r / k * (1 - np.exp(-k * np.clip(t_on, 0, None))),
                                r / k * (1 - np.exp(-k * 2)) * np.exp(-k * (t_on - 2))))
    np.testing.assert_allclose(got, oral + infused, rtol=1e-10)


def test_reference_michaelis_menten_mass_balance_and_lambert_w():
    # IV bolus with pure MM elimination has the exact solution (Lambert W):
    # C(t) = KM W((C0/KM) exp((C0 - VM t / V) / KM)); compare at 1e-9 relative.
    from scipy.special import lambertw

    vm, km, v, dose = 20.0, 3.0, 10.0, 200.0
    times = np.array([0.25, 1.0, 4.0, 9.0, 15.0])
    got = reference(lambda x: np.array([-vm * (x[0] / v) / (km + x[0] / v)]), [0.0],
                    [Dose(0.0, 1, dose)], times)[:, 0] / v
    c0 = dose / v
    exact = km * np.real(lambertw(c0 / km * np.exp((c0 - vm * times / v) / km)))
    np.testing.assert_allclose(got, exact, rtol=1e-9)

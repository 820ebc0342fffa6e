"""NCA of a simulated BID regimen reproduces the closed-form steady state of a
linear one-compartment oral model.

The model is written here (not imported from popkin.pk): concentrations by
superposition of single-dose Bateman curves, steady state by the geometric-series
closed form
    C_ss(t) = A [ e^{-k t}/(1 - e^{-k tau}) - e^{-ka t}/(1 - e^{-ka tau}) ],
    A = F D ka / (V (ka - k)), 0 <= t <= tau,
so AUCtau,ss = F D / CL, Cmin,ss = C_ss(0) = C_ss(tau), Cmax,ss = C_ss(tmax,ss) with
    tmax,ss = ln[ ka (1 - e^{-k tau}) / (k (1 - e^{-ka tau})) ] / (ka - k).
The dataset goes through from_nonmem (ADDL/II expansion, pre-dose samples at dose
times, occasions) and nca() like a user's file would.

Tolerances (stated, rigorous):
- AUCtau: the trapezoid bound of the trapezoid_bound fixture (conftest.py) (linear rule:
  Taylor remainder; log rule: error of the exponential interpolant).
- Cmax,ss: 0 <= Cmax,ss - max(samples) <= max|C''|/2 d^2, d the distance from
  tmax,ss to the nearest sample (Taylor at the maximum, where C' = 0).
- Cmin,ss: sampled exactly at 0 and tau; 1e-9 relative covers the finite
  superposition (56 doses: residual e^{-k tau 56} ~ 1e-29) and rounding.
"""

import math

import numpy as np
import pandas as pd
import pytest

from popkin.nca import NCAOptions, Units, from_nonmem, nca

DOSE, V, CL, KA, TAU, F = 100.0, 20.0, 2.0, 1.0, 12.0, 1.0
K = CL / V
A = F * DOSE * KA / (V * (KA - K))
SAMPLES = np.array([0, 1 / 3, 2 / 3, 1, 1.5, 2, 3, 4, 6, 8, 12])  # LXI-15029 day 28 schedule
N_BID = 57  # BID from 48 h: doses at 48, 60, ..., 720 (ADDL = 56)


def superposition(t, dose_times):
    t = np.asarray(t, float)[:, None]
    s = t - np.asarray(dose_times)[None, :]
    return np.where(s >= 0, A * (np.exp(-K * np.clip(s, 0, None)) - np.exp(-KA * np.clip(s, 0, None))), 0).sum(axis=1)


def css(t):
    return A * (np.exp(-K * t) / (1 - np.exp(-K * TAU)) - np.exp(-KA * t) / (1 - np.exp(-KA * TAU)))


def simulated_dataset():
    dose_times = np.concatenate([[0.0], 48 + TAU * np.arange(N_BID)])
    last_morning = dose_times[-2]  # 708 h: the profile of day 30 morning, next dose at 720
    day1 = np.array([0, 1 / 3, 2 / 3, 1, 1.5, 2, 3, 4, 6, 8, 12, 24, 48])
    rows = [
        {"ID": 1, "TIME": 0.0, "AMT": DOSE, "DV": np.nan, "EVID": 1, "MDV": 1, "ADDL": 0, "II": 0, "OCC": 1},
        {"ID": 1, "TIME": 48.0, "AMT": DOSE, "DV": np.nan, "EVID": 1, "MDV": 1, "ADDL": N_BID - 1, "II": TAU, "OCC": 2},
    ]
    for occ, times in ((1, day1), (2, last_morning + SAMPLES)):
        for t, c in zip(times, superposition(times, dose_times)):
            rows.append({"ID": 1, "TIME": t, "AMT": np.nan, "DV": c, "EVID": 0, "MDV": 0, "ADDL": 0, "II": 0, "OCC": occ})
    frame = pd.DataFrame(rows).sort_values(["ID", "TIME", "EVID"], kind="stable", ignore_index=True)
    return frame


@pytest.mark.parametrize("method", ["linear", "lin-up/log-down"])
def test_steady_state_interval_reproduces_closed_form(method, trapezoid_bound):
    conc = from_nonmem(simulated_dataset(), occasion="OCC", tau=TAU)
    assert conc.groupby("OCC")["SS"].unique().to_dict() == {1: [0], 2: [1]}
    np.testing.assert_allclose(conc.loc[conc["OCC"] == 2, "TIME"], SAMPLES, atol=1e-9)
    result = nca(conc, NCAOptions(method=method, tau=TAU), occasion="OCC", units=Units(conc="mg/L", dose="mg"))
    sd, ss = result.wide.iloc[0], result.wide.iloc[1]
    assert (sd["SS"], ss["SS"]) == (0, 1)

    # AUCtau at steady state = F D / CL
    auc_ss = F * DOSE / CL
    bound_ss = trapezoid_bound(SAMPLES, css(SAMPLES), A / (1 - math.exp(-K * TAU)), A / (1 - math.exp(-KA * TAU)),
                               K, KA, method)
    print(f"\n{method}: AUCtau,ss {ss['AUCTAU']:.6f} vs {auc_ss:.6f} (bound {bound_ss:.2e})")
    assert abs(ss["AUCTAU"] - auc_ss) <= bound_ss
    assert bound_ss < 0.02 * auc_ss  # the bound is informative
    assert abs(ss["CAV"] - ss["AUCTAU"] / TAU) < 1e-12
    assert abs(ss["CLFTAU"] - CL) <= CL * bound_ss / (auc_ss - bound_ss)

    # Cmin,ss at the pre-dose sample (t = 0) and at tau
    assert abs(ss["CMIN"] / css(0.0) - 1) < 1e-9
    assert abs(ss["CTROUGH"] / css(TAU) - 1) < 1e-9

    # Cmax,ss against the closed-form maximum
    tmax = math.log(KA * (1 - math.exp(-K * TAU)) / (K * (1 - math.exp(-KA * TAU)))) / (KA - K)
    cmax = float(css(tmax))
    d = np.min(np.abs(SAMPLES - tmax))
    c2max = A * (K**2 / (1 - math.exp(-K * TAU)) + KA**2 / (1 - math.exp(-KA * TAU)))  # max |C''| on [0, tau]
    print(f"  Cmax,ss {ss['CMAX']:.6f} vs {cmax:.6f} (bound {c2max / 2 * d**2:.2e}); Cmin,ss {ss['CMIN']:.6f}")
    assert 0 <= cmax - ss["CMAX"] <= c2max / 2 * d**2

    # accumulation: AUCtau,ss / AUC0-tau(first dose), each inside its trapezoid bound
    auc_sd = A * ((1 - math.exp(-K * TAU)) / K - (1 - math.exp(-KA * TAU)) / KA)
    day1 = conc.loc[conc["OCC"] == 1, "TIME"].to_numpy()
    day1 = day1[day1 <= TAU]
    bound_sd = trapezoid_bound(day1, A * (np.exp(-K * day1) - np.exp(-KA * day1)), A, A, K, KA, method)
    assert abs(sd["AUCTAU"] - auc_sd) <= bound_sd
    rac = auc_ss / auc_sd
    rel_bound = bound_ss / (auc_ss - bound_ss) + bound_sd / (auc_sd - bound_sd)
    assert abs(ss["RAC_AUC"] / rac - 1) <= rel_bound * 1.01
    assert abs(ss["RAC_CMAX"] - ss["CMAX"] / sd["CMAX"]) < 1e-12
    # steady-state CL/F and single-dose CL/F are separate parameters, each missing on the other profile
    assert math.isnan(ss["CLFO"]) and math.isnan(sd["CLFTAU"])

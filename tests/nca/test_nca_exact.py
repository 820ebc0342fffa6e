"""Exact answers: analytic profiles where the true AUC, lambda_z and half-life are known.

Tolerances:
- 1e-10 relative where the method is exact in real arithmetic (log trapezoid and
  log interpolation on a pure exponential, the log-linear regression through
  exact exponential points): double precision rounding is ~1e-15 per operation,
  so 1e-10 leaves five orders of magnitude and still catches any formula slip.
- 1e-12 absolute for the PKNCA half-life check (1, 0.5, 0.25 -> exactly 1).
- Trapezoid (discretisation) error: rigorous bounds derived in conftest.py
  (``trapezoid_bound`` fixture; linear rule: Taylor remainder dt^3/12 f''(xi); log rule: the exponential
  interpolant's error through the second derivative of ln C).
"""

import math

import numpy as np
import pandas as pd
import pytest

from popkin.nca import LambdaZRule, NCAOptions, fit_lambda_z, nca


def one_profile(t, c, dose=100.0, options=None, **kw):
    frame = pd.DataFrame({"ID": 1, "TIME": np.asarray(t, float), "CONC": np.asarray(c, float), "DOSE": dose})
    result = nca(frame, options or NCAOptions(), **kw)
    return result.wide.iloc[0], result.reasons.iloc[0]


def rel(a, b):
    return abs(a - b) / abs(b)


# --- IV-like mono-exponential C = 10 exp(-0.2 t) -------------------------------------
C0, K = 10.0, 0.2
T_EXP = np.array([0, 0.5, 1, 2, 4, 6, 8, 12, 24], float)
C_EXP = C0 * np.exp(-K * T_EXP)


def test_log_down_trapezoid_is_exact_on_an_exponential():
    v, _ = one_profile(T_EXP, C_EXP, options=NCAOptions(method="lin-up/log-down", tau=30.0))
    assert rel(v["AUCLST"], C0 / K * (1 - math.exp(-K * 24))) < 1e-10
    # every point after Cmax lies on the line: all fits have R2 = 1, the most points win
    assert v["LAMZNPT"] == 8 and v["LAMZLL"] == 0.5 and v["LAMZUL"] == 24
    assert rel(v["LAMZ"], K) < 1e-10
    assert rel(v["LAMZHL"], math.log(2) / K) < 1e-10
    assert rel(v["AUCIFO"], C0 / K) < 1e-10
    assert rel(v["AUCIFP"], C0 / K) < 1e-10
    # tau beyond tlast: extrapolation with lambda_z is exact for an exponential
    assert rel(v["AUCTAU"], C0 / K * (1 - math.exp(-K * 30))) < 1e-10
    assert rel(v["CAV"], C0 / K * (1 - math.exp(-K * 30)) / 30) < 1e-10


@pytest.mark.parametrize("tau", [5.0, 0.75, 12.0, 20.0])
def test_auc_to_tau_log_interpolation_is_exact_on_an_exponential(tau):
    # tau between samples (5 between 4 and 6) or on a sample (12): the log
    # interpolant of an exponential is the exponential itself
    v, _ = one_profile(T_EXP, C_EXP, options=NCAOptions(tau=tau))
    assert rel(v["AUCTAU"], C0 / K * (1 - math.exp(-K * tau))) < 1e-10


def test_linear_interpolation_at_tau_by_hand():
    v, _ = one_profile(T_EXP, C_EXP, options=NCAOptions(method="linear", tau=5.0))
    c = dict(zip(T_EXP, C_EXP))
    c5 = (c[4] + c[6]) / 2  # linear interpolation half-way between 4 and 6
    by_hand = sum((b - a) * (c[a] + c[b]) / 2 for a, b in zip(T_EXP[:4], T_EXP[1:5])) + 1 * (c[4] + c5) / 2
    assert rel(v["AUCTAU"], by_hand) < 1e-12


def test_linear_trapezoid_error_is_inside_its_taylor_bracket():
    v, _ = one_profile(T_EXP, C_EXP, options=NCAOptions(method="linear"))
    exact = C0 / K * (1 - math.exp(-K * 24))
    # error of each segment = dt^3/12 f''(xi), f'' = K^2 C(t) decreasing: f''(t_i+1) <= f''(xi) <= f''(t_i)
    dt = np.diff(T_EXP)
    low = np.sum(dt**3 / 12 * K**2 * C_EXP[1:])
    high = np.sum(dt**3 / 12 * K**2 * C_EXP[:-1])
    assert low <= v["AUCLST"] - exact <= high
    assert high < 0.15 * exact  # the bracket is informative, not vacuous


def test_half_life_of_one_half_one_quarter_is_exactly_one():
    # PKNCA's check; all three points are needed, so Cmax (t = 0) must be allowed
    opts = NCAOptions(lambda_z=LambdaZRule(include_cmax=True))
    v, _ = one_profile([0, 1, 2], [1, 0.5, 0.25], options=opts)
    assert abs(v["LAMZHL"] - 1.0) < 1e-12
    assert abs(v["LAMZ"] - math.log(2)) < 1e-12
    fit = fit_lambda_z(np.array([0, 1, 2.0]), np.array([1, 0.5, 0.25]), LambdaZRule(include_cmax=True))
    assert abs(math.log(2) / fit.lamz - 1.0) < 1e-12


def test_half_life_default_excludes_cmax_and_says_why():
    v, why = one_profile([0, 1, 2], [1, 0.5, 0.25])
    assert math.isnan(v["LAMZHL"])
    assert "only 2 positive concentration(s) after Cmax" in why["LAMZ"]
    assert why["LAMZHL"].startswith("needs LAMZ; only 2")
    assert why["VZFO"].startswith("needs ")  # dependency chain names the root cause
    assert "only 2" in why["VZFO"]


# --- oral one-compartment (Bateman) ----------------------------------------------------
DOSE, V, KA, KE = 100.0, 10.0, 2.0, 0.1
A = DOSE * KA / (V * (KA - KE))


def bateman(t):
    return A * (np.exp(-KE * t) - np.exp(-KA * t))


def bateman_auc(t):
    return A * ((1 - np.exp(-KE * t)) / KE - (1 - np.exp(-KA * t)) / KA)


T_ORAL = np.array([0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48], float)


@pytest.mark.parametrize("method", ["linear", "lin-up/log-down"])
def test_bateman_auc_within_stated_trapezoid_error(method, trapezoid_bound):
    c = bateman(T_ORAL)
    v, _ = one_profile(T_ORAL, c, dose=DOSE, options=NCAOptions(method=method, tau=12.0))
    bound = trapezoid_bound(T_ORAL, c, A, A, KE, KA, method)
    assert abs(v["AUCLST"] - bateman_auc(48.0)) <= bound
    keep = T_ORAL <= 12
    assert abs(v["AUCTAU"] - bateman_auc(12.0)) <= trapezoid_bound(T_ORAL[keep], c[keep], A, A, KE, KA, method)
    if method == "lin-up/log-down":
        # the log rule follows the terminal exponential: its bound is far tighter
        assert bound < 0.2 * trapezoid_bound(T_ORAL, c, A, A, KE, KA, "linear")


def test_bateman_lambda_z_exact_when_terminal_samples_follow_absorption(trapezoid_bound):
    # Samples after Cmax only where exp(-(ka-k) t) < 1e-10 (t >= 12 h): the
    # log-concentrations are on the line -k t to ~1e-10, so lambda_z = k to 1e-6.
    t = np.array([0, 0.5, 1, 1.5, 12, 16, 24, 36, 48], float)
    v, _ = one_profile(t, bateman(t), dose=DOSE)
    assert v["LAMZLL"] == 12 and v["LAMZNPT"] == 5
    assert rel(v["LAMZ"], KE) < 1e-6
    assert rel(v["LAMZHL"], math.log(2) / KE) < 1e-6
    # AUCIFO against the analytic total D/(V k): extrapolation exact to ~1e-10,
    # so the error is the trapezoid error of AUCLST
    c = bateman(t)
    assert abs(v["AUCIFO"] - DOSE / (V * KE)) <= trapezoid_bound(t, c, A, A, KE, KA, "lin-up/log-down") + 1e-8
    # CL/F = dose/AUCIFO with mg and ng/mL (default units): 1000 x dose/AUC in L/h
    assert rel(v["CLFO"], 1000 * DOSE / v["AUCIFO"]) < 1e-12


def test_bateman_lambda_z_with_a_dense_schedule_is_the_regression_it_reports():
    # With samples during absorption the adj-R2 tolerance (1e-4) admits early
    # points whose absorption residual is small; lambda_z is then the exact OLS
    # slope over the reported LAMZLL..LAMZUL points (checked with numpy.polyfit to
    # 1e-10). The early points lie below the terminal line (absorption not over:
    # ln(1 - exp(-(ka-k) t)) < 0), so the slope is flatter: lambda_z < k, here by
    # less than 0.5% (absorption residual exp(-1.9 t) is 2% at 2 h, 1e-5 at 6 h).
    c = bateman(T_ORAL)
    v, _ = one_profile(T_ORAL, c, dose=DOSE)
    sel = (T_ORAL >= v["LAMZLL"]) & (T_ORAL <= v["LAMZUL"])
    assert sel.sum() == v["LAMZNPT"]
    slope = np.polyfit(T_ORAL[sel], np.log(c[sel]), 1)[0]
    assert rel(v["LAMZ"], -slope) < 1e-10
    assert 0 < KE - v["LAMZ"] < 5e-3 * KE

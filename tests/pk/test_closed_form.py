"""Closed forms against exact answers: high-precision divided differences, textbook
one- and two-compartment formulas, KA == K, and extreme parameter values."""

from __future__ import annotations

from decimal import Decimal, getcontext

import jax
import numpy as np
import pytest

from popkin.pk.closed_form import conv
from popkin.pk.engine import predict
from tests.pk.helpers import dose, jacobian, obs, predictor, subject, values

TIMES = np.array([0.25, 0.5, 1, 2, 3, 5, 8, 12, 24, 48])


def _dd_reference(t, rates):
    """(-1)^n times the divided difference of l -> exp(-l t) at distinct rates, in 60-digit
    decimal arithmetic: sum_i exp(-r_i t) / prod_{j != i} (r_j - r_i)."""
    getcontext().prec = 60
    t, r = Decimal(t), [Decimal(x) for x in rates]
    total = Decimal(0)
    for i, ri in enumerate(r):
        den = Decimal(1)
        for j, rj in enumerate(r):
            if j != i:
                den *= rj - ri
        total += (-ri * t).exp() / den
    return float(total)


def test_conv_equals_high_precision_divided_differences():
    """conv for 2 and 3 rates over 1e-4..1e3 /h and 1e-3..1e3 h, including near-equal
    rates (relative gaps down to 1e-9) and zero rates, against 60-digit decimals.
    Tolerance 1e-12 relative: the formulas lose at most ~2/0.02 ulps (Psi_2 quotient)."""
    rng = np.random.default_rng(7)
    worst = 0.0
    f = jax.jit(lambda t, a, b, c: (conv(t, a, b), conv(t, a, b, c)))
    for _ in range(3000):
        t = 10 ** rng.uniform(-3, 3)
        r = list(10 ** rng.uniform(-4, 3, size=3))
        if rng.random() < 0.3:
            r[2] = 0.0
        if rng.random() < 0.3:
            r[1] = r[0] * (1 + 10 ** rng.uniform(-9, -1))
        if len(set(r)) < 3:
            continue
        two, three = (float(v) for v in f(t, *r))
        for got, rates in ((two, r[:2]), (three, r)):
            want = _dd_reference(t, rates)
            if want > 1e-300:
                worst = max(worst, abs(got - want) / want)
    print(f"\nconv worst relative error vs 60-digit reference: {worst:.1e}")
    assert worst < 1e-12


def test_conv_at_coincident_rates_is_the_limit():
    # conv(t, a, a) = t e^{-a t}; conv(t, a, a, a) = t^2/2 e^{-a t}; conv(t, 0, 0) = t
    for a in (0.0, 1e-3, 0.7, 40.0):
        for t in (1e-3, 0.5, 7.0):
            assert float(conv(t, a, a)) == pytest.approx(t * np.exp(-a * t), rel=1e-14)
            assert float(conv(t, a, a, a)) == pytest.approx(t * t / 2 * np.exp(-a * t), rel=1e-14)


def test_one_compartment_exact():
    cl, v, ka, f1 = 2.0, 30.0, 0.9, 0.7
    k = cl / v
    # IV bolus: D/V e^{-kt}
    got, t, _ = values("1cmt-iv", [dose(0, 100)] + obs(TIMES), {"CL": cl, "V": v})
    np.testing.assert_allclose(got[1:], 100 / v * np.exp(-k * TIMES), rtol=1e-13)
    # IV infusion of 100 over 4 h: R/CL (1 - e^{-kt}), then decay
    got, _, _ = values("1cmt-iv", [dose(0, 100, rate=25)] + obs(TIMES), {"CL": cl, "V": v})
    c_end = 25 / cl * (1 - np.exp(-k * 4))
    want = np.where(TIMES <= 4, 25 / cl * (1 - np.exp(-k * TIMES)), c_end * np.exp(-k * (TIMES - 4)))
    np.testing.assert_allclose(got[1:], want, rtol=1e-13)
    # oral: F D ka / (V (ka - k)) (e^{-kt} - e^{-ka t})
    got, _, _ = values("1cmt-oral", [dose(0, 100)] + obs(TIMES, cmt=2), {"CL": cl, "V": v, "KA": ka, "F1": f1})
    want = f1 * 100 * ka / (v * (ka - k)) * (np.exp(-k * TIMES) - np.exp(-ka * TIMES))
    np.testing.assert_allclose(got[1:], want, rtol=1e-12)


def _two_cpt_rates(cl, v1, q, v2):
    k10, k12, k21 = cl / v1, q / v1, q / v2
    alpha, beta = sorted(np.roots([1, k10 + k12 + k21, k10 * k21]).real)  # roots are -alpha, -beta
    return k21, -alpha, -beta


def test_two_compartment_exact():
    """Textbook bi-/tri-exponential formulas (Gibaldi & Perrier), roots from numpy."""
    cl, v1, q, v2, ka = 3.0, 20.0, 5.0, 60.0, 1.3
    k21, alpha, beta = _two_cpt_rates(cl, v1, q, v2)
    p = {"CL": cl, "V1": v1, "Q": q, "V2": v2}
    e_a, e_b = np.exp(-alpha * TIMES), np.exp(-beta * TIMES)
    # IV bolus
    got, _, _ = values("2cmt-iv", [dose(0, 100)] + obs(TIMES), p)
    want = 100 / v1 * ((alpha - k21) / (alpha - beta) * e_a + (k21 - beta) / (alpha - beta) * e_b)
    np.testing.assert_allclose(got[1:], want, rtol=1e-11)
    # oral
    got, _, _ = values("2cmt-oral", [dose(0, 100)] + obs(TIMES, cmt=2), {**p, "KA": ka})
    want = ka * 100 / v1 * ((k21 - alpha) / ((ka - alpha) * (beta - alpha)) * e_a
                            + (k21 - beta) / ((ka - beta) * (alpha - beta)) * e_b
                            + (k21 - ka) / ((alpha - ka) * (beta - ka)) * np.exp(-ka * TIMES))
    np.testing.assert_allclose(got[1:], want, rtol=1e-11)
    # infusion of 100 at 50/h (2 h): superpose the integral of the bolus response
    got, _, _ = values("2cmt-iv", [dose(0, 100, rate=50)] + obs(TIMES), p)

    def integral(t):  # int_0^t of the unit bolus response
        a, b = (alpha - k21) / (alpha - beta), (k21 - beta) / (alpha - beta)
        return (a / alpha * (1 - np.exp(-alpha * t)) + b / beta * (1 - np.exp(-beta * t))) / v1

    want = 50 * np.where(TIMES <= 2, integral(TIMES),
                         integral(TIMES) - integral(np.maximum(TIMES - 2, 0)))
    np.testing.assert_allclose(got[1:], want, rtol=1e-11)


@pytest.mark.parametrize("name", ["1cmt-oral", "2cmt-oral"])
def test_ka_at_and_near_the_disposition_rates(name):
    """KA exactly equal to K (1 cpt) or to alpha / beta (2 cpt): finite values and
    gradients, continuous with KA*(1 +- 1e-9) (to 1e-7 relative) and, for 1 cpt,
    equal to the limit F D k t e^{-kt} / V."""
    base = {"CL": 1.1, "V": 20.0} if name == "1cmt-oral" else {"CL": 1.1, "V1": 20.0, "Q": 2.0, "V2": 40.0}
    if name == "1cmt-oral":
        rates = [1.1 / 20]
    else:
        _, alpha, beta = _two_cpt_rates(1.1, 20.0, 2.0, 40.0)
        rates = [alpha, beta]
    records = [dose(0, 100)] + obs(TIMES, cmt=2)
    ev = subject(records)
    mask = np.asarray(ev.mask)

    def f(p):
        return predictor(name, False)(ev, p)

    def jac(p):
        return jacobian(name, False)(p, ev)

    for ka in rates:
        at = np.asarray(f({**base, "KA": ka}))[mask]
        for eps in (1e-9, -1e-9):
            near = np.asarray(f({**base, "KA": ka * (1 + eps)}))[mask]
            np.testing.assert_allclose(at, near, rtol=1e-7, atol=1e-15)
        grads = jac({**base, "KA": ka})
        for k, g in grads.items():
            assert np.all(np.isfinite(np.asarray(g))), k
        # the derivative at the coincidence equals a central difference across it
        h = ka * 1e-5
        fd = (np.asarray(f({**base, "KA": ka + h})) - np.asarray(f({**base, "KA": ka - h}))) / (2 * h)
        np.testing.assert_allclose(np.asarray(grads["KA"])[mask], fd[mask], rtol=1e-6, atol=1e-12)
    if name == "1cmt-oral":
        k = 1.1 / 20
        np.testing.assert_allclose(at[1:], 100 * k * TIMES * np.exp(-k * TIMES) / 20, rtol=1e-13)


@pytest.mark.parametrize("name", ["1cmt-oral", "1cmt-iv", "2cmt-oral", "2cmt-iv"])
def test_extreme_parameters_give_finite_values_and_gradients(name):
    """CL 1e-6..1e4 L/h, V 1e-3..1e5 L, KA 1e-4..1e3 /h (a full 6 x 5 x 5 grid; Q = CL/2,
    V2 = 2 V), a bolus and an infusion, observations from 1 min to 1000 h: no NaN or
    inf in the predictions or in their gradients with respect to every parameter."""
    oral = name.endswith("oral")
    central = 2 if oral else 1
    ev = subject([dose(0, 100, cmt=1), dose(5, 50, cmt=central, rate=10)]
                 + obs([1 / 60, 0.5, 2, 6, 24, 100, 1000], cmt=central))
    mask = np.asarray(ev.mask)
    bad = []
    for cl in np.logspace(-6, 4, 6):
        for v in np.logspace(-3, 5, 5):
            for ka in np.logspace(-4, 3, 5) if oral else [None]:
                p = {"CL": cl, "V": v} if name.startswith("1") else {"CL": cl, "V1": v, "Q": cl / 2, "V2": 2 * v}
                if oral:
                    p["KA"] = ka
                vals = np.asarray(predictor(name, False)(ev, p))[mask]
                jac = jacobian(name, False)(p, ev)
                finite = np.all(np.isfinite(vals)) and all(np.all(np.isfinite(np.asarray(g)[mask]))
                                                          for g in jac.values())
                if not finite:
                    bad.append(p)
    assert not bad, f"non-finite values or gradients at {bad[:3]}"

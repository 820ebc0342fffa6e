"""Shared helpers of the NCA tests."""

import math

import pytest


def _trapezoid_bound(t, c, a, b, k, ka, method):
    """Rigorous bound on |trapezoid AUC - exact| for f = a e^{-k t} - b e^{-ka t}
    (a, b > 0, ka > k) sampled at t.

    Linear segment: |dt^3/12 f''| with |f''| <= a k^2 e^{-k t_i} + b ka^2 e^{-ka t_i}.
    Log segment (falling): the rule integrates exp(L), L the linear interpolant of
    h = ln f; |h - L| <= dt^2/8 max|h''| and |e^h - e^L| <= max(f, e^L) |h - L|,
    where e^L <= f(t_i) and max f on the segment is f(t_i), or f(t*) when the
    maximum t* = ln(b ka / (a k))/(ka - k) of the unimodal f falls inside;
    h'' = -(ka-k)^2 v/(1-v)^2 with v = (b/a) e^{-(ka-k) t}, largest at t_i.
    """
    t_star = math.log(b * ka / (a * k)) / (ka - k)
    f_star = a * math.exp(-k * t_star) - b * math.exp(-ka * t_star)
    bound = 0.0
    for i in range(len(t) - 1):
        dt = t[i + 1] - t[i]
        if method != "linear" and c[i] > c[i + 1] > 0:
            vv = b / a * math.exp(-(ka - k) * t[i])
            h2 = (ka - k) ** 2 * vv / (1 - vv) ** 2
            f_max = f_star if t[i] < t_star < t[i + 1] else c[i]
            bound += dt * f_max * dt**2 / 8 * h2
        else:
            bound += dt**3 / 12 * (a * k**2 * math.exp(-k * t[i]) + b * ka**2 * math.exp(-ka * t[i]))
    return bound


@pytest.fixture
def trapezoid_bound():
    """The function ``_trapezoid_bound`` (rigorous trapezoid error bound)."""
    return _trapezoid_bound

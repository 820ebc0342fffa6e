"""One- and two-compartment models in closed form (state-transition form).

``advance`` moves the compartment amounts exactly from one event to the next, with
constant zero-order inputs over the interval, so multiple dosing costs O(events).

The maths. Every solution is a sum of *exponential convolutions*

    conv(l0, ..., ln)(t) = (e^{-l0 .} * ... * e^{-ln .})(t)
                         = (-1)^n  (divided difference of l -> e^{-l t} at l0..ln),

which are positive for non-negative rates. With the smallest rate m factored out,
conv = t^n e^{-m t} Psi_n(u), u_i = (l_i - m) t >= 0 sorted:
Psi_1(u) = h(u) = (1 - e^{-u}) / u and Psi_2(u1, u2) = (h(u1) - e^{-u1} h(u2 - u1)) / u2,
or its Taylor series when u2 < 0.02 (where the quotient would cancel).
Hence KA == K (or KA == alpha, beta) needs no special case, and nothing overflows:
every factor is bounded by 1 or by t^n.

A zero-order input into the depot (rate r0) enters the central compartment as
r0 (1 - e^{-ka s}); its response is written r0 (conv(., 0) - conv(., ka)), which is exact
but loses about 1/(ka dt) of the relative precision of that (small) increment when
ka * dt is tiny (still ~1e-12 at ka * dt = 1e-3 in float64).

Two compartments: with k10 = CL/V1, k12 = Q/V1, k21 = Q/V2 the central/peripheral
block B = [[-(k10+k12), k21], [k12, -k21]] has eigenvalues -alpha, -beta and (Putzer)

    e^{B t} = e^{-alpha t} I + conv(alpha, beta)(t) (B + alpha I),

where all entries of B + alpha I are >= 0, so every term of the solution is a sum of
non-negative numbers. An input kernel g(s) (first-order absorption ka e^{-ka s},
constant rate 1) convolves into conv(alpha, g) I + conv(alpha, beta, g) (B + alpha I).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax.numpy as jnp

from popkin.errors import ModelError
from popkin.pk.model import Model, register

_TAYLOR_BELOW = 0.02  # Psi_2 uses its Taylor series when the spread u_2 is below this
_TAYLOR_TERMS = 7     # degrees 0..6: remainder < 1e-16 relative for u_2 < 0.02


def _h(x):
    """h(x) = (1 - e^{-x}) / x, h(0) = 1; finite value and gradient for all x >= 0."""
    small = jnp.abs(x) < 1e-3
    xs = jnp.where(small, 1.0, x)  # double where: the unused branch sees a safe input
    xt = jnp.where(small, x, 0.0)
    taylor = 1.0 - xt / 2 * (1.0 - xt / 3 * (1.0 - xt / 4 * (1.0 - xt / 5)))
    return jnp.where(small, taylor, -jnp.expm1(-xs) / xs)


def _psi2(u1, u2):
    """Psi_2(u1, u2) = (h(u1) - e^{-u1} h(u2 - u1)) / u2 for 0 <= u1 <= u2.

    The quotient loses about 2/u2 ulps, so below u2 = 0.02 the Taylor series
    sum_j (-1)^j H_j(u1, u2) / (j+2)!, H_j = sum_i u1^i u2^(j-i), is used instead."""
    small = u2 < _TAYLOR_BELOW
    a, b = jnp.where(small, u1, 0.0), jnp.where(small, u2, 0.0)
    hj, bj, taylor = jnp.ones_like(b), jnp.ones_like(b), 0.5
    for j in range(1, _TAYLOR_TERMS):
        bj = bj * b
        hj = a * hj + bj  # H_j = u1 H_{j-1} + u2^j
        taylor = taylor + (-1) ** j / math.factorial(j + 2) * hj
    a, b = jnp.where(small, _TAYLOR_BELOW, u1), jnp.where(small, 2 * _TAYLOR_BELOW, u2)
    return jnp.where(small, taylor, (_h(a) - jnp.exp(-a) * _h(b - a)) / b)


def _conv2(t, a, b):
    """(e^{-a .} * e^{-b .})(t) = (e^{-a t} - e^{-b t}) / (b - a); t e^{-a t} at a == b.

    The smaller rate is chosen with ``where`` (not min/abs): at a == b the gradient is
    then that of one smooth branch, which is the true derivative (min and abs would
    drop part of it)."""
    a_first = a <= b
    lo, gap = jnp.where(a_first, a, b), jnp.where(a_first, b - a, a - b)
    return jnp.exp(-lo * t) * t * _h(gap * t)


def _conv3_sorted(t, lo, mid, hi):
    """(e^{-lo .} * e^{-mid .} * e^{-hi .})(t) for lo <= mid <= hi."""
    return t * t * jnp.exp(-lo * t) * _psi2((mid - lo) * t, (hi - lo) * t)


def _sort3(a, b, c):
    """a, b, c in increasing order, chosen by comparisons and ``where`` so that all
    three outputs follow one consistent permutation (exact gradients at ties)."""
    a, b = jnp.where(a <= b, a, b), jnp.where(a <= b, b, a)
    b, c = jnp.where(b <= c, b, c), jnp.where(b <= c, c, b)
    a, b = jnp.where(a <= b, a, b), jnp.where(a <= b, b, a)
    return a, b, c


def conv(t, *rates):
    """(e^{-r0 .} * e^{-r1 .} [* e^{-r2 .}])(t) for rates >= 0 and t >= 0, exact and stable.

    conv(t, r) = e^{-r t}; conv(t, a, b) = (e^{-a t} - e^{-b t}) / (b - a), = t e^{-a t}
    at a == b; conv(t, r, 0) = (1 - e^{-r t}) / r; three rates: the second divided
    difference of l -> e^{-l t}.
    """
    if len(rates) == 1:
        return jnp.exp(-rates[0] * t)
    if len(rates) == 2:
        return _conv2(t, *rates)
    if len(rates) == 3:
        return _conv3_sorted(t, *_sort3(*rates))
    raise ValueError("conv takes one to three rates")


def _safe_div(a, b):
    ok = b != 0
    return jnp.where(ok, a / jnp.where(ok, b, 1.0), 0.0)


SENSITIVITIES = ("forward", "reverse")


@dataclass(frozen=True)
class ClosedForm(Model):
    """What the closed forms share: ``sensitivities``, how a population fit gets the
    gradient of the log density (``popkin.pk.engine.predict_population``):

    ``"forward"`` (default): each subject's predictions and their Jacobian with respect
        to its k parameters from one forward-mode pass over the records (k tangents),
        and the backward pass g -> g J per subject, as ``ODEOptions(sensitivities=
        "forward")`` does for ODE models. Used when every parameter is constant within
        a subject (otherwise reverse mode). Measured on the 2-core development machine,
        one log density + gradient inside a compiled loop, float64: theophylline (1-cpt
        oral, k = 3) 35 us against 65 us in reverse mode; 100 subjects, 2-cpt oral BID
        (k = 5), 1.57 ms against 3.16 ms (rich) and 0.94 against 1.53 ms (sparse).
    ``"reverse"``: reverse mode through the records' ``lax.scan``.

    Both give the same gradient (``tests/pk/test_forward_sensitivities.py``). Forward
    sensitivities are a reverse-mode rule only; ``jax.jvp``/``jacfwd`` of the
    predictions need ``"reverse"`` (``popkin.pk.engine._forward_mode`` switches it).
    """

    sensitivities: str = field(default="forward", kw_only=True)

    def __post_init__(self):
        if self.sensitivities not in SENSITIVITIES:
            raise ModelError(f'{type(self).__name__}: sensitivities must be "forward" or "reverse", '
                             f"got {self.sensitivities!r}")


@dataclass(frozen=True)
class OneCompartment(ClosedForm):
    """One compartment, linear elimination: CL (L/h), V (L)[, KA (1/h)].

    Oral (``oral=True``): CMT 1 = depot, CMT 2 = central; IV: CMT 1 = central.
    Concentration = central amount / V (or / S<n> when given), e.g. mg/L.
    """

    oral: bool = True

    @property
    def name(self):
        return "1cmt-oral" if self.oral else "1cmt-iv"

    @property
    def compartments(self):
        return ("depot", "central") if self.oral else ("central",)

    @property
    def parameters(self):
        return ("CL", "V", "KA") if self.oral else ("CL", "V")

    @property
    def observed(self):
        return 1 if self.oral else 0

    linear = True

    def advance(self, x, rate, dt, p):
        k = _safe_div(p["CL"], p["V"])
        if not self.oral:
            return jnp.stack([x[0] * jnp.exp(-k * dt) + rate[0] * dt * _h(k * dt)])
        ka = p["KA"]
        e_k, e_ka = jnp.exp(-k * dt), jnp.exp(-ka * dt)
        i_k, i_ka = dt * _h(k * dt), dt * _h(ka * dt)      # conv(k, 0), conv(ka, 0)
        c_kka = _conv2(dt, k, ka)
        depot = x[0] * e_ka + rate[0] * i_ka
        # depot infusion into central: ka conv(k, ka, 0) = conv(k, 0) - conv(k, ka)
        central = x[1] * e_k + rate[1] * i_k + ka * x[0] * c_kka + rate[0] * (i_k - c_kka)
        return jnp.stack([depot, central])

    def concentration(self, x, p):
        return x[self.observed] / self.scale(p, p["V"])


@dataclass(frozen=True)
class TwoCompartment(ClosedForm):
    """Two compartments, linear elimination: CL, Q (L/h), V1, V2 (L)[, KA (1/h)].

    Oral: CMT 1 = depot, 2 = central, 3 = peripheral; IV: 1 = central, 2 = peripheral.
    ``V`` is accepted for ``V1``. Concentration = central amount / V1 (or / S<n>).
    """

    oral: bool = True
    aliases = (("V", "V1"),)

    @property
    def name(self):
        return "2cmt-oral" if self.oral else "2cmt-iv"

    @property
    def compartments(self):
        return ("depot", "central", "peripheral") if self.oral else ("central", "peripheral")

    @property
    def parameters(self):
        return ("CL", "V1", "Q", "V2", "KA") if self.oral else ("CL", "V1", "Q", "V2")

    @property
    def observed(self):
        return 1 if self.oral else 0

    linear = True

    def advance(self, x, rate, dt, p):
        k10 = _safe_div(p["CL"], p["V1"])
        k12 = _safe_div(p["Q"], p["V1"])
        k21 = _safe_div(p["Q"], p["V2"])
        # alpha - k21 = (root + d)/2 and alpha - k10 - k12 = (root - d)/2 with d = k10 + k12 - k21,
        # root = sqrt(d^2 + 4 k12 k21); their product is k12 k21, so compute the larger one
        # directly and the smaller one as a quotient: no cancellation.
        d = k10 + k12 - k21
        disc = d * d + 4.0 * k12 * k21
        root = jnp.sqrt(jnp.where(disc > 0, disc, 1.0)) * (disc > 0)
        d_pos = d >= 0
        big = (root + jnp.where(d_pos, d, -d)) / 2   # where, not abs: exact gradient at d = 0
        small = _safe_div(k12 * k21, big)
        plus, minus = jnp.where(d_pos, big, small), jnp.where(d_pos, small, big)
        alpha = k21 + plus
        beta = _safe_div(k10 * k21, alpha)
        m = jnp.array([[minus, k21], [k12, plus]])  # B + alpha I, entries >= 0

        # e^{B t} = e^{-alpha t} I + conv(alpha, beta) M, convolved with the input kernels
        e_a, c_ab = jnp.exp(-alpha * dt), _conv2(dt, alpha, beta)
        i_a, i_ab = dt * _h(alpha * dt), _conv3_sorted(dt, 0.0, beta, alpha)     # kernel 1
        off = 1 if self.oral else 0
        y, r = x[off:off + 2], rate[off:off + 2]
        free = e_a * y + c_ab * (m @ y) + i_a * r + i_ab * (m @ r)
        if not self.oral:
            return free
        ka = p["KA"]
        c_aka = _conv2(dt, alpha, ka)                                            # kernel e^{-ka s}
        c_abka = _conv3_sorted(dt, *_sort3(beta, alpha, ka))
        # depot bolus: ka x0 e^{-ka s} into central; depot infusion r0: r0 (1 - e^{-ka s})
        # into central, i.e. ka conv(., ka, 0) = conv(., 0) - conv(., ka)
        zero = jnp.zeros_like(c_aka)
        d0 = jnp.stack([c_aka, zero]) + c_abka * m[:, 0]                  # per unit ka x0
        d1 = jnp.stack([i_a - c_aka, zero]) + (i_ab - c_abka) * m[:, 0]   # per unit r0
        y_new = free + ka * x[0] * d0 + rate[0] * d1
        depot = x[0] * jnp.exp(-ka * dt) + rate[0] * dt * _h(ka * dt)
        return jnp.concatenate([depot[None], y_new])

    def concentration(self, x, p):
        return x[self.observed] / self.scale(p, p["V1"])


register("1cmt-iv", lambda: OneCompartment(oral=False),
         "one compartment, IV bolus/infusion into CMT 1 (central): CL, V")
register("1cmt-oral", lambda: OneCompartment(oral=True),
         "one compartment, first-order absorption: CMT 1 depot, CMT 2 central; CL, V, KA")
register("2cmt-iv", lambda: TwoCompartment(oral=False),
         "two compartments, IV into CMT 1 (central), CMT 2 peripheral: CL, V1, Q, V2")
register("2cmt-oral", lambda: TwoCompartment(oral=True),
         "two compartments, first-order absorption: CMT 1 depot, 2 central, 3 peripheral;"
         " CL, V1, Q, V2, KA")

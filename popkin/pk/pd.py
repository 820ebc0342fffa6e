"""Pharmacodynamic models driven by a PK model's concentration.

A PK/PD model is a structural model whose state is the PK amounts followed by the PD
states, integrated together with diffrax, so the event engine (doses, lags, infusions,
resets, steady state) applies unchanged. Build one from a PK model and a PD component::

    model = PKPDModel(get_model("1cmt-oral"), IndirectResponse(1))   # warfarin-like

The PK part of the joint right-hand side is the PK model's ``rhs(x, p)`` when it has one
(the ODE models of ``popkin.pk.ode_models`` do); PK and PD states are then integrated
together. A closed-form PK model (no ``rhs``) is not integrated at all: over each
interval its amounts are ``advance``d exactly, and diffrax integrates only the PD states,
driven by the exact concentration ``C(s) = concentration(advance(x_pk, rate, s))`` at
the time s since the interval's start (Torsten's "coupled" solver does the same). This
is cheaper (fewer states) and, above all, not stiff when absorption is fast: a large KA
next to a slow turnover (KOUT ~ 0.05/h) forces an explicit solver of the joint system
into steps of ~1/KA over the whole interval, while the PD state alone has only the
slow rates. (``rhs`` of a PKPDModel, used by callers that want the joint field, still
differentiates a linear PK model: its generator matrix K, dx/dt = K x, is the time
derivative of ``advance`` at dt = 0.)

Compartments (NONMEM CMT order) are the PK compartments then the PD state, e.g.
``depot`` (1), ``central`` (2), ``response`` (3). An observation record selects its
output by CMT: a CMT of a PK compartment gives the PK prediction, the CMT of the PD
state gives the effect or response (``observe``).

The drug concentration C that drives the PD model is the PK model's ``concentration``
(so EC50, IC50 and Ce are in the units of the observed concentration, including any
``S<n>`` scale). Units: time in h, rate constants in 1/h, KIN in response units/h.

PD components (Gabrielsson & Weiner, Pharmacokinetic and Pharmacodynamic Data Analysis,
5th ed.; Dayneka, Garg & Jusko, J Pharmacokinet Biopharm 1993;21:457 for I-IV):

``DirectEffect(Emax(sigmoid))``  E = E0 + EMAX * C^HILL / (EC50^HILL + C^HILL)
``EffectCompartment(Emax())``    dCe/dt = KE0 (C - Ce); E = Emax(Ce) (or Ce itself)
``IndirectResponse(1)``          dR/dt = KIN (1 - IMAX C/(IC50 + C)) - KOUT R
``IndirectResponse(2)``          dR/dt = KIN - KOUT (1 - IMAX C/(IC50 + C)) R
``IndirectResponse(3)``          dR/dt = KIN (1 + EMAX C/(EC50 + C)) - KOUT R
``IndirectResponse(4)``          dR/dt = KIN - KOUT (1 + EMAX C/(EC50 + C)) R

with R(0) = R0 = KIN/KOUT (the baseline, restored by a reset), and C^HILL in place of C
(IC50^HILL, EC50^HILL) when ``hill=True``. A negative EMAX in ``Emax`` gives an
inhibitory direct effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from popkin.errors import ModelError
from popkin.pk.model import Model, register
from popkin.pk.ode import ODEOptions, integrate

__all__ = ["Emax", "DirectEffect", "EffectCompartment", "IndirectResponse", "PKPDModel"]


def _hill(c, h):
    """C^h for C >= 0, 0 for C <= 0, with finite gradients at C = 0 (C slightly below
    zero can come out of an ODE solve of an emptying compartment)."""
    pos = c > 0
    safe = jnp.where(pos, c, 1.0)
    return jnp.where(pos, safe**h, 0.0)


@dataclass(frozen=True)
class Emax:
    """Emax model: E = E0 + EMAX * C / (EC50 + C); ``sigmoid=True`` adds HILL:
    E = E0 + EMAX * C^HILL / (EC50^HILL + C^HILL). E0 and EMAX in effect units, EC50 in
    concentration units, HILL dimensionless."""

    sigmoid: bool = False

    @property
    def parameters(self) -> tuple[str, ...]:
        return ("E0", "EMAX", "EC50") + (("HILL",) if self.sigmoid else ())

    def __call__(self, c, p):
        if self.sigmoid:
            ch = _hill(c, p["HILL"])
            return p["E0"] + p["EMAX"] * ch / (_hill(p["EC50"], p["HILL"]) + ch)
        return p["E0"] + p["EMAX"] * c / (p["EC50"] + c)


@dataclass(frozen=True)
class DirectEffect:
    """Effect as an immediate function of the concentration (no delay).

    Its state ``effect`` carries no dynamics (it stays 0); observing its CMT returns
    ``emax(C)``. The PK model's own ``advance`` (closed form or ODE) is used unchanged.
    """

    emax: Emax = field(default_factory=Emax)
    states = ("effect",)
    dynamic = False
    linear = True

    @property
    def tag(self) -> str:
        return "sigmoid-emax" if self.emax.sigmoid else "emax"

    @property
    def parameters(self) -> tuple[str, ...]:
        return self.emax.parameters

    def start(self, p):
        return jnp.zeros(1)

    def rhs(self, c, y, p):
        return jnp.zeros_like(y)

    def output(self, c, y, p):
        return self.emax(c, p)


@dataclass(frozen=True)
class EffectCompartment:
    """Effect-compartment (biophase) delay: dCe/dt = KE0 (C - Ce), KE0 in 1/h.

    The state ``effect`` is Ce (concentration units); observing it returns ``emax(Ce)``,
    or Ce itself when ``emax`` is None. Linear in the PK state, so with a linear PK
    model the whole model stays linear (steady state by linear algebra).
    """

    emax: Emax | None = field(default_factory=Emax)
    states = ("effect",)
    dynamic = True
    linear = True

    @property
    def tag(self) -> str:
        if self.emax is None:
            return "ke0"
        return "ke0-sigmoid-emax" if self.emax.sigmoid else "ke0-emax"

    @property
    def parameters(self) -> tuple[str, ...]:
        return ("KE0",) + (self.emax.parameters if self.emax is not None else ())

    def start(self, p):
        return jnp.zeros(1)

    def rhs(self, c, y, p):
        return p["KE0"] * (c - y)

    def output(self, c, y, p):
        return y[0] if self.emax is None else self.emax(y[0], p)


@dataclass(frozen=True)
class IndirectResponse:
    """Indirect response (turnover) model I-IV of Dayneka, Garg & Jusko (1993).

    kind 1: drug inhibits KIN; 2: inhibits KOUT; 3: stimulates KIN; 4: stimulates KOUT.
    KIN (response units/h), KOUT (1/h); inhibition IMAX (0..1), IC50; stimulation EMAX,
    EC50 (concentration units); ``hill=True`` adds HILL. The state ``response`` is R,
    starting at R0 = KIN/KOUT.
    """

    kind: int = 1
    hill: bool = False
    states = ("response",)
    dynamic = True
    linear = False

    def __post_init__(self):
        if self.kind not in (1, 2, 3, 4):
            raise ModelError(f"IndirectResponse: kind must be 1, 2, 3 or 4, got {self.kind}")

    @property
    def tag(self) -> str:
        return f"idr{self.kind}" + ("-hill" if self.hill else "")

    @property
    def parameters(self) -> tuple[str, ...]:
        drug = ("IMAX", "IC50") if self.kind in (1, 2) else ("EMAX", "EC50")
        return ("KIN", "KOUT") + drug + (("HILL",) if self.hill else ())

    def start(self, p):
        return jnp.reshape(p["KIN"] / p["KOUT"], (1,))

    def drug_effect(self, c, p):
        """The fractional inhibition (kinds 1, 2) or stimulation (3, 4) at C."""
        cap, c50 = (p["IMAX"], p["IC50"]) if self.kind in (1, 2) else (p["EMAX"], p["EC50"])
        if self.hill:
            ch = _hill(c, p["HILL"])
            return cap * ch / (_hill(c50, p["HILL"]) + ch)
        return cap * c / (c50 + c)

    def rhs(self, c, y, p):
        e = self.drug_effect(c, p)
        kin, kout = p["KIN"], p["KOUT"]
        if self.kind == 1:
            return kin * (1.0 - e) - kout * y
        if self.kind == 2:
            return kin - kout * (1.0 - e) * y
        if self.kind == 3:
            return kin * (1.0 + e) - kout * y
        return kin - kout * (1.0 + e) * y

    def output(self, c, y, p):
        return y[0]


@dataclass(frozen=True)
class PKPDModel(Model):
    """A PK model and a PD component integrated together.

    pk: a structural PK model: one exposing ``rhs(x, p)``, or any linear one (its
        generator matrix is taken from ``advance``). A ``DirectEffect`` needs neither:
        it uses the PK model's own ``advance``.
    pd: ``DirectEffect``, ``EffectCompartment`` or ``IndirectResponse``.
    options: how the joint ODE is integrated (``ODEOptions``); by default the PK
        model's options when it has them.
    """

    pk: Model
    pd: object
    options: ODEOptions | None = None

    def __post_init__(self):
        clash = set(self.pk.parameters) & set(self.pd.parameters)
        if clash:
            raise ModelError(f"PK and PD parameters share the name(s) {', '.join(sorted(clash))}; "
                             "rename one side (e.g. write the PK model with ODEModel)")
        if self.pd.dynamic and not (self._pk_has_rhs or self.pk.linear):
            raise ModelError(f"PK model {getattr(self.pk, 'name', type(self.pk).__name__)} is nonlinear and "
                             "does not expose rhs(x, p), which a PD model with its own dynamics needs; "
                             "write it with ODEModel")
        if self.options is None:
            object.__setattr__(self, "options", getattr(self.pk, "options", None) or ODEOptions())

    @property
    def name(self) -> str:
        return f"{getattr(self.pk, 'name', type(self.pk).__name__)}-{self.pd.tag}"

    @property
    def _pk_has_rhs(self) -> bool:
        return callable(getattr(self.pk, "rhs", None))

    @property
    def n_pk(self) -> int:
        return len(self.pk.compartments)

    @property
    def compartments(self) -> tuple[str, ...]:
        return tuple(self.pk.compartments) + tuple(self.pd.states)

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.pk.parameters) + tuple(self.pd.parameters)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(getattr(self.pk, "optional", ()))

    @property
    def aliases(self) -> tuple[tuple[str, str], ...]:
        return tuple(getattr(self.pk, "aliases", ()))

    @property
    def observed(self) -> int:
        return self.pk.observed

    @property
    def linear(self) -> bool:
        return bool(self.pk.linear and self.pd.linear)

    def concentration(self, x, p):
        """The PK concentration (drives the PD model)."""
        return self.pk.concentration(x[:self.n_pk], p)

    def rhs(self, x, p):
        """d[PK amounts, PD states]/dt without dose inputs."""
        return self._joint_rhs(x, (p, None if self._pk_has_rhs else generator(self.pk, p)))

    def _joint_rhs(self, x, args):
        p, k = args
        n = self.n_pk
        pk = x[:n]
        c = self.pk.concentration(pk, p)
        dpk = self.pk.rhs(pk, p) if k is None else k @ pk
        return jnp.concatenate([dpk, self.pd.rhs(c, x[n:], p)])

    def advance(self, x, rate, dt, p):
        """PK and PD states after ``dt`` (h) with constant inputs ``rate``."""
        if not self.pd.dynamic:
            n = self.n_pk
            return jnp.concatenate([self.pk.advance(x[:n], rate[:n], dt, p), x[n:]])
        if self._pk_has_rhs:
            return integrate(self._joint_rhs, x, rate, dt, (p, None), self.options)
        # closed-form PK: exact PK amounts, diffrax for the PD states only (module docstring)
        n = self.n_pk
        x_pk, r_pk = x[:n], rate[:n]
        pd_states = integrate(self._driven_pd_rhs, x[n:], rate[n:], dt, (p, x_pk, r_pk), self.options, timed=True)
        return jnp.concatenate([self.pk.advance(x_pk, r_pk, dt, p), pd_states])

    def _driven_pd_rhs(self, s, y, args):
        """d(PD states)/dt at time s of the interval, the PK amounts in closed form."""
        p, x_pk, r_pk = args
        return self.pd.rhs(self.pk.concentration(self.pk.advance(x_pk, r_pk, s, p), p), y, p)

    def observe(self, x, p, cmt):
        """PK prediction for a PK CMT, the PD output for the PD state's CMT."""
        n = self.n_pk
        pk_out = getattr(self.pk, "observe", None)
        pk_out = pk_out(x[:n], p, cmt) if pk_out is not None else self.pk.concentration(x[:n], p)
        pd_out = self.pd.output(self.pk.concentration(x[:n], p), x[n:], p)
        return jnp.where(jnp.asarray(cmt) > n, pd_out, pk_out)

    def initial(self, p):
        """PK amounts zero (or the PK model's start), PD states at baseline."""
        pk0 = getattr(self.pk, "initial", None)
        pk0 = jnp.asarray(pk0(p)) if pk0 is not None else jnp.zeros(self.n_pk)
        return jnp.concatenate([pk0, jnp.asarray(self.pd.start(p), dtype=pk0.dtype)])


def generator(pk, p):
    """The matrix K of a linear PK model (dx/dt = K x between doses), as the derivative
    of ``pk.advance(x, 0, dt, p)`` at dt = 0 for each unit vector x (one ``jax.jvp``)."""
    n = len(pk.compartments)
    eye = jnp.eye(n)
    zero = jnp.zeros(n)

    def columns(dt):
        return jax.vmap(lambda e: pk.advance(e, zero, dt, p))(eye)  # row i = advance(e_i)

    dt0 = jnp.zeros(())
    _, d = jax.jvp(columns, (dt0,), (jnp.ones_like(dt0),))
    return d.T


# ------------------------------------------------------------------ registry
_PD = {
    "emax": (lambda: DirectEffect(Emax()), "direct Emax effect (E0, EMAX, EC50)"),
    "ke0-emax": (lambda: EffectCompartment(Emax()), "effect compartment (KE0) with Emax (E0, EMAX, EC50)"),
    "idr1": (lambda: IndirectResponse(1), "indirect response I, inhibition of KIN (KIN, KOUT, IMAX, IC50)"),
    "idr2": (lambda: IndirectResponse(2), "indirect response II, inhibition of KOUT (KIN, KOUT, IMAX, IC50)"),
    "idr3": (lambda: IndirectResponse(3), "indirect response III, stimulation of KIN (KIN, KOUT, EMAX, EC50)"),
    "idr4": (lambda: IndirectResponse(4), "indirect response IV, stimulation of KOUT (KIN, KOUT, EMAX, EC50)"),
}


def _register_builtins() -> None:
    from popkin.pk.model import get_model

    for pk_name, n_pk in (("1cmt-iv", 1), ("1cmt-oral", 2), ("2cmt-iv", 2), ("2cmt-oral", 3)):
        for tag, (make_pd, what) in _PD.items():
            def factory(pk_name=pk_name, make_pd=make_pd):
                return PKPDModel(get_model(pk_name), make_pd())
            register(f"{pk_name}-{tag}", factory,
                     f"{pk_name} PK (closed form) + {what}; PD output on CMT {n_pk + 1}")


_register_builtins()

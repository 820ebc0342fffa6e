"""Structural models defined by ordinary differential equations, solved with diffrax.

An ODE model gives the right-hand side of its compartment equations *without* the dose
inputs, as NONMEM's ``$DES`` block does::

    rhs(x, p) -> dx/dt        x: amounts [n_cmt]; p: parameter name -> scalar

The event engine (``popkin.pk.engine``) handles doses, lags, bioavailability, infusions,
resets and steady state exactly as for closed-form models; between two events it calls
``advance(x, rate, dt, p)``, which integrates ``dx/dt = rhs(x, p) + rate`` over
``[0, dt]`` with diffrax, the zero-order inputs ``rate`` (amount/h) being constant over
the interval. The right-hand side is autonomous on purpose: ``advance`` only sees the
time since the last event, so a ``t`` argument would be that local time, a trap for
anyone writing a circadian or time-varying model. Time-varying quantities enter through
the parameters, which the engine sets per record (piecewise constant, as NONMEM does).

Write your own model with ``ODEModel``; the built-in compartment models (one and two
compartments, IV or oral, linear, Michaelis-Menten or parallel elimination, transit
absorption) live in ``popkin.pk.ode_models`` and are registered under names such as
``"1cmt-oral-mm"`` (see ``popkin.pk.model.available_models``).

Example (one compartment, Michaelis-Menten elimination, IV)::

    def rhs(x, p):
        c = x[0] / p["V"]
        return jnp.array([-p["VM"] * c / (p["KM"] + c)])

    model = ODEModel(rhs, compartments=("central",), parameters=("VM", "KM", "V"),
                     observed=0, concentration=lambda x, p: x[0] / p["V"])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import diffrax
import equinox as eqx
import jax.numpy as jnp

from popkin.errors import ModelError
from popkin.pk.model import Model

__all__ = ["ODEOptions", "ODEModel", "ODEMixin", "integrate", "ode_options"]


@dataclass(frozen=True)
class ODEOptions:
    """How an ODE model is integrated between two events.

    solver: a diffrax solver. ``diffrax.Tsit5()`` (explicit, order 5) suits PK models;
        for stiff systems (fast absorption or distribution next to slow elimination,
        turnover models with very different rates) use ``diffrax.Kvaerno5()``.
    rtol, atol: relative and absolute error tolerances of the adaptive step-size
        controller (``diffrax.PIDController``); atol is in the units of the state
        (amounts, or response units for PD states). A requested rtol below 100 machine
        epsilons of the working precision is raised to that floor (float64: 2.2e-14,
        float32: 1.2e-5), because no step could ever meet it; so the float64 defaults
        become rtol = 1.2e-5 on a float32 GPU run rather than a failure.
    max_steps: the most steps one inter-event interval may take. Keep it as small as
        works: reverse-mode gradients (``RecursiveCheckpointAdjoint``) store checkpoints
        in proportion to it. When an interval needs more, the solve fails with the
        message "increase max_steps or use a stiff solver".
    adjoint: how gradients are computed. ``diffrax.RecursiveCheckpointAdjoint()``
        (default) differentiates through the solver in reverse mode (``jax.grad``);
        use ``diffrax.ForwardMode()`` for ``jax.jacfwd`` / forward-mode Hessians.
    throw: True raises a runtime error with the advice above when the solver fails;
        False returns NaN amounts instead, so that a sampler or optimiser rejects the
        parameter values rather than stopping the whole run.
    sensitivities: how a population fit gets the gradient of the log density.
        ``"reverse"`` (default): reverse mode through the solver, with ``adjoint``.
        ``"forward"``: forward sensitivities, as Stan's and NONMEM's ODE solvers
        compute them: each subject's predictions and their Jacobian with respect to its
        k parameters come from one forward-mode solve (k tangents), and the backward
        pass multiplies by that Jacobian (``popkin.pk.engine.predict_population``). The
        cost grows with k and does not store checkpoints: it pays off with few
        parameters and states (LXI-15029 1-cpt MM + linear, 2 states, k = 6: 0.18
        against 0.28 s per gradient, compile 4 against 8 s) and loses with many (the
        auto-inhibition model, 3 states, k = 12: 0.52 against 0.21 s); measure
        (docs/ode-and-pd.md). Not for ``jax.jvp``/``jacfwd`` of the predictions
        (reverse-only rule; Laplace switches it off itself). Applies when
        every parameter is constant within a subject; with per-record parameters
        (IOV, time-varying covariates) the reverse path is used.
    """

    solver: Any = field(default_factory=diffrax.Tsit5)
    rtol: float = 1e-8
    atol: float = 1e-10
    max_steps: int = 4096
    adjoint: Any = field(default_factory=diffrax.RecursiveCheckpointAdjoint)
    throw: bool = True
    sensitivities: str = "reverse"

    def __post_init__(self):
        if self.sensitivities not in ("reverse", "forward"):
            raise ModelError(f'ODEOptions: sensitivities must be "reverse" or "forward", got {self.sensitivities!r}')
        if not (self.rtol > 0 and self.atol > 0):
            raise ModelError(f"ODEOptions: rtol and atol must be > 0, got rtol={self.rtol}, atol={self.atol}")
        if int(self.max_steps) < 1:
            raise ModelError(f"ODEOptions: max_steps must be a positive integer, got {self.max_steps}")


def replace_ode_options(model, change, closed_form=None):
    """``model`` with every ``ODEOptions`` it holds replaced by ``change(options)``
    (models holding models, e.g. a PK/PD model's PD part, are searched field by field)
    and, when ``closed_form`` is given, every closed-form part (``popkin.pk.closed_form.
    ClosedForm``) by ``closed_form(part)``; other values are returned as they are."""
    import dataclasses

    from popkin.pk.closed_form import ClosedForm

    if not dataclasses.is_dataclass(model) or isinstance(model, type):
        return model
    if isinstance(model, ClosedForm):
        return model if closed_form is None else closed_form(model)
    changes = {}
    for f in dataclasses.fields(model):
        if not f.init:
            continue
        value = getattr(model, f.name)
        if isinstance(value, ODEOptions):
            new = change(value)
            if new is not value:  # unchanged options (ode_options' collecting) rebuild nothing
                changes[f.name] = new
        elif hasattr(value, "advance") and dataclasses.is_dataclass(value):
            new = replace_ode_options(value, change, closed_form)
            if new is not value:
                changes[f.name] = new
    return dataclasses.replace(model, **changes) if changes else model


def gradient_parts(model) -> list:
    """The parts of a structural model that say how its gradient is taken (each carries
    ``sensitivities``): every ``ODEOptions`` it holds and every closed-form part, searched
    as by ``replace_ode_options``."""
    found = []

    def collect(part):
        found.append(part)
        return part

    replace_ode_options(model, collect, collect)
    return found


def ode_options(model) -> list[ODEOptions]:
    """Every ``ODEOptions`` a structural model holds; empty for closed forms."""
    return [p for p in gradient_parts(model) if isinstance(p, ODEOptions)]


def _max_steps_message(max_steps: int) -> str:
    return (f"ODE solver reached max_steps={max_steps} within one inter-event interval: increase "
            "max_steps or use a stiff solver, e.g. ODEOptions(max_steps=..., solver=diffrax.Kvaerno5()); "
            "also check the parameter values for extreme rate constants.")


_FAILED_MSG = (
    "ODE solver failed within one inter-event interval (step size collapsed or the state "
    "became non-finite): use a stiff solver (ODEOptions(solver=diffrax.Kvaerno5())) or increase "
    "max_steps, and check the parameter values."
)


class _Field(eqx.Module):
    """The vector field diffrax integrates: dx/dt = rhs(x, p) + rate, or
    rhs(t, x, p) + rate with ``timed`` (t: the time since the interval's start)."""

    rhs: Callable = eqx.field(static=True)
    timed: bool = eqx.field(static=True, default=False)

    def __call__(self, t, x, args):
        p, rate = args
        return (self.rhs(t, x, p) if self.timed else self.rhs(x, p)) + rate


def integrate(rhs: Callable, x, rate, dt, p, options: ODEOptions, timed: bool = False):
    """Amounts after ``dt`` (h) of ``dx/dt = rhs(x, p) + rate`` from ``x``.

    ``dt == 0`` takes no solver step (diffrax skips its loop when t0 == t1) and returns
    ``x`` with finite gradients. Works under ``jit``, ``vmap`` and ``grad``.
    ``timed=True``: ``rhs(t, x, p)`` with t the time since the interval's start (for
    engine-internal fields driven by a known input, e.g. a closed-form PK driving a PD
    state; user models stay autonomous, see the module docstring).
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(float)
    rate = jnp.asarray(rate, dtype=x.dtype)
    dt = jnp.asarray(dt, dtype=x.dtype)
    floor = 100.0 * float(jnp.finfo(x.dtype).eps)
    controller = diffrax.PIDController(rtol=max(options.rtol, floor), atol=options.atol)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_Field(rhs, timed)), options.solver, t0=jnp.zeros_like(dt), t1=dt, dt0=None,
        y0=x, args=(p, rate), saveat=diffrax.SaveAt(t1=True), stepsize_controller=controller,
        max_steps=int(options.max_steps), adjoint=options.adjoint, throw=False,
    )
    x_new = sol.ys[0]
    ok = sol.result == diffrax.RESULTS.successful
    if options.throw:
        which = jnp.where(sol.result == diffrax.RESULTS.max_steps_reached, 0, 1)
        msgs = (_max_steps_message(int(options.max_steps)), _FAILED_MSG)
        return eqx.branched_error_if(x_new, ~ok, which, msgs)
    return jnp.where(ok, x_new, jnp.nan)


class ODEMixin:
    """``advance`` for models that define ``rhs(x, p)`` and carry an ``options`` field."""

    linear: bool = False

    def advance(self, x, rate, dt, p):
        """Amounts after ``dt`` (h) with constant inputs ``rate`` (amount/h), by diffrax."""
        return integrate(self.rhs, x, rate, dt, p, self.options)


@dataclass(frozen=True)
class ODEModel(ODEMixin, Model):
    """A structural model from a user-written right-hand side.

    rhs: ``rhs(x, p) -> dx/dt``, the compartment equations without dose inputs (the
        integrator adds the infusion rates, as NONMEM adds them to ``DADT``); x in
        amounts, dx/dt in amount/h.
    compartments: names, index 0 = NONMEM ``CMT = 1`` (doses and observations use it).
    parameters: the required parameter names (p keys), NONMEM spelling.
    observed: 0-based index of the compartment ``concentration`` reads.
    concentration: ``concentration(x, p) -> scalar``, the PK prediction (e.g.
        ``x[1] / p["V"]``).
    output: optional ``output(x, p, cmt) -> scalar`` for observation records by their
        1-based CMT (multi-output models, e.g. PK on CMT 2 and a response on CMT 3,
        chosen with ``jnp.where``); default: ``concentration`` on every record.
    start: optional ``start(p) -> x0``, the state at time zero and after a reset
        (e.g. a baseline response KIN/KOUT); default zeros. A non-zero start requires
        ``linear=False``.
    options: how to integrate (``ODEOptions``).
    linear: declare True only when ``rhs`` is linear in ``x`` with no constant term;
        the engine then computes steady state by linear algebra.
    name: shown in messages.
    """

    rhs: Callable
    compartments: tuple[str, ...]
    parameters: tuple[str, ...]
    observed: int
    concentration: Callable
    output: Callable | None = None
    start: Callable | None = None
    options: ODEOptions = field(default_factory=ODEOptions)
    linear: bool = False
    name: str = "ode-model"

    def __post_init__(self):
        object.__setattr__(self, "compartments", tuple(self.compartments))
        object.__setattr__(self, "parameters", tuple(self.parameters))
        if not 0 <= int(self.observed) < len(self.compartments):
            raise ModelError(f"ODEModel: observed={self.observed} is not a compartment index "
                             f"0..{len(self.compartments) - 1} of {self.compartments}")
        if self.linear and self.start is not None:
            raise ModelError("ODEModel: a model with a start state (baseline) cannot be linear=True")

    def observe(self, x, p, cmt):
        """Prediction for an observation record with 1-based ``cmt``."""
        if self.output is None:
            return self.concentration(x, p)
        return self.output(x, p, cmt)

    def initial(self, p):
        """State at time zero and after a reset: ``start(p)`` or zeros."""
        if self.start is None:
            return jnp.zeros(len(self.compartments))
        return jnp.asarray(self.start(p))


# Built-in models register themselves in the model registry on import. The import sits at
# the bottom because popkin.pk.ode_models builds on the classes above.
from popkin.pk import ode_models  # noqa: E402, F401

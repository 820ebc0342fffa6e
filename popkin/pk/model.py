"""The structural-model interface, parameter conventions and the model registry.

A *structural model* says how compartment amounts evolve between events. The event
engine (``popkin.pk.engine``) does everything else the NONMEM way: doses, lag times,
bioavailability, infusions, resets and steady state. A model is a small immutable
object (a frozen dataclass or an ``equinox.Module``; it should be hashable so it can be
closed over by ``jax.jit``) with:

``compartments``: tuple[str, ...]
    Compartment names; index 0 is NONMEM ``CMT = 1``. Oral one-compartment:
    ``("depot", "central")``; IV: ``("central",)``.
``parameters``: tuple[str, ...]
    The required parameter names, spelled as a pharmacometrician would (CL, V, KA;
    CL, V1, Q, V2, KA; VM, KM; ...).
``observed``: int
    0-based index of the compartment whose concentration ``concentration`` returns.
``linear``: bool
    True when ``advance`` is linear in ``(x, rate)`` jointly (zero state and zero input
    stay zero). The engine then solves steady state exactly by linear algebra; otherwise
    it iterates the one-interval map (see ``popkin.pk.engine``).
``advance(x, rate, dt, p) -> x_new``
    Amounts ``x`` [n_cmt] after a time ``dt >= 0`` (h) during which constant zero-order
    inputs ``rate`` [n_cmt] (amount/h) enter the compartments. ``p`` maps parameter names
    to scalars. Must return ``x`` unchanged for ``dt == 0`` and be differentiable in
    ``x``, ``rate``, ``dt`` and every parameter. The engine only ever passes finite
    ``dt >= 0``.
``concentration(x, p) -> scalar``
    The prediction for a PK observation, e.g. ``x[central] / V``.
``observe(x, p, cmt) -> scalar``
    The prediction for an observation record with (1-based, possibly traced) ``CMT``.
    PK models return ``concentration(x, p)`` whatever the CMT (NONMEM's $ERROR usually
    computes ``CP = A(2)/S2`` on every record); PK/PD models select the output with
    ``jnp.where`` on ``cmt`` (e.g. concentration for CMT 2, effect for CMT 3).
``initial(p) -> x0``
    Amounts at the start of the record and after every reset (NONMEM's ``A_0``);
    zeros for PK models. A model whose initial state is not zero must have
    ``linear = False``.
``dose_fraction(amt, cmt, p) -> factor`` (optional)
    A dose-dependent fraction of each dose record's AMT (arrays over records; ``cmt``
    0-based), multiplying F<n>: e.g. a bioavailability that rises with the dose.

Use ``Model`` below as a base class: it supplies ``observe``, ``initial``, ``n_cmt`` and
``optional`` defaults.

Parameter values (``p``) are scalars (one value per subject) or arrays ``[E]`` (one
value per record, as NONMEM evaluates $PK at every record). The engine applies them
as NONMEM does: the values of record ``j`` govern the interval that *ends* at record
``j``'s time; a dose uses the values of its own dose record for ``F<n>``, ``ALAG<n>``,
``R<n>`` and ``D<n>``.

Besides the model's own parameters, the engine understands, for every compartment
``n = 1..n_cmt`` (1-based, NONMEM spelling), these optional *dose modifiers*:

==========  ==========================================================  =========
name        meaning                                                     default
==========  ==========================================================  =========
``F<n>``    bioavailable fraction of doses into compartment n           1
``ALAG<n>`` lag time of doses into compartment n (h)                    0
``R<n>``    modelled infusion rate (amount/h) for records with RATE=-1  required
``D<n>``    modelled infusion duration (h) for records with RATE=-2     required
``S<n>``    scale: concentration = amount / S<n> for the observed        model's
            compartment n (e.g. ``S2 = V/1000`` for mg and ng/mL)       volume
==========  ==========================================================  =========
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Protocol, runtime_checkable

import jax.numpy as jnp

from popkin.errors import ModelError

DOSE_MODIFIERS = ("F", "ALAG", "R", "D", "S")
_MODIFIER = re.compile(r"^(F|ALAG|R|D|S)([1-9][0-9]*)$")


@runtime_checkable
class StructuralModel(Protocol):
    """What the event engine needs from a structural model (see module docstring)."""

    compartments: tuple[str, ...]
    parameters: tuple[str, ...]
    observed: int
    linear: bool

    def advance(self, x, rate, dt, p): ...

    def concentration(self, x, p): ...

    def observe(self, x, p, cmt): ...

    def initial(self, p): ...


class Model:
    """Convenience base class with the interface's defaults.

    Subclasses (frozen dataclasses) define ``compartments``, ``parameters``,
    ``observed``, ``linear``, ``advance`` and ``concentration``. ``optional`` lists
    extra parameter names the model understands but does not require (default none);
    ``aliases`` maps accepted alternative names to canonical ones (e.g. V -> V1).
    """

    optional: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()

    @property
    def n_cmt(self) -> int:
        return len(self.compartments)

    def observe(self, x, p, cmt):
        """Prediction for an observation record with 1-based ``cmt`` (PK: concentration)."""
        del cmt
        return self.concentration(x, p)

    def initial(self, p):
        """Amounts at the start and after a reset (zeros)."""
        del p
        return jnp.zeros(len(self.compartments))

    def scale(self, p, volume):
        """The divisor of the observed amount: ``S<n>`` if given, else ``volume``."""
        return p.get(f"S{self.observed + 1}", volume)


def n_compartments(model: StructuralModel) -> int:
    return len(model.compartments)


def observe(model: StructuralModel, x, p, cmt):
    """``model.observe`` if the model has one, else its concentration."""
    fn = getattr(model, "observe", None)
    return fn(x, p, cmt) if fn is not None else model.concentration(x, p)


def initial_state(model: StructuralModel, p):
    """``model.initial(p)`` if the model has one, else zeros."""
    fn = getattr(model, "initial", None)
    return jnp.asarray(fn(p)) if fn is not None else jnp.zeros(len(model.compartments))


def is_modifier(name: str, n_cmt: int) -> bool:
    """True when ``name`` is a dose modifier (F1, ALAG2, R2, D2, S2, ...) of the model."""
    m = _MODIFIER.match(name)
    return bool(m) and 1 <= int(m.group(2)) <= n_cmt


def accepts(model: StructuralModel, name: str) -> bool:
    """Whether ``model`` takes a parameter called ``name`` (its own, an optional one, an
    alias, or a dose modifier of one of its compartments)."""
    canonical = dict(getattr(model, "aliases", ())).get(name, name)
    return (canonical in model.parameters or canonical in set(getattr(model, "optional", ()))
            or is_modifier(canonical, n_compartments(model)))


def resolve_parameters(model: StructuralModel, p: Mapping) -> dict:
    """Check ``p`` against ``model`` and return it with aliases renamed.

    Raises ``ModelError`` naming every missing or unknown parameter. Works on names
    only, so it can run at trace time.
    """
    aliases = dict(getattr(model, "aliases", ()))
    optional = set(getattr(model, "optional", ()))
    out, unknown = {}, []
    n = n_compartments(model)
    for name, value in p.items():
        canonical = aliases.get(name, name)
        if canonical in out:
            raise ModelError(f"parameter {canonical} given twice (as {name} and under another name); keep one")
        if accepts(model, name):
            out[canonical] = value
        else:
            unknown.append(name)
    missing = [q for q in model.parameters if q not in out]
    problems = []
    if missing:
        problems.append(f"missing parameter(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown parameter(s) {', '.join(unknown)}")
    if problems:
        accepted = list(model.parameters) + sorted(optional) + [a for a, _ in aliases.items()]
        raise ModelError(
            f"{'; '.join(problems)} for model {describe(model)}. It needs {', '.join(model.parameters)}"
            f" and also accepts {', '.join(x for x in accepted if x not in model.parameters) or 'no other names'}"
            f" plus dose modifiers F<n>, ALAG<n>, R<n>, D<n>, S<n> for n = 1..{n}."
        )
    return out


def describe(model: StructuralModel) -> str:
    name = getattr(model, "name", None) or type(model).__name__
    return f"{name} (compartments {', '.join(f'{i + 1}={c}' for i, c in enumerate(model.compartments))})"


# --------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class _Entry:
    factory: Callable[[], StructuralModel]
    description: str


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, factory: Callable[[], StructuralModel], description: str = "") -> None:
    """Make a built-in model available by ``name`` (e.g. ``"1cmt-oral-mm"``).

    ``factory`` is called with no arguments and returns the model. Registering the same
    name twice with a different factory is an error (names are a public vocabulary).
    """
    old = _REGISTRY.get(name)
    if old is not None and old.factory is not factory:
        raise ModelError(f"model name {name!r} is already registered; choose another name")
    _REGISTRY[name] = _Entry(factory, description)


def _load_builtins() -> None:
    # Built-in models register themselves on import; modules owned by other areas
    # (ODE, PD) may not exist yet, which is fine.
    import popkin.pk.closed_form  # noqa: F401
    for module in ("popkin.pk.ode", "popkin.pk.pd"):
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


def available_models() -> dict[str, str]:
    """Registered model names -> one-line descriptions."""
    _load_builtins()
    return {k: v.description for k, v in sorted(_REGISTRY.items())}


def get_model(name: str) -> StructuralModel:
    """The built-in model registered as ``name``."""
    _load_builtins()
    try:
        return _REGISTRY[name].factory()
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}; built-in models are {', '.join(sorted(_REGISTRY))},"
            " or give the path of a Python file that defines `model`"
        ) from None


def load_model(spec: str | StructuralModel) -> StructuralModel:
    """A model from a registered name, a path to a ``.py`` file defining ``model``, or a model."""
    if not isinstance(spec, str):
        return _checked(spec, repr(spec))
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise ModelError(f"model file {spec} does not exist")
        module_spec = importlib.util.spec_from_file_location(f"popkin_user_model_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:  # user code: report, do not crash with a traceback
            raise ModelError(f"could not import model file {spec}: {type(exc).__name__}: {exc}") from exc
        if not hasattr(module, "model"):
            raise ModelError(f"model file {spec} must define a variable named `model`")
        return _checked(module.model, spec)
    return get_model(spec)


def _checked(model, where: str) -> StructuralModel:
    needed = ("compartments", "parameters", "observed", "linear", "advance", "concentration")
    lacking = [a for a in needed if not hasattr(model, a)]
    if lacking:
        raise ModelError(f"model from {where} lacks {', '.join(lacking)}; see popkin.pk.model for the interface")
    return model

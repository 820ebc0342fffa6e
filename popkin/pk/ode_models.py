"""Built-in compartment models solved as ODEs: linear, Michaelis-Menten and parallel
elimination, IV, first-order and transit-compartment absorption.

Units: amounts in the dose unit (e.g. mg), volumes in L, time in h, so concentrations
are amount/L. Parameters (NONMEM spelling):

=======  ==================================================================  ========
name     meaning                                                             unit
=======  ==================================================================  ========
CL       linear clearance                                                    L/h
V        central volume (one compartment); ``V1`` for two (``V`` accepted)   L
Q, V2    inter-compartmental clearance, peripheral volume                    L/h, L
VM       maximum elimination rate; elimination = VM * C / (KM + C)           amount/h
KM       concentration at half VM (C = central amount / V)                   amount/L
KA       first-order absorption rate constant from the depot                 1/h
KTR      transit rate constant                                               1/h
MTT      mean transit time, MTT = (NTR + 1) / KTR (Savic et al. 2007)        h
=======  ==================================================================  ========

Transit absorption (Savic RM et al., J Pharmacokinet Pharmacodyn 2007;34:711): the dose
enters compartment 1 (``dose``), passes through ``NTR`` transit compartments, every one
of these ``NTR + 1`` compartments emptying with rate KTR, then reaches the ``depot``,
which empties into ``central`` with rate KA. The delay to the depot is Erlang with shape
NTR + 1 and mean MTT = (NTR + 1) / KTR. NTR is structural (it sets the number of
states), so it is fixed when the model is built: ``CompartmentODE(transit=Transit(5))``.

The concentration reported is ``central / S<n>`` when the dose modifier ``S<n>`` of the
central compartment is given (NONMEM's scale, e.g. ``S2 = V / 1000`` for mg doses and
ng/mL), else ``central / V``. Michaelis-Menten elimination always uses C = central / V.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp

from popkin.errors import ModelError
from popkin.pk.model import Model, register
from popkin.pk.ode import ODEMixin, ODEOptions

__all__ = ["CompartmentODE", "Transit"]

ROUTES = ("iv", "oral")
ELIMINATIONS = ("linear", "mm", "mm-linear")


@dataclass(frozen=True)
class Transit:
    """Transit-compartment absorption: ``ntr`` transit compartments between the dose
    compartment and the depot; rate given as ``"KTR"`` (1/h) or ``"MTT"`` (h, mean
    transit time, KTR = (ntr + 1) / MTT)."""

    ntr: int = 3
    by: str = "KTR"

    def __post_init__(self):
        if int(self.ntr) != self.ntr or self.ntr < 0:
            raise ModelError(f"Transit: ntr must be a non-negative integer, got {self.ntr}")
        if self.by not in ("KTR", "MTT"):
            raise ModelError(f"Transit: by must be 'KTR' or 'MTT', got {self.by!r}")

    def ktr(self, p):
        return p["KTR"] if self.by == "KTR" else (self.ntr + 1) / p["MTT"]


@dataclass(frozen=True)
class CompartmentODE(ODEMixin, Model):
    """One- or two-compartment model integrated with diffrax.

    ncmt: 1 or 2 disposition compartments.
    route: ``"iv"`` (doses into ``central``) or ``"oral"`` (doses into ``depot``, or into
        ``dose`` when ``transit`` is set).
    elimination: ``"linear"`` (CL), ``"mm"`` (VM, KM) or ``"mm-linear"`` (CL + VM/KM in
        parallel).
    transit: ``Transit(ntr, by)`` for transit-compartment absorption (oral only).
    options: how to integrate (``ODEOptions``).

    Compartments, in NONMEM CMT order: [dose, transit1..transitNTR,] [depot,] central
    [, peripheral].
    """

    ncmt: int = 1
    route: str = "oral"
    elimination: str = "linear"
    transit: Transit | None = None
    options: ODEOptions = field(default_factory=ODEOptions)

    def __post_init__(self):
        if self.ncmt not in (1, 2):
            raise ModelError(f"CompartmentODE: ncmt must be 1 or 2, got {self.ncmt}")
        if self.route not in ROUTES:
            raise ModelError(f"CompartmentODE: route must be one of {ROUTES}, got {self.route!r}")
        if self.elimination not in ELIMINATIONS:
            raise ModelError(f"CompartmentODE: elimination must be one of {ELIMINATIONS}, got {self.elimination!r}")
        if self.transit is not None and self.route != "oral":
            raise ModelError("CompartmentODE: transit absorption needs route='oral'")

    # ---------------------------------------------------------------- structure
    @property
    def name(self) -> str:
        """The registry name of this configuration, e.g. ``1cmt-oral-mm``."""
        if self.transit is None:
            route = self.route
        else:
            route = "transit" + ("" if self.transit.ntr == 3 else f"{self.transit.ntr}")
        name = f"{self.ncmt}cmt-{route}"
        if self.elimination != "linear":
            name += f"-{self.elimination}"
        elif self.transit is None:
            name += "-ode"  # the closed-form models own the plain names
        if self.transit is not None and self.transit.by == "MTT":
            name += "-mtt"
        return name

    @property
    def compartments(self) -> tuple[str, ...]:
        names = []
        if self.transit is not None:
            names += ["dose"] + [f"transit{i + 1}" for i in range(self.transit.ntr)]
        if self.route == "oral":
            names.append("depot")
        names.append("central")
        if self.ncmt == 2:
            names.append("peripheral")
        return tuple(names)

    @property
    def observed(self) -> int:
        return self.compartments.index("central")

    @property
    def linear(self) -> bool:
        return self.elimination == "linear"

    @property
    def parameters(self) -> tuple[str, ...]:
        names = {"linear": ["CL"], "mm": ["VM", "KM"], "mm-linear": ["CL", "VM", "KM"]}[self.elimination]
        names += ["V"] if self.ncmt == 1 else ["V1", "Q", "V2"]
        if self.route == "oral":
            names.append("KA")
        if self.transit is not None:
            names.append(self.transit.by)
        return tuple(names)

    @property
    def aliases(self) -> tuple[tuple[str, str], ...]:
        return (("V", "V1"),) if self.ncmt == 2 else ()

    # ---------------------------------------------------------------- equations
    def volume(self, p):
        """Central volume (L)."""
        return p["V"] if self.ncmt == 1 else p["V1"]

    def rhs(self, x, p):
        """dx/dt without dose inputs (amount/h)."""
        c = self.observed
        v = self.volume(p)
        conc = x[c] / v
        elim = 0.0
        if self.elimination in ("linear", "mm-linear"):
            elim = elim + p["CL"] * conc
        if self.elimination in ("mm", "mm-linear"):
            elim = elim + p["VM"] * conc / (p["KM"] + conc)
        dx = jnp.zeros_like(x).at[c].add(-elim)
        if self.route == "oral":
            absorbed = p["KA"] * x[c - 1]
            dx = dx.at[c - 1].add(-absorbed).at[c].add(absorbed)
        if self.transit is not None:
            # x[0] = dose, x[1..ntr] = transits; each empties into the next with KTR.
            n = self.transit.ntr + 1
            flow = self.transit.ktr(p) * x[:n]
            dx = dx.at[:n].add(-flow).at[1:n + 1].add(flow)
        if self.ncmt == 2:
            distributed = p["Q"] * (conc - x[c + 1] / p["V2"])
            dx = dx.at[c].add(-distributed).at[c + 1].add(distributed)
        return dx

    def concentration(self, x, p):
        """Central concentration (amount/L, or amount/S<n> when S<n> is given)."""
        return x[self.observed] / self.scale(p, self.volume(p))


# ------------------------------------------------------------------ registry
_DESCRIBE = {"linear": "linear elimination (CL)", "mm": "Michaelis-Menten elimination (VM, KM)",
             "mm-linear": "parallel linear and Michaelis-Menten elimination (CL, VM, KM)"}


def _register_builtins() -> None:
    what = {"iv": "IV bolus/infusion", "oral": "first-order absorption"}
    configs = [dict(ncmt=n, route=r, elimination=e) for n in (1, 2) for r in ROUTES for e in ELIMINATIONS]
    configs += [dict(ncmt=n, route="oral", elimination=e, transit=Transit(3, by))
                for n in (1, 2) for e in ("linear",) for by in ("KTR", "MTT")]
    for kw in configs:
        model = CompartmentODE(**kw)
        route = what[model.route] if model.transit is None else \
            f"3 transit compartments ({model.transit.by}) then first-order absorption"
        register(model.name, _factory(**kw),
                 f"{model.ncmt}-compartment, {route}, {_DESCRIBE[model.elimination]}; ODE (diffrax)")


def _factory(**kw):
    def make():
        return CompartmentODE(**kw)
    return make


_register_builtins()

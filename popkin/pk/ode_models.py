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
KDEG     first-order turnover (degradation) rate constant of the enzyme      1/h
KINACT   maximum rate constant of inactivation of the enzyme by the drug     1/h
KI       concentration at half-maximal inactivation                          amount/L
FD50     dose (AMT) at which the dose-dependent fraction F(AMT) is 1/2        amount
FGAM     Hill coefficient of F(AMT)                                          -
=======  ==================================================================  ========

Auto-inhibition (``autoinhibition=True``; mechanism-based inhibition of the drug's own
metabolism through enzyme turnover, e.g. Mager DE, Jusko WJ, Drug Metab Dispos
2002;30:1174 for the turnover model): a state ``enzyme`` E, the enzyme amount relative to
its baseline (E = 1 at the start and after a reset), scales every elimination pathway:

    elimination = E * (CL * C + VM * C / (KM + C))
    dE/dt = KDEG * (1 - E) - KINACT * C / (KI + C) * E

so clearance falls over days of dosing towards 1 / (1 + KINACT/KDEG) of baseline at
saturating C, and accumulation grows with dose. E is the last compartment.

Dose-dependent bioavailability (``bioavailability="hill"``, oral): the fraction of each
dose into the first compartment that reaches the depot is F(AMT) = AMT^FGAM / (FD50^FGAM
+ AMT^FGAM), a Hill function of the dose record's own AMT (NONMEM: ``F1 = AMT**FGAM /
(FD50**FGAM + AMT**FGAM)`` in $PK at dose records), the empirical description of a
saturable first pass. It multiplies any F1 given. ``dose_fraction`` is the hook the
event engine calls for it.

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

import jax
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
    autoinhibition: add the enzyme-turnover state E that scales elimination (KDEG,
        KINACT, KI; see the module docstring).
    bioavailability: ``"constant"`` (F1 as given, default) or ``"hill"`` (F(AMT) with
        FD50, FGAM; oral only).
    options: how to integrate (``ODEOptions``).

    Compartments, in NONMEM CMT order: [dose, transit1..transitNTR,] [depot,] central
    [, peripheral] [, enzyme].
    """

    ncmt: int = 1
    route: str = "oral"
    elimination: str = "linear"
    transit: Transit | None = None
    autoinhibition: bool = False
    bioavailability: str = "constant"
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
        if self.bioavailability not in ("constant", "hill"):
            raise ModelError(f"CompartmentODE: bioavailability must be 'constant' or 'hill', got "
                             f"{self.bioavailability!r}")
        if self.bioavailability == "hill" and self.route != "oral":
            raise ModelError("CompartmentODE: bioavailability='hill' needs route='oral'")

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
        if self.autoinhibition:
            name += "-autoinh"
        if self.bioavailability == "hill":
            name += "-fdose"
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
        if self.autoinhibition:
            names.append("enzyme")
        return tuple(names)

    @property
    def observed(self) -> int:
        return self.compartments.index("central")

    @property
    def linear(self) -> bool:
        return self.elimination == "linear" and not self.autoinhibition

    @property
    def parameters(self) -> tuple[str, ...]:
        names = {"linear": ["CL"], "mm": ["VM", "KM"], "mm-linear": ["CL", "VM", "KM"]}[self.elimination]
        names += ["V"] if self.ncmt == 1 else ["V1", "Q", "V2"]
        if self.route == "oral":
            names.append("KA")
        if self.transit is not None:
            names.append(self.transit.by)
        if self.autoinhibition:
            names += ["KDEG", "KINACT", "KI"]
        if self.bioavailability == "hill":
            names += ["FD50", "FGAM"]
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
        dx = jnp.zeros_like(x)
        if self.autoinhibition:
            enzyme = x[-1]
            elim = enzyme * elim
            dx = dx.at[-1].set(p["KDEG"] * (1.0 - enzyme) - p["KINACT"] * conc / (p["KI"] + conc) * enzyme)
        dx = dx.at[c].add(-elim)
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

    def initial(self, p):
        """Amounts at the start and after a reset: zeros, and E = 1 (baseline enzyme)."""
        del p
        x = jnp.zeros(len(self.compartments))
        return x.at[-1].set(1.0) if self.autoinhibition else x

    def dose_fraction(self, amt, cmt, p):
        """Fraction of each dose record's AMT that enters (multiplies F<n>): F(AMT) for
        doses into the first compartment with ``bioavailability="hill"``, else 1.
        ``amt``, ``cmt`` (0-based) and ``p``'s values are per record."""
        if self.bioavailability != "hill":
            return jnp.ones_like(amt)
        safe = jnp.where(amt > 0, amt, 1.0)
        # F = 1 / (1 + (FD50/AMT)^FGAM), written in logs to stay finite at any dose
        f = jax.nn.sigmoid(p["FGAM"] * (jnp.log(safe) - jnp.log(p["FD50"])))
        return jnp.where((cmt == 0) & (amt > 0), f, 1.0)


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
    for fdose in (False, True):
        kw = dict(ncmt=1, route="oral", elimination="mm-linear", autoinhibition=True,
                  bioavailability="hill" if fdose else "constant")
        extra = ", dose-dependent bioavailability F(AMT) (FD50, FGAM)" if fdose else ""
        register(CompartmentODE(**kw).name, _factory(**kw),
                 "1-compartment, first-order absorption, parallel linear and Michaelis-Menten elimination "
                 f"auto-inhibited through enzyme turnover (KDEG, KINACT, KI){extra}; ODE (diffrax)")


def _factory(**kw):
    def make():
        return CompartmentODE(**kw)
    return make


_register_builtins()

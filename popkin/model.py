"""The population model definition: structure, typical values, covariates, IIV/IOV, error.

A population model is written the way a pharmacometrician writes a NONMEM ``$PK`` /
``$ERROR`` pair, as a small immutable object::

    from popkin.model import (PopulationModel, Theta, Power, IIV, CombinedError)

    model = PopulationModel(
        structure="1cmt-oral",                      # or a structural model object
        parameters={
            "CL": Theta(2.8, "L/h", effects=(Power("WT", 70, 0.75),)),
            "V":  Theta(33.0, "L", effects=(Power("WT", 70, 1.0),)),
            "KA": Theta(1.5, "1/h"),
        },
        iiv=IIV(("CL", "V", "KA"), correlated=True),
        error=CombinedError(add=0.1, prop=0.1),
    )
    print(model)                                    # $PK-like equations and priors

Individual parameters (log-normal; ``i`` a subject, ``k`` an occasion)::

    P_i = TV_P * prod(covariate factors of subject i) * exp(eta_P,i + kappa_P,ik)

where ``TV_P`` is the typical value (``Theta``), ``eta_i = diag(omega) L z_i`` with
``z_i ~ N(0, I)`` (non-centred; ``L`` the Cholesky factor of the IIV correlation
matrix, identity for a diagonal omega) and ``kappa`` the inter-occasion deviation.
Parameters in (0, 1) (bioavailability, maximal inhibition) can be written with
``Theta(..., domain="fraction")``: then ``logit(P_i) = logit(TV_P) + eta_P,i``.

Covariates enter at their baseline value (the subject's first record). A parameter can
also be read from the data (``Column("BIOAV")``, NONMEM's ``F2 = BIOAV``) or held
constant (``Fixed(1.0)``).

Default priors (weakly informative, chosen so that the data dominate for the data sets
of the catalogue; write your own as numpyro distributions):

* typical value: ``LogNormal(log(initial), 1)`` (median = initial, a factor e ~ 2.7 as
  one SD); for ``domain="fraction"`` a logit-normal with median ``initial``, logit-SD 1;
* estimated covariate coefficient (``Estimate``): ``Normal(initial, 1)``; categorical
  factors (multiplicative, reference level = 1): ``LogNormal(log(initial), 1)``;
* IIV/IOV SD omega (log scale): ``HalfNormal(1)`` (IIV), ``HalfNormal(0.5)`` (IOV);
  correlation of a correlated block: ``LKJ(2)`` (mild shrinkage towards 0);
* residual SDs: ``HalfNormal(2 * initial)``.

The numpyro function that turns this definition into a joint density lives in
``popkin.infer.numpyro_model``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Union

import numpyro.distributions as dist

from popkin.errors import ModelError

__all__ = [
    "Theta", "Fixed", "Column", "Derived", "Estimate",
    "Power", "Linear", "Exponential", "Categorical",
    "IIV", "IOV",
    "AdditiveError", "ProportionalError", "CombinedError", "ExponentialError", "Output",
    "PopulationModel",
]


# --------------------------------------------------------------------------- priors

def lognormal_around(initial: float, log_sd: float = 1.0) -> dist.Distribution:
    """LogNormal with median ``initial`` and SD ``log_sd`` on the log scale."""
    return dist.LogNormal(math.log(initial), log_sd)


def logitnormal_around(initial: float, logit_sd: float = 1.0) -> dist.Distribution:
    """A distribution on (0, 1) whose logit is Normal(logit(initial), logit_sd)."""
    return dist.TransformedDistribution(
        dist.Normal(math.log(initial / (1.0 - initial)), logit_sd), dist.transforms.SigmoidTransform())


def describe_prior(prior: dist.Distribution) -> str:
    """A short text for a numpyro distribution, e.g. ``LogNormal(log 2.8, 1)``."""
    if isinstance(prior, dist.LogNormal):
        med = math.exp(float(prior.loc))
        return f"LogNormal(median {med:.4g}, log-SD {float(prior.scale):.3g})"
    if isinstance(prior, dist.HalfNormal):
        return f"HalfNormal({float(prior.scale):.3g})"
    if isinstance(prior, dist.Normal):
        return f"Normal({float(prior.loc):.4g}, {float(prior.scale):.3g})"
    if isinstance(prior, dist.TransformedDistribution) and isinstance(prior.base_dist, dist.Normal):
        loc, sd = float(prior.base_dist.loc), float(prior.base_dist.scale)
        return f"LogitNormal(median {1 / (1 + math.exp(-loc)):.4g}, logit-SD {sd:.3g})"
    return type(prior).__name__


# --------------------------------------------------------------------------- values

@dataclass(frozen=True)
class Estimate:
    """An estimated coefficient (covariate exponent, slope or categorical factor).

    initial: the starting value (also the prior's centre by default); prior: a numpyro
    distribution, default ``Normal(initial, 1)`` (``LogNormal(log initial, 1)`` for a
    categorical factor).
    """

    initial: float
    prior: dist.Distribution | None = None


Coefficient = Union[float, Estimate]


def _coef_text(c: Coefficient, site: str) -> str:
    return site if isinstance(c, Estimate) else f"{c:g}"


@dataclass(frozen=True)
class Power:
    """Power (allometric) effect: factor ``(COV / reference) ** exponent``.

    covariate: data column (e.g. ``"WT"``, kg); reference: its reference value (e.g. 70);
    exponent: a number (fixed, e.g. 0.75 for CL, 1 for V) or ``Estimate(0.75)``.
    """

    covariate: str
    reference: float
    exponent: Coefficient = 0.75

    def coefficients(self, param: str) -> dict[str, Estimate]:
        return {f"{param}_{self.covariate}": self.exponent} if isinstance(self.exponent, Estimate) else {}

    def text(self, param: str) -> str:
        return f"({self.covariate}/{self.reference:g})^{_coef_text(self.exponent, f'{param}_{self.covariate}')}"


@dataclass(frozen=True)
class Linear:
    """Linear effect: factor ``1 + slope * (COV - center)`` (must stay positive).

    slope: a number (fixed) or ``Estimate(...)``, in 1/(covariate unit).
    """

    covariate: str
    center: float
    slope: Coefficient

    def coefficients(self, param: str) -> dict[str, Estimate]:
        return {f"{param}_{self.covariate}": self.slope} if isinstance(self.slope, Estimate) else {}

    def text(self, param: str) -> str:
        return f"(1 + {_coef_text(self.slope, f'{param}_{self.covariate}')}*({self.covariate} - {self.center:g}))"


@dataclass(frozen=True)
class Exponential:
    """Exponential effect: factor ``exp(slope * (COV - center))``."""

    covariate: str
    center: float
    slope: Coefficient

    def coefficients(self, param: str) -> dict[str, Estimate]:
        return {f"{param}_{self.covariate}": self.slope} if isinstance(self.slope, Estimate) else {}

    def text(self, param: str) -> str:
        return f"exp({_coef_text(self.slope, f'{param}_{self.covariate}')}*({self.covariate} - {self.center:g}))"


def _level_name(level: float) -> str:
    return f"{int(level)}" if float(level).is_integer() else f"{level:g}".replace(".", "p")


@dataclass(frozen=True)
class Categorical:
    """Categorical effect: factor ``theta_k`` for subjects with ``COV == k``, 1 at the
    reference level (e.g. ``Categorical("SEX", levels=(1,))``: male/female ratio).

    levels: the non-reference codes; factors: one coefficient per level (number or
    ``Estimate``; default ``Estimate(1.0)``, LogNormal(0, 1) prior). A data value that is
    neither the reference nor a listed level is an error.
    """

    covariate: str
    levels: tuple[float, ...]
    reference: float = 0.0
    factors: tuple[Coefficient, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
        factors = tuple(self.factors) or tuple(Estimate(1.0) for _ in self.levels)
        if len(factors) != len(self.levels):
            raise ModelError(f"Categorical({self.covariate!r}): {len(self.levels)} levels but "
                             f"{len(factors)} factors; give one factor per level")
        object.__setattr__(self, "factors", factors)

    def site(self, param: str, level: float) -> str:
        return f"{param}_{self.covariate}{_level_name(level)}"

    def coefficients(self, param: str) -> dict[str, Estimate]:
        return {self.site(param, lv): f for lv, f in zip(self.levels, self.factors) if isinstance(f, Estimate)}

    def text(self, param: str) -> str:
        parts = [f"{_coef_text(f, self.site(param, lv))}^({self.covariate}=={lv:g})"
                 for lv, f in zip(self.levels, self.factors)]
        return " * ".join(parts)


Effect = Union[Power, Linear, Exponential, Categorical]


@dataclass(frozen=True)
class Theta:
    """An estimated typical value (NONMEM THETA) with its covariate effects.

    initial: starting value and default prior median, in ``unit``.
    unit: e.g. "L/h" (documentation and tables only).
    prior: a numpyro distribution on the natural scale (positive support; (0, 1) for
        ``domain="fraction"``); default: see the module docstring.
    effects: covariate effects multiplying the typical value (``Power``, ``Linear``,
        ``Exponential``, ``Categorical``).
    domain: "positive" (log-normal individual values) or "fraction" (logit-normal).
    """

    initial: float
    unit: str = ""
    prior: dist.Distribution | None = None
    effects: tuple[Effect, ...] = ()
    domain: str = "positive"

    def __post_init__(self):
        object.__setattr__(self, "effects", tuple(self.effects))
        if self.domain not in ("positive", "fraction"):
            raise ModelError(f"Theta: domain must be 'positive' or 'fraction', got {self.domain!r}")
        if self.domain == "positive" and not self.initial > 0:
            raise ModelError(f"Theta: the initial value must be > 0, got {self.initial}")
        if self.domain == "fraction":
            if not 0 < self.initial < 1:
                raise ModelError(f"Theta(domain='fraction'): the initial value must be in (0, 1), got {self.initial}")
            if self.effects:
                raise ModelError("Theta(domain='fraction') takes no covariate effects; model them on a "
                                 "positive parameter")

    def default_prior(self) -> dist.Distribution:
        if self.prior is not None:
            return self.prior
        return lognormal_around(self.initial) if self.domain == "positive" else logitnormal_around(self.initial)


@dataclass(frozen=True)
class Fixed:
    """A parameter held at a constant value (in the parameter's unit)."""

    value: float
    unit: str = ""


@dataclass(frozen=True)
class Column:
    """A parameter read from a data column at every record (NONMEM ``F2 = BIOAV``)."""

    name: str


@dataclass(frozen=True)
class Derived:
    """A parameter computed from parameters defined before it (NONMEM ``S2 = V/1000``).

    function: ``function(p) -> value``, ``p`` the individual parameters so far (name ->
    array over subjects, or subjects x records); text: the formula as printed, e.g.
    ``"V/1000"``; unit: documentation only.
    """

    function: Callable
    text: str
    unit: str = ""


ParameterSpec = Union[Theta, Fixed, Column, Derived]


# --------------------------------------------------------------------------- variability

@dataclass(frozen=True)
class IIV:
    """Inter-individual variability on the log (logit) scale of ``parameters``.

    correlated: False for a diagonal omega, True for a full block (LKJ prior on the
        correlation matrix, concentration ``lkj``).
    initial: starting SD (log scale) for every parameter of the block.
    sd_prior: HalfNormal scale of each SD.
    Several blocks can be given as a tuple (block-diagonal omega).
    """

    parameters: tuple[str, ...]
    correlated: bool = False
    initial: float = 0.3
    sd_prior: float = 1.0
    lkj: float = 2.0

    def __post_init__(self):
        object.__setattr__(self, "parameters", tuple(self.parameters))


@dataclass(frozen=True)
class IOV:
    """Inter-occasion variability: one deviation kappa per subject and occasion.

    parameters: parameters with IOV; occasion: the data column coding the occasion
    (any numbers; each distinct value is an occasion); initial / sd_prior: starting SD
    and HalfNormal scale of the IOV SDs (log scale). Individual parameters then vary
    by record (the occasion's value).
    """

    parameters: tuple[str, ...]
    occasion: str = "OCC"
    initial: float = 0.1
    sd_prior: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "parameters", tuple(self.parameters))


# --------------------------------------------------------------------------- residual error

@dataclass(frozen=True)
class AdditiveError:
    """Y = F + add * eps; add in concentration units."""

    add: float

    def sds(self) -> dict[str, float]:
        return {"add": self.add}

    def text(self, s: str) -> str:
        return f"Y = F + sigma_add{s}*EPS"


@dataclass(frozen=True)
class ProportionalError:
    """Y = F + prop * F * eps; prop is a fraction (0.2 = 20% CV)."""

    prop: float

    def sds(self) -> dict[str, float]:
        return {"prop": self.prop}

    def text(self, s: str) -> str:
        return f"Y = F + sigma_prop{s}*F*EPS"


@dataclass(frozen=True)
class CombinedError:
    """Y = F + sqrt(add^2 + (prop*F)^2) * eps (NONMEM combined, variances added)."""

    add: float
    prop: float

    def sds(self) -> dict[str, float]:
        return {"add": self.add, "prop": self.prop}

    def text(self, s: str) -> str:
        return f"Y = F + sqrt(sigma_add{s}^2 + (sigma_prop{s}*F)^2)*EPS"


@dataclass(frozen=True)
class ExponentialError:
    """log Y = log F + sd * eps (log-transform both sides); needs Y > 0."""

    sd: float

    def sds(self) -> dict[str, float]:
        return {"log": self.sd}

    def text(self, s: str) -> str:
        return f"log Y = log F + sigma_log{s}*EPS"


ErrorModel = Union[AdditiveError, ProportionalError, CombinedError, ExponentialError]


@dataclass(frozen=True)
class Output:
    """One kind of observation of a multi-output (e.g. PK/PD) model.

    name: short name, used in site names (``sigma_prop_cp``) and tables.
    error: its residual error model.
    dvid: the records it covers (data column DVID); None covers every record. When
        outputs name their DVIDs, observations of any other DVID are not fitted (e.g. a
        PK-only model on PK/PD data: ``Output("cp", ProportionalError(0.1), dvid=1)``).
    cmt: the CMT the structural model is asked to predict for these records (e.g. 3
        for the response of a PK/PD model); None keeps each record's own CMT.
    """

    name: str
    error: ErrorModel
    dvid: float | None = None
    cmt: int | None = None


# --------------------------------------------------------------------------- the model

@dataclass(frozen=True, eq=False)
class PopulationModel:
    """A population PK/PD model (see the module docstring).

    structure: a registered structural model name (``popkin.pk.available_models()``),
        a path to a ``.py`` file defining ``model``, or a structural model object.
    parameters: structural parameter name -> ``Theta`` | ``Fixed`` | ``Column`` |
        ``Derived``. Every required parameter of the structure must be given; dose
        modifiers (F1, ALAG1, S2, ...) are optional.
    intermediate: names in ``parameters`` that the structure does not take, used only
        to define others (NONMEM $PK variables), e.g. ``("CLINT",)`` with
        ``"KM": Derived(lambda p: p["VM"] / p["CLINT"], "VM/CLINT")``: estimated, with
        IIV if declared, and printed, but not passed to the structural model. Any other
        name the structure does not know is an error (a typo is not silently ignored).
    iiv: one ``IIV`` block or a tuple of blocks (block-diagonal omega); () for none.
    iov: an ``IOV`` or None.
    error: one residual error model, or a tuple of ``Output`` for several kinds of
        observation (by DVID).
    name, description: shown by ``print(model)`` and stored with fits.

    Instances compare and hash by identity (they hold distributions), so a compiled
    log-density is reused for as long as the same model object is fitted.
    """

    structure: object
    parameters: Mapping[str, ParameterSpec]
    error: ErrorModel | tuple[Output, ...]
    iiv: IIV | tuple[IIV, ...] = ()
    iov: IOV | None = None
    name: str = ""
    description: str = ""
    intermediate: tuple[str, ...] = ()
    structural: object = field(init=False, repr=False)

    def __post_init__(self):
        from popkin.pk import load_model, resolve_parameters
        from popkin.pk.model import accepts

        structural = load_model(self.structure)
        object.__setattr__(self, "structural", structural)
        object.__setattr__(self, "parameters", dict(self.parameters))
        iiv = (self.iiv,) if isinstance(self.iiv, IIV) else tuple(self.iiv)
        object.__setattr__(self, "iiv", iiv)
        if not isinstance(self.error, tuple):
            object.__setattr__(self, "error", (Output("y", self.error),))
        for name, spec in self.parameters.items():
            if not isinstance(spec, (Theta, Fixed, Column, Derived)):
                raise ModelError(f"parameter {name}: give Theta(...), Fixed(...), Column(...) or Derived(...), "
                                 f"not {type(spec).__name__}")
        object.__setattr__(self, "intermediate", tuple(self.intermediate))
        for name in self.intermediate:
            if name not in self.parameters:
                raise ModelError(f"intermediate={self.intermediate}: {name} is not among the parameters "
                                 f"({', '.join(self.parameters)}); define it there")
        own = [k for k in self.intermediate if accepts(structural, k)]
        if own:
            raise ModelError(f"intermediate={self.intermediate}: the structure takes {', '.join(own)} itself; "
                             "drop it from intermediate")
        resolve_parameters(structural, {k: 0.0 for k in self.parameters if k not in self.intermediate})  # names only
        self._check_variability()
        self._check_outputs()
        sites = self.sites()
        dup = [s for s in set(sites) if sites.count(s) > 1]
        if dup:
            raise ModelError(f"estimated quantities share the name(s) {', '.join(sorted(dup))}; rename an output "
                             "or drop a duplicated covariate effect")

    def _check_variability(self):
        seen: list[str] = []
        for block in self.iiv:
            for p in block.parameters:
                if not isinstance(self.parameters.get(p), Theta):
                    raise ModelError(f"IIV on {p}: only parameters given as Theta(...) can vary between "
                                     f"subjects; the model's Theta parameters are {', '.join(self.thetas)}")
                if p in seen:
                    raise ModelError(f"IIV on {p} is declared twice; put each parameter in one IIV block")
                seen.append(p)
        if self.iov is not None:
            for p in self.iov.parameters:
                if not isinstance(self.parameters.get(p), Theta):
                    raise ModelError(f"IOV on {p}: only Theta parameters can vary between occasions")

    def _check_outputs(self):
        names = [o.name for o in self.error]
        if len(set(names)) != len(names):
            raise ModelError(f"outputs must have distinct names, got {names}")
        if len(self.error) > 1 and any(o.dvid is None for o in self.error):
            raise ModelError("with several outputs every Output needs its dvid (the DVID value of its records)")

    # ------------------------------------------------------------------ names
    @property
    def thetas(self) -> tuple[str, ...]:
        """Names of the estimated typical values, in definition order."""
        return tuple(k for k, v in self.parameters.items() if isinstance(v, Theta))

    @property
    def eta_names(self) -> tuple[str, ...]:
        """Parameters with IIV, in block order (the ``iiv`` coordinate)."""
        return tuple(p for b in self.iiv for p in b.parameters)

    def coefficients(self) -> dict[str, Estimate]:
        """Estimated covariate coefficients by site name, e.g. ``CL_WT``."""
        out: dict[str, Estimate] = {}
        for name in self.thetas:
            for eff in self.parameters[name].effects:
                out.update(eff.coefficients(name))
        return out

    def sigma_sites(self) -> dict[str, float]:
        """Residual SD site name -> initial value, e.g. ``sigma_prop`` (``sigma_prop_cp``)."""
        out = {}
        for o in self.error:
            suffix = "" if len(self.error) == 1 else f"_{o.name}"
            for kind, value in o.error.sds().items():
                out[f"sigma_{kind}{suffix}"] = value
        return out

    def covariates(self) -> tuple[str, ...]:
        """Data columns the model reads (covariates, Column parameters, occasion, DVID)."""
        cols: list[str] = []
        for name, spec in self.parameters.items():
            if isinstance(spec, Theta):
                cols += [e.covariate for e in spec.effects]
            elif isinstance(spec, Column):
                cols.append(spec.name)
        if self.iov is not None:
            cols.append(self.iov.occasion)
        if any(o.dvid is not None for o in self.error):
            cols.append("DVID")
        return tuple(dict.fromkeys(cols))

    def sites(self) -> list[str]:
        """Names of every estimated quantity (for clash checks)."""
        return list(self.thetas) + list(self.coefficients()) + list(self.sigma_sites())

    @property
    def by_record(self) -> bool:
        """True when individual parameters vary by record (IOV or Column parameters)."""
        return self.iov is not None or any(isinstance(v, Column) for v in self.parameters.values())

    # ------------------------------------------------------------------ printing
    def __str__(self) -> str:
        return render(self)

    def __repr__(self) -> str:
        name = self.name or getattr(self.structural, "name", type(self.structural).__name__)
        return f"PopulationModel({name!r}, thetas={self.thetas}, iiv={self.eta_names})"


# --------------------------------------------------------------------------- printing

def _eq(name: str, spec: ParameterSpec, iiv: set[str], iov: IOV | None) -> str:
    if isinstance(spec, Fixed):
        return f"{name}_i = {spec.value:g} (fixed)"
    if isinstance(spec, Column):
        return f"{name}_i = {spec.name} (data column, every record)"
    if isinstance(spec, Derived):
        return f"{name}_i = {spec.text}"
    random = ([f"eta_{name}"] if name in iiv else []) + \
             ([f"kappa_{name},occ"] if iov is not None and name in iov.parameters else [])
    if spec.domain == "fraction":
        inner = " + ".join([f"logit({name})"] + random)
        return f"{name}_i = expit({inner})"
    factors = [name] + [e.text(name) for e in spec.effects]
    if random:
        factors.append(f"exp({' + '.join(random)})")
    return f"{name}_i = {' * '.join(factors)}"


def render(model: PopulationModel) -> str:
    """The model as text: $PK-like equations, priors, omega structure, error model."""
    struct = model.structural
    sname = getattr(struct, "name", type(struct).__name__)
    cmts = ", ".join(f"{i + 1}={c}" for i, c in enumerate(struct.compartments))
    title = f"Population model {model.name}" if model.name else "Population model"
    lines = [f"{title}: structure {sname} (CMT {cmts})"]
    if model.description:
        lines.append(f"  {model.description}")
    iiv = set(model.eta_names)
    lines.append("$PK   (i: subject; " + ", ".join(model.thetas) + " are typical values)")
    for name, spec in model.parameters.items():
        unit = getattr(spec, "unit", "")
        note = " (intermediate)" if name in model.intermediate else ""
        lines.append((f"  {_eq(name, spec, iiv, model.iov) + note:<60s}" + (f" [{unit}]" if unit else "")).rstrip())
    lines.append("$PRIORS")
    for name in model.thetas:
        lines.append(f"  {name} ~ {describe_prior(model.parameters[name].default_prior())}")
    for site, est in model.coefficients().items():
        cat = any(isinstance(e, Categorical) and site in e.coefficients(n)
                  for n in model.thetas for e in model.parameters[n].effects)
        prior = est.prior or (lognormal_around(est.initial) if cat else dist.Normal(est.initial, 1.0))
        lines.append(f"  {site} ~ {describe_prior(prior)}")
    lines.append("$OMEGA  (SD of eta on the log scale; eta = diag(omega) L z, z ~ N(0, 1))")
    if not model.iiv:
        lines.append("  none (no inter-individual variability)")
    for block in model.iiv:
        kind = "full block" if block.correlated and len(block.parameters) > 1 else "diagonal"
        text = f"  {kind} ({', '.join(block.parameters)}): omega ~ HalfNormal({block.sd_prior:g})"
        if kind == "full block":
            text += f"; correlation ~ LKJ({block.lkj:g})"
        lines.append(text)
    if model.iov is not None:
        lines.append(f"  IOV ({', '.join(model.iov.parameters)}) by occasion column {model.iov.occasion}: "
                     f"omega_iov ~ HalfNormal({model.iov.sd_prior:g})")
    lines.append("$ERROR")
    for out in model.error:
        suffix = "" if len(model.error) == 1 else f"_{out.name}"
        where = ""
        if out.dvid is not None:
            where = f"  (records with DVID = {out.dvid:g}" + (f", predicted as CMT {out.cmt})" if out.cmt else ")")
        lines.append(f"  {out.error.text(suffix)}{where}")
        priors = "; ".join(f"sigma_{k}{suffix} ~ HalfNormal({2 * v:g})" for k, v in out.error.sds().items())
        lines.append(f"    {priors}")
    lines.append("  BLQ records (BLQ = 1, MDV = 0): M3, likelihood = P(Y < LLOQ)")
    return "\n".join(lines)

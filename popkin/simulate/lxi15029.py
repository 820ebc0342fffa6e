"""The LXI-15029 dose-selection scenario: candidate regimens, the efficacy target, the
exposure-toxicity fits to the published adverse events, and the selection rule.

Everything here is a stated, changeable assumption on top of the generic machinery:

* PK: the true population model of the virtual trial
  (``popkin.datasets.lxi15029.POPULATION``: one compartment, first-order absorption
  after a lag with a dose-dependent bioavailability, parallel linear and
  Michaelis-Menten elimination auto-inhibited through enzyme turnover; concentrations
  in ng/mL) as a ``FixedPopulation`` (``true_population``), or a fit's posterior.
* Exposure metric: Cav,ss (ng/mL), the average steady-state concentration, which puts
  QD and BID regimens on one scale (Cav = AUCtau / tau = daily AUC / 24).
* Efficacy target (illustrative; the paper found no exposure-response for efficacy):
  Cav,ss >= 450 ng/mL, about the geometric-mean Cav,ss of the 60 and 80 mg BID cohorts
  (477 and 435 ng/mL in the paper's Table 4), where disease control was seen.
* Toxicity: logistic exposure-response models (``popkin.simulate.toxicity``) of the
  Table 2 counts per dose group: ``alt_increased`` (hepatic; the one DLT, a grade 3 ALT
  increase at 150 mg, is one of these patients, so "DLT or hepatic event" has the same
  counts as ``alt_increased``), ``leukocytopenia``, ``neutropenia`` and ``dlt``.
* Rule: the highest P(target) among regimens whose posterior median
  P(alt_increased) is at most 0.25 (``DEFAULT_RULE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from popkin.dosing import Regimen, bid, qd
from popkin.simulate.design import SteadyState
from popkin.simulate.population import FixedPopulation, ParameterSource
from popkin.simulate.run import Settings, Simulation, simulate
from popkin.simulate.selection import Limit, SelectionRule, selection_table
from popkin.simulate.summary import Target
from popkin.simulate.toxicity import EventCounts, ToxicityFit, ToxicityOptions, event_counts, fit_toxicity

__all__ = ["TRIAL_DOSES", "ENDPOINTS", "EFFICACY_TARGET", "DEFAULT_RULE", "true_population", "population_model",
           "candidate_regimens", "trial_regimens", "adverse_events", "Scenario", "dose_selection"]

TRIAL_DOSES = (10, 20, 40, 60, 80, 110, 150)
"""Dose groups of the trial (mg BID)."""

ENDPOINTS = ("alt_increased", "leukocytopenia", "neutropenia", "dlt")

EFFICACY_TARGET = Target("cav", low=450.0)

DEFAULT_RULE = SelectionRule(f"P({EFFICACY_TARGET.name})", (Limit("P(alt_increased)", upper=0.25),))


def population_model():
    """The virtual trial's true model as a ``popkin.model.PopulationModel`` (initial
    values = the true values; S2 = V/1000 so concentrations are in ng/mL)."""
    from popkin.datasets.lxi15029 import POPULATION as truth
    from popkin.model import IIV, CombinedError, Derived, Fixed, PopulationModel, Theta

    units = {"VM": "mg/h", "KM": "mg/L", "V": "L", "KA": "1/h", "CL": "L/h", "KDEG": "1/h", "KINACT": "1/h",
             "KI": "mg/L", "FD50": "mg", "FGAM": "-", "ALAG1": "h"}
    params = {k: Theta(float(v), units.get(k, "")) for k, v in truth.typical.items()}
    params.update({k: Fixed(float(v), units.get(k, "")) for k, v in truth.constants.items()})
    params["S2"] = Derived(lambda p: p["V"] / 1000.0, "V/1000")
    iiv = IIV(tuple(k for k in truth.typical if k in truth.omega))
    return PopulationModel(truth.model, params, error=CombinedError(add=truth.sigma_add, prop=truth.sigma_prop),
                           iiv=iiv, name="lxi15029-truth",
                           description="true population model of the virtual LXI-15029 trial")


def true_population() -> FixedPopulation:
    """The true population of the virtual trial (omegas as published with it)."""
    from popkin.datasets.lxi15029 import POPULATION as truth

    model = population_model()
    return FixedPopulation(model, {"omega": {k: float(truth.omega[k]) for k in model.eta_names}})


def candidate_regimens(days: int = 28) -> dict[str, Regimen]:
    """Candidate regimens: 20-150 mg BID including intermediate doses, and QD
    alternatives with the same daily amounts as 60-150 mg BID."""
    out = {f"{d} mg BID": bid(d, days=days) for d in (20, 40, 60, 80, 90, 100, 110, 120, 130, 150)}
    out.update({f"{d} mg QD": qd(d, days=days) for d in (120, 160, 220, 300)})
    return out


def trial_regimens(days: int = 28) -> dict[str, Regimen]:
    """The trial's dose groups, labelled as in ``adverse_events`` ("10 mg BID", ...)."""
    return {f"{d} mg BID": bid(d, days=days) for d in TRIAL_DOSES}


def adverse_events(endpoint: str) -> EventCounts:
    """Patients with ``endpoint`` per dose group, from the published Table 2 (bundled)."""
    from popkin.datasets import lxi15029_published

    table = lxi15029_published().adverse_events
    return event_counts(table, endpoint, lambda d: f"{d} mg BID")


@dataclass(frozen=True)
class Scenario:
    """The result of ``dose_selection``: the selection ``table``, the candidate and
    trial-group simulations, the toxicity fits by endpoint, the target and the rule."""

    table: pd.DataFrame
    candidates: Simulation
    groups: Simulation
    toxicity: dict
    target: Target
    rule: SelectionRule
    predictive_checks: dict = field(default_factory=dict)


def dose_selection(source: ParameterSource | None = None, settings: Settings = Settings(n=2000),
                   target: Target = EFFICACY_TARGET, rule: SelectionRule = DEFAULT_RULE,
                   endpoints=ENDPOINTS, metric: str = "cav", options: ToxicityOptions = ToxicityOptions(),
                   candidates: dict | None = None) -> Scenario:
    """Run the scenario: simulate the candidates and the trial's dose groups at steady
    state, fit the exposure-toxicity models, build the table and apply the rule."""
    source = true_population() if source is None else source
    settings = Settings(**{**settings.__dict__, "exposure": SteadyState()})
    groups = simulate(source, trial_regimens(), settings)
    fits: dict[str, ToxicityFit] = {e: fit_toxicity(adverse_events(e), groups, metric, options) for e in endpoints}
    cands = simulate(source, candidates or candidate_regimens(), settings)
    table = selection_table(cands, [target], fits, metrics=(metric, "cmax", "ctrough"), rule=rule)
    checks = {e: f.predictive_check() for e, f in fits.items()}
    return Scenario(table, cands, groups, fits, target, rule, checks)

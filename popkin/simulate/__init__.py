"""Virtual-population simulation, target attainment, exposure-toxicity, dose selection
and PK-guided individual dosing (docs/simulation.md and docs/dosing.md).

    from popkin.simulate import FixedPopulation, Settings, simulate, attainment, Target
    sim = simulate(FixedPopulation(model), {"110 mg BID": bid(110, days=28)}, Settings(n=10_000))
    attainment(sim, [Target("ctrough", low=5.0)])
"""

from popkin.simulate.bayes import IndividualPosterior, PosteriorOptions, individual_posterior
from popkin.simulate.design import LastInterval, Quadrature, SteadyState, Window
from popkin.simulate.guided import DoseOptions, Recommendation, forecast, recommend
from popkin.simulate.population import (FixedPopulation, ParameterSource, PopulationDraws, PosteriorPopulation,
                                       UncertaintyPopulation)
from popkin.simulate.profiles import profile_bands, profiles
from popkin.simulate.run import Settings, Simulation, metrics_for_parameters, simulate, virtual_patients
from popkin.simulate.selection import Limit, SelectionRule, selection_table
from popkin.simulate.summary import Target, attainment, summarise
from popkin.simulate.toxicity import EventCounts, LogisticPriors, ToxicityFit, ToxicityOptions, fit_toxicity, risk

__all__ = [
    "FixedPopulation", "PosteriorPopulation", "UncertaintyPopulation", "ParameterSource", "PopulationDraws",
    "Settings", "Simulation", "simulate", "virtual_patients", "metrics_for_parameters",
    "SteadyState", "LastInterval", "Window", "Quadrature",
    "profiles", "profile_bands",
    "Target", "summarise", "attainment",
    "EventCounts", "LogisticPriors", "ToxicityOptions", "ToxicityFit", "fit_toxicity", "risk",
    "Limit", "SelectionRule", "selection_table",
    "PosteriorOptions", "IndividualPosterior", "individual_posterior",
    "DoseOptions", "Recommendation", "recommend", "forecast",
]

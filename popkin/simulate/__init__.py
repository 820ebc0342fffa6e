"""Virtual-population simulation, target attainment, exposure-toxicity, dose selection
and PK-guided individual dosing (see docs/simulation.md and docs/dosing.md).

    from popkin.simulate import FixedPopulation, Settings, simulate
    sim = simulate(FixedPopulation(model), {"110 mg BID": bid(110, days=28)}, Settings(n=10_000))
"""

from popkin.simulate.design import LastInterval, Quadrature, SteadyState, Window
from popkin.simulate.population import FixedPopulation, ParameterSource, PopulationDraws, PosteriorPopulation
from popkin.simulate.run import Settings, Simulation, simulate, virtual_patients

__all__ = [
    "FixedPopulation", "PosteriorPopulation", "ParameterSource", "PopulationDraws",
    "Settings", "Simulation", "simulate", "virtual_patients",
    "SteadyState", "LastInterval", "Window", "Quadrature",
]

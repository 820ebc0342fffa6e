"""Inference for population models: NUTS, MAP (Laplace from ``popkin.infer.laplace``),
conversion to arviz InferenceData, the parameter table, save/load.

    from popkin.infer import fit, load, NUTSOptions
    result = fit(model, dataset, method="nuts", options=NUTSOptions(chains=4))
    print(result.table)
    result.save("theoph.nc"); again = load("theoph.nc")
"""

from popkin.infer.fit import METHODS, ConvergenceWarning, fit
from popkin.infer.map import MAPOptions
from popkin.infer.nuts import NUTSOptions, Sampler
from popkin.infer.outputs import write_outputs
from popkin.infer.problem import FitData, Problem, bind
from popkin.infer.result import FitResult, load

__all__ = ["fit", "load", "FitResult", "NUTSOptions", "MAPOptions", "Sampler", "ConvergenceWarning",
           "METHODS", "Problem", "FitData", "bind", "write_outputs"]

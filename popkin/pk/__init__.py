"""Structural PK/PD models: the model interface, closed forms, the event engine and
predictions at fixed parameters.

    model = popkin.pk.get_model("1cmt-oral")         # or OneCompartment(oral=True)
    conc = popkin.pk.predict(model, events.subject(0), {"CL": 1.1, "V": 20, "KA": 1.5})
    table = popkin.pk.predict_frame("trial.csv", "1cmt-oral", {"CL": 1.1, "V": 20, "KA": 1.5})
"""

# popkin.pk.predict (the module) is imported first: importing a submodule binds its
# name on the package, and the name ``predict`` must end up meaning the function.
from popkin.pk.predict import predict_frame  # noqa: I001
from popkin.pk.closed_form import OneCompartment, TwoCompartment
from popkin.pk.engine import generated_slots, predict, predict_population, solve, solve_population
from popkin.pk.model import (
    Model,
    StructuralModel,
    available_models,
    get_model,
    load_model,
    register,
    resolve_parameters,
)

__all__ = [
    "Model",
    "StructuralModel",
    "OneCompartment",
    "TwoCompartment",
    "available_models",
    "get_model",
    "load_model",
    "register",
    "resolve_parameters",
    "solve",
    "predict",
    "solve_population",
    "predict_population",
    "generated_slots",
    "predict_frame",
]

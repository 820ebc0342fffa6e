"""``fit(model, data, method, options)``: the one entry point to inference.

Methods are functions ``run(problem, options) -> FitResult`` in ``METHODS``:

* ``"nuts"``: ``NUTSOptions`` (default 4 chains x 500 warm-up x 500 draws, target
  acceptance 0.9, started from the MAP);
* ``"map"``: ``MAPOptions``; the joint posterior mode;
* ``"laplace"``: provided by ``popkin.infer.laplace`` when that module exists; it must
  define ``run(problem, options) -> FitResult`` and an ``Options`` dataclass (the
  default when ``options`` is None). This is the dispatch point for it.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import importlib.util
import json
import warnings
from typing import Callable

import numpy as np

from popkin.errors import FitError
from popkin.infer.convert import to_inference_data
from popkin.infer.map import MAPOptions, find_mode
from popkin.infer.nuts import NUTSOptions, Sampler
from popkin.infer.pointwise import pointwise
from popkin.infer.problem import Problem, bind
from popkin.infer.result import FitResult
from popkin.infer.table import convergence_warnings, parameter_table
from popkin.model import PopulationModel


class ConvergenceWarning(UserWarning):
    """A fit finished but its diagnostics say its numbers may not be trustworthy."""


def _attrs(problem: Problem, method: str, options) -> dict:
    from popkin import __version__

    return {
        "popkin_version": __version__,
        "inference_library": "numpyro",
        "method": method,
        "options": json.dumps(dataclasses.asdict(options)),
        "model": str(problem.model),
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _finish(problem: Problem, method: str, options, samples: dict, stats: dict, points, extra_warnings=(),
            stacklevel: int = 4):
    idata = to_inference_data(problem, samples, stats, points, _attrs(problem, method, options))
    table = parameter_table(problem.model, idata, method)
    msgs = list(extra_warnings) + convergence_warnings(idata, table, getattr(options, "max_tree_depth", None))
    for m in msgs:
        warnings.warn(m, ConvergenceWarning, stacklevel=stacklevel)  # user -> fit -> run_map -> _finish
    return FitResult(idata, table, method, tuple(msgs), problem.model, problem)


def run_nuts(problem: Problem, options: NUTSOptions) -> FitResult:
    """NUTS (see ``popkin.infer.nuts``), then pointwise log-likelihood and predictions."""
    draws = Sampler(problem, options).run(problem)
    return nuts_result(problem, options, draws.samples, draws.stats)


def nuts_result(problem: Problem, options: NUTSOptions, samples: dict, stats: dict) -> FitResult:
    """The ``FitResult`` of NUTS draws (sampler field -> (chains, draws, ...)): pointwise
    log-likelihood, predictions, table and warnings. Also for chains sampled elsewhere (one
    process per chain) and stacked along the first axis."""
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in samples.items()}
    points = pointwise(problem, flat, seed=options.seed + 1)
    return _finish(problem, "nuts", options, samples, stats, points, stacklevel=5)  # ... -> nuts_result


def run_map(problem: Problem, options: MAPOptions) -> FitResult:
    """The joint posterior mode as a one-draw posterior."""
    mode = find_mode(problem, options)
    samples = {k: np.asarray(v)[None, None] for k, v in mode.values.items()}
    flat = {k: v[0] for k, v in samples.items()}
    points = pointwise(problem, flat, seed=options.seed)
    stats = {"potential_energy": np.asarray([[-mode.log_density]])}
    extra = () if mode.converged else (f"MAP optimiser did not converge: {mode.message}",)
    result = _finish(problem, "map", options, samples, stats, points, extra)
    del result.idata["posterior_predictive"]  # one simulated data set at the mode is not a predictive
    return result


METHODS: dict[str, tuple[Callable, type]] = {"nuts": (run_nuts, NUTSOptions), "map": (run_map, MAPOptions)}


def _method(method: str):
    if method in METHODS:
        return METHODS[method]
    if method == "laplace" and importlib.util.find_spec("popkin.infer.laplace") is not None:
        module = importlib.import_module("popkin.infer.laplace")
        return module.run, module.Options
    known = sorted(METHODS) + (["laplace"] if importlib.util.find_spec("popkin.infer.laplace") else [])
    raise FitError(f"unknown method {method!r}; choose one of {', '.join(known)}")


def fit(model: PopulationModel | str, data, method: str = "nuts", options=None) -> FitResult:
    """Fit a population model to data.

    model: a ``PopulationModel``, or the path of a catalogue file (``models/*.py``)
        defining ``model``.
    data: a ``Dataset`` from ``popkin.data.read`` (or its packed ``EventArrays``).
    method: "nuts" (default), "map", or "laplace" when available.
    options: the method's options dataclass (``NUTSOptions``, ``MAPOptions``); None for
        its defaults.

    Returns a ``FitResult`` (InferenceData, parameter table, warnings). Convergence
    problems are also issued as ``ConvergenceWarning``.
    """
    if isinstance(model, str):
        from popkin.infer.catalogue import load_catalogue_model

        model = load_catalogue_model(model).model
    if not isinstance(model, PopulationModel):
        raise FitError(f"fit needs a popkin.model.PopulationModel, got {type(model).__name__}")
    run, default = _method(method)
    options = default() if options is None else options
    if not isinstance(options, default):
        raise FitError(f"method {method!r} takes {default.__name__}, got {type(options).__name__}")
    return run(bind(model, data), options)

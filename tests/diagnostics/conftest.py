"""Shared fixture: the simulated trial of ``tests.diagnostics.helpers``, bound to its model."""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import pytest  # noqa: E402

from popkin.data import read  # noqa: E402
from popkin.infer.problem import bind  # noqa: E402
from tests.diagnostics.helpers import TRUTH, population_model, simulate_frame  # noqa: E402


@pytest.fixture(scope="session")
def simulated():
    """(problem, true values, true individual parameters) of the simulated trial; one model
    object for the whole session, so compiled functions are shared between tests."""
    frame, indiv = simulate_frame()
    problem = bind(population_model(), read(frame))
    values = {k: v for k, v in TRUTH.items()}
    return problem, values, indiv

"""Fixtures for the simulation tests: float64 JAX, shared models (one object per
session so compiled simulation functions are reused across tests)."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)

from popkin.model import IIV, PopulationModel, ProportionalError, Theta  # noqa: E402


@pytest.fixture(scope="session")
def oral1():
    """One compartment, first-order absorption, IIV 30% on CL, V and KA."""
    return PopulationModel(
        "1cmt-oral",
        {"CL": Theta(5.0, "L/h"), "V": Theta(50.0, "L"), "KA": Theta(1.5, "1/h")},
        iiv=IIV(("CL", "V", "KA"), initial=0.3),
        error=ProportionalError(0.15),
        name="oral1",
    )

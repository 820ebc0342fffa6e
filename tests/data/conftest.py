"""Fixtures for the data-layer tests: float64 JAX and the shared reference data."""

import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)

SHARED = Path(os.environ.get("POPKIN_SHARED_DATA", "/work/shared/data"))


@pytest.fixture(scope="session")
def shared():
    """The folder of reference data sets (see its README.md); tests skip without it."""
    if not (SHARED / "nlmixr2data").is_dir():
        pytest.skip(f"reference data not found at {SHARED} (set POPKIN_SHARED_DATA)")
    return SHARED

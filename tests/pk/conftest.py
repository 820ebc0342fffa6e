import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)


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

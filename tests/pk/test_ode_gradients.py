"""Gradients of ODE-model predictions (through the event engine) against central finite
differences, for every structural parameter and the dose modifiers F1 and ALAG1."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from popkin.data.events import pack  # noqa: E402
from popkin.pk.engine import predict, predict_population  # noqa: E402
from popkin.pk.ode import ODEOptions  # noqa: E402
from popkin.pk.ode_models import CompartmentODE  # noqa: E402
from tests.pk.test_ode_reference import Dose, frame  # noqa: E402

# Tight tolerances so that the solver's own error (~1e-12 relative) is far below what
# the finite differences resolve: with a relative step h = 1e-4 the central difference
# has truncation error O(h^2) ~ 1e-8 and solver noise ~ rtol / h ~ 1e-8 (relative to the
# prediction); the assertion allows 2e-6 relative per derivative, plus 1e-7 of the
# column's largest derivative for entries that are nearly zero.
MODEL = CompartmentODE(2, "oral", "mm-linear", options=ODEOptions(rtol=1e-12, atol=1e-12))
PARAMS = dict(CL=1.2, VM=30.0, KM=2.5, V1=14.0, Q=3.0, V2=35.0, KA=0.8, F1=0.7, ALAG1=0.4)
H = 1e-4


def test_prediction_gradients_match_central_differences():
    doses = [Dose(0.0, 1, 300.0), Dose(12.0, 2, 150.0, 3.0), Dose(24.0, 1, 300.0)]
    times = [0.7, 2.0, 6.0, 12.5, 14.0, 20.0, 25.0, 30.0, 48.0]
    ev = pack(frame(doses, times, obs_cmt=2))
    obs = np.asarray(ev.obs[0])
    one = ev.subject(0)
    names = list(PARAMS)

    def preds(theta):
        return predict(MODEL, one, dict(zip(names, theta)), steady_state=False)[obs]

    theta = jnp.asarray([PARAMS[k] for k in names])
    jac = np.asarray(jax.jit(jax.jacrev(preds))(theta))            # (n_obs, n_params)

    # central differences: all 2 * n_params perturbed parameter sets in one vmapped call
    steps = H * np.abs(np.asarray(theta))
    plus = np.asarray(theta)[None, :] + np.diag(steps)
    minus = np.asarray(theta)[None, :] - np.diag(steps)
    batch = np.concatenate([plus, minus])
    n = batch.shape[0]
    events = pack(pd.concat([frame(doses, times, obs_cmt=2, subject=i) for i in range(n)]))
    pop = jax.jit(lambda e, p: predict_population(MODEL, e, p, steady_state=False))
    out = np.asarray(pop(events, {k: jnp.asarray(batch[:, i]) for i, k in enumerate(names)}))[:, obs]
    fd = ((out[:len(names)] - out[len(names):]) / (2 * steps[:, None])).T   # (n_obs, n_params)

    assert np.all(np.isfinite(jac))
    for i, name in enumerate(names):
        scale = np.max(np.abs(fd[:, i]))
        assert scale > 0, name
        np.testing.assert_allclose(jac[:, i], fd[:, i], rtol=2e-6, atol=1e-7 * scale, err_msg=name)
    # the solution is not trivially insensitive: saturable and linear routes both matter
    assert np.min(np.abs(jac[:, names.index("VM")])) > 0 and np.min(np.abs(jac[:, names.index("CL")])) > 0

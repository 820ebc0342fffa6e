"""Steady states of nonlinear models are solved only for the SS dose records
(``steady_state=K``, ``ss_records``), not for every record.

Known truth without an ODE: the one-compartment closed form flagged as nonlinear
(``linear = False``) goes through the nonlinear path (Newton on the one-interval map)
while its exact steady state comes from the linear path (linear algebra). Tolerance
1e-9: the Newton iteration stops at a relative change of 1e-10.
"""

from dataclasses import dataclass

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from popkin.data.events import pack  # noqa: E402
from popkin.pk.closed_form import OneCompartment  # noqa: E402
from popkin.pk.engine import predict_population, ss_records  # noqa: E402


@dataclass(frozen=True)
class FlaggedNonlinear(OneCompartment):
    """The closed form, routed through the engine's nonlinear steady-state path."""

    linear = False


def _frame():
    rows = []
    # subject 1: two SS records (SS=1 oral, then SS=2 IV bolus on top) and observations
    rows += [dict(ID=1, TIME=0.0, EVID=1, AMT=100.0, CMT=1, II=12.0, SS=1),
             dict(ID=1, TIME=0.0, EVID=1, AMT=50.0, CMT=2, II=12.0, SS=2)]
    rows += [dict(ID=1, TIME=t, EVID=0, CMT=2) for t in (0.5, 2.0, 6.0, 11.9)]
    # subject 2: one SS record among ordinary doses
    rows += [dict(ID=2, TIME=0.0, EVID=1, AMT=80.0, CMT=1, II=0.0, SS=0),
             dict(ID=2, TIME=24.0, EVID=1, AMT=80.0, CMT=1, II=8.0, SS=1)]
    rows += [dict(ID=2, TIME=t, EVID=0, CMT=2) for t in (1.0, 25.0, 30.0)]
    frame = pd.DataFrame(rows).fillna({"AMT": 0.0, "II": 0.0, "SS": 0}).assign(RATE=0.0, ADDL=0, DV=np.nan)
    frame["MDV"] = (frame["EVID"] != 0).astype(int)
    return frame


def test_nonlinear_steady_states_only_at_ss_records_equal_the_exact_ones():
    ev = pack(_frame())
    assert ss_records(ev) == 2 and ss_records(ev.subject(1)) == 1
    p = {"CL": jnp.array([3.0, 5.0]), "V": jnp.array([30.0, 50.0]), "KA": jnp.array([1.2, 0.7])}
    run = jax.jit(lambda model, flag: predict_population(model, ev, p, steady_state=flag), static_argnums=(0, 1))
    exact = np.asarray(run(OneCompartment(oral=True), True))
    np.testing.assert_allclose(np.asarray(run(OneCompartment(oral=True), 2)), exact, rtol=1e-12)  # linear, gathered
    every = np.asarray(run(FlaggedNonlinear(oral=True), True))      # a fixed point per record
    gathered = np.asarray(run(FlaggedNonlinear(oral=True), 2))      # only the 2 SS records
    mask = np.asarray(ev.mask)
    assert np.all(exact[mask][np.asarray(ev.obs)[mask]] > 0.01)
    np.testing.assert_allclose(every[mask], exact[mask], rtol=1e-9)
    np.testing.assert_allclose(gathered[mask], exact[mask], rtol=1e-9)
    # too few slots: the subject with two SS records gets NaN, never a wrong number;
    # the other subject is unaffected
    short = np.asarray(run(FlaggedNonlinear(oral=True), 1))
    assert np.all(np.isnan(short[0][mask[0]]))
    np.testing.assert_allclose(short[1][mask[1]], exact[1][mask[1]], rtol=1e-9)

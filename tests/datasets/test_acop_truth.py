"""The ACOP 2016 truth is what the data were simulated with: predicting every
observation of Oral_1CPT with the true individual parameters (popkin's closed-form
``1cmt-oral`` over the whole dosing history, steady-state records included) leaves
residuals with the published error model, 20 % proportional.

Tolerances: with 6947 observations, the median of log(DV/PRED) of a correct truth is 0
within about 0.005 (SE ~ 1.25 * 0.2 / sqrt(6947)); 0.02 allows for the rounding of the
parameters in the file (3-4 digits). The SD of DV/PRED - 1 estimates the proportional
error (0.20) within about 0.004; 0.185-0.215 fails a wrong unit, a wrong volume or a
swapped parameter by a wide margin.
"""

from __future__ import annotations

import jax
import numpy as np

from popkin import datasets
from popkin.pk import get_model
from popkin.pk.engine import predict_population

jax.config.update("jax_enable_x64", True)


def test_oral_1cpt_truth_reproduces_the_data():
    ds = datasets.acop("Oral_1CPT")
    events = ds.pack()
    columns, model_name = datasets.ACOP_SETS["Oral_1CPT"]
    truth = ds.truth.set_index("ID").loc[list(events.ids)]
    params = {c: truth[c].to_numpy(float) for c in columns}
    model = get_model(model_name)
    pred = np.asarray(jax.jit(lambda e, p: predict_population(model, e, p))(events, params))
    obs = np.asarray(events.obs)
    dv, pr = np.asarray(events.dv)[obs], pred[obs]
    assert obs.sum() == 6947 and np.all(pr > 0)
    assert abs(np.median(np.log(dv / pr))) < 0.02
    assert 0.185 < np.std(dv / pr - 1) < 0.215

"""Concentration-time profiles of virtual patients and their percentile bands.

The regimen's event frame (with observation records at ``times``) is packed once and
broadcast over the patients of a chunk; the same patient keys as ``simulate`` are used,
so patient ``i`` here is patient ``i`` there. Profiles are [patients x times] arrays, so
only ``Settings.n`` patients per draw are simulated: keep n x draws x times modest
(10^4 x 200 points = 16 MB); the exposure metrics of ``simulate`` are the way to go to
10^5-10^6 patients.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from popkin.data.events import pack
from popkin.dosing import Regimen
from popkin.pk.engine import bolus_only, predict, ss_records
from popkin.simulate.individuals import (add_residual_error, individual, patient_draws, patient_keys,
                                         random_effects)
from popkin.simulate.population import ParameterSource, PopulationDraws
from popkin.simulate.run import Settings, _chunk_size
from popkin.simulate.summary import across_draws

__all__ = ["profiles", "profile_bands", "predict_profiles", "with_residual_error"]


def _profile_fn(model, steady_state: int, observed: bool, plain: bool, draws: PopulationDraws, events, pos, index,
                key, per_draw):
    keys = patient_keys(key, index)
    d = patient_draws(index, per_draw, draws.n_draws)
    z, row = random_effects(keys, draws, len(model.eta_names))
    params = individual(model, draws, d, z, row)
    pred = jax.vmap(lambda p: predict(model.structural, events, p, steady_state=steady_state,
                                      bolus_only=plain)[pos])(params)
    if observed:
        pred = add_residual_error(model, draws, d, keys, pred)
    return pred


_profile_jit = jax.jit(_profile_fn, static_argnums=(0, 1, 2, 3))


def profiles(source: ParameterSource, regimen: Regimen, times: Sequence[float], settings: Settings = Settings(),
             observed: bool = False) -> np.ndarray:
    """Concentrations [N, T] of the N = n x draws virtual patients at ``times`` (h).

    observed: add the model's residual error (simulated measurements, for prediction
    intervals); False gives the model predictions (IPRED).
    """
    model = source.model
    draws = source.draws()
    times = np.asarray(times, dtype=float)
    one, pos, ss = _frame_events(regimen, times)
    plain = bolus_only(one)
    n_total = settings.n * draws.n_draws
    chunk = _chunk_size(settings.chunk, n_total)
    key = jax.random.PRNGKey(settings.seed)
    out = np.empty((n_total, len(times)))
    for start in range(0, n_total, chunk):
        res = _profile_jit(model, ss, bool(observed), plain, draws, one, jnp.asarray(pos),
                           jnp.arange(start, start + chunk), key, jnp.asarray(settings.n))
        stop = min(start + chunk, n_total)
        out[start:stop] = np.asarray(res)[:stop - start]
    return out


def _frame_events(regimen: Regimen, times: np.ndarray):
    if np.any(np.diff(times) < 0):
        raise ValueError("profile times must be in increasing order")
    frame = regimen.with_observations(times).to_frame(1)
    obs = frame["EVID"] == 0
    frame.loc[obs, "MDV"] = 0
    frame.loc[obs, "ROW"] = np.arange(int(obs.sum()))
    events = pack(frame)
    row = np.asarray(events.row)[0]
    pos = np.asarray([int(np.flatnonzero(row == k)[0]) for k in range(len(times))])
    one = dataclasses.replace(events.subject(0), ids=())
    return one, pos, ss_records(one)


def _given_profile_fn(structural, steady_state: int, plain: bool, events, pos, params):
    return jax.vmap(lambda p: predict(structural, events, p, steady_state=steady_state, bolus_only=plain)[pos])(params)


_given_profile_jit = jax.jit(_given_profile_fn, static_argnums=(0, 1, 2))


def predict_profiles(structural, params, regimen: Regimen, times: Sequence[float], chunk: int = 1024) -> np.ndarray:
    """Predicted concentrations [S, T] at ``times`` (h) for GIVEN parameters
    (name -> [S]; e.g. samples of one patient's posterior) on ``regimen``."""
    times = np.asarray(times, dtype=float)
    events, pos, ss = _frame_events(regimen, times)
    plain = bolus_only(events)
    params = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in params.items()}
    n = len(next(iter(params.values())))
    size = _chunk_size(chunk, n)
    out = np.empty((n, len(times)))
    for start in range(0, n, size):
        stop = min(start + size, n)
        part = {k: jnp.asarray(np.pad(v[start:stop], (0, size - (stop - start)), mode="edge"))
                for k, v in params.items()}
        res = _given_profile_jit(structural, ss, plain, events, jnp.asarray(pos), part)
        out[start:stop] = np.asarray(res)[:stop - start]
    return out


def with_residual_error(model, sites: dict, draw: np.ndarray, pred: np.ndarray, seed: int = 0) -> np.ndarray:
    """Simulated measurements around predictions ``pred`` [S, T]: the model's residual
    error with the SDs of population draw ``draw[s]`` (site values ``sites``)."""
    keys = patient_keys(jax.random.PRNGKey(seed), jnp.arange(pred.shape[0]))
    draws = PopulationDraws({k: jnp.asarray(v) for k, v in sites.items()}, jnp.zeros((1, 0)), ())
    return np.asarray(add_residual_error(model, draws, jnp.asarray(draw), keys, jnp.asarray(pred)))


def profile_bands(values: np.ndarray, times: Sequence[float], n_draws: int = 1,
                  percentiles: Sequence[float] = (5, 50, 95), interval: float = 0.9) -> pd.DataFrame:
    """Percentile bands of profiles [N, T] (N = n_draws x n, grouped by draw): one row
    per (time, percentile) with ``value`` (median across draws of the per-draw
    percentile) and ``lower``/``upper`` (its interval across draws; NaN for one draw)."""
    values = np.asarray(values, dtype=float)
    per = np.percentile(values.reshape(n_draws, -1, values.shape[1]), list(percentiles), axis=1)   # [P, D, T]
    rows = []
    for j, t in enumerate(np.asarray(times, float)):
        for q, block in zip(percentiles, per):
            mid, lo, hi = across_draws(block[:, j], interval)
            rows.append(dict(time=t, percentile=q, value=mid, lower=lo, upper=hi))
    return pd.DataFrame(rows)


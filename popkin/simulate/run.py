"""Chunked simulation of virtual patients: bounded memory, one compilation, seedable.

How it stays bounded and fast:

* The regimen of every arm is turned into event arrays ONCE (``design.pack_arms``) and
  broadcast over the patients of a chunk; ``vmap`` runs the event engine
  (``popkin.pk.engine.predict``) over patients. Nothing is packed per patient.
* Patients are processed in chunks of a fixed size (the last chunk is padded). Two
  jitted functions do the work: one draws the chunk's individual parameters (keys,
  population draws, covariates; no structural model), the other computes the exposure
  metrics of given parameters in one arm. The arm, the population draws and the
  patient indices are *arguments*, so every chunk of every arm reuses the same two
  compiled functions (all arms are packed to the same shapes), and the metrics function
  is the one ``metrics_for_parameters`` and PK-guided dosing use too. Device memory is O(chunk x records); host memory holds
  only the per-patient metrics, O(patients x metrics) (8 bytes each: 10^6 patients x
  10 metrics = 80 MB per arm). Concentration-time profiles are kept only when asked
  for, for a limited number of patients (``profiles``).
* Patient ``i`` draws its random effects from ``fold_in(key, i)`` (see
  ``popkin.simulate.individuals``): results do not depend on the chunk size.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from popkin.dosing import Regimen
from popkin.pk.engine import bolus_only, predict, solve, ss_records
from popkin.pk.model import observe, resolve_parameters
from popkin.simulate.design import ArmArrays, Exposure, Quadrature, SteadyState, as_arms, pack_arms
from popkin.simulate.individuals import individual, patient_draws, patient_keys, random_effects
from popkin.simulate.metrics import METRICS, window_metrics
from popkin.simulate.population import ParameterSource, PopulationDraws

__all__ = ["Settings", "Simulation", "simulate", "simulate_arms", "virtual_patients", "metrics_for_parameters"]


@dataclass(frozen=True)
class Settings:
    """How a simulation runs.

    n: virtual patients PER POPULATION DRAW (a fixed population has one draw; a
        posterior with D draws simulates n x D patients, n per draw).
    seed: integer seed of ``jax.random.PRNGKey``; equal seeds give equal patients.
    chunk: patients per compiled call (memory ~ chunk x records x a few states).
    thresholds: concentrations for the ``tat_<k>`` (time above threshold) metrics.
    exposure: ``SteadyState()``, ``LastInterval()`` or ``Window(start, length)``.
    quadrature: grid and refinement settings (``design.Quadrature``).
    progress: show a progress bar (tqdm) over chunks.
    """

    n: int = 1000
    seed: int = 0
    chunk: int = 1024
    thresholds: tuple[float, ...] = ()
    exposure: Exposure = field(default_factory=SteadyState)
    quadrature: Quadrature = field(default_factory=Quadrature)
    progress: bool = False

    def __post_init__(self):
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        if int(self.n) < 1 or int(self.chunk) < 1:
            raise ValueError(f"Settings: n and chunk must be >= 1, got n={self.n}, chunk={self.chunk}")


@dataclass(frozen=True)
class _Static:
    """The static (compile-time) part of a chunk computation.

    advance: refine Cmax/Cmin with the structural model's ``advance`` from the grid
    state at the bracket start (valid when no dose can land inside a bracket: no
    infusions in any arm and no lag time ALAG<n> in the model); otherwise each
    refinement step runs the event engine on the doses plus the probe records.
    bolus_only: the grid records qualify for the engine's bolus path
    (``popkin.pk.engine.bolus_only``).
    """

    probes: int
    refine: int
    steady_state: int
    advance: bool
    bolus_only: bool = False


@dataclass(frozen=True)
class Simulation:
    """Per-patient exposure metrics of every arm.

    metrics: arm label -> {metric -> array [N]} (see ``popkin.simulate.metrics``;
        ``tat_<k>`` for each threshold); N = n x n_draws patients, patient i belongs to
        population draw ``draw[i]``.
    draw: [N] the population draw of each patient.
    arms: the arm designs (regimens, windows, grids); settings: how it was run.
    """

    metrics: dict
    draw: np.ndarray
    arms: tuple
    settings: Settings
    n_draws: int

    @property
    def labels(self) -> list[str]:
        return [a.label for a in self.arms]

    def frame(self, arm: str | None = None) -> pd.DataFrame:
        """Long table: one row per (arm, patient) with the draw and every metric."""
        labels = [arm] if arm is not None else self.labels
        parts = []
        for lab in labels:
            m = self.metrics[lab]
            parts.append(pd.DataFrame({"arm": lab, "patient": np.arange(len(self.draw)), "draw": self.draw, **m}))
        return pd.concat(parts, ignore_index=True)

    def values(self, arm: str, metric: str) -> np.ndarray:
        """[D, n] values of ``metric`` in ``arm``, one row per population draw."""
        return np.asarray(self.metrics[arm][metric]).reshape(self.n_draws, -1)


def threshold_name(k: float) -> str:
    """Column name of the time above threshold ``k``: ``tat_<k>``."""
    return f"tat_{k:g}"


def _patient_metrics(structural, static: _Static, arm: ArmArrays, p: dict, thresholds) -> dict:
    """Metrics of one patient with parameters ``p`` (name -> scalar) in one arm (traced)."""
    ss = static.steady_state
    cmt = arm.events.cmt[arm.grid_pos]
    if static.advance:
        x = solve(structural, arm.events, p, steady_state=ss, bolus_only=static.bolus_only)[arm.grid_pos]
        q = resolve_parameters(structural, p)
        grid = jax.vmap(lambda xi, c: observe(structural, xi, q, c))(x, cmt)
        zero = jnp.zeros(x.shape[1], dtype=x.dtype)

        def conc_at(t, k0):
            start = arm.state_pos[k0]                                             # [2]

            def probe(x0, t0, c, ti):
                return observe(structural, structural.advance(x0, zero, ti - t0, q), q, c)

            return jax.vmap(lambda x0, t0, c, tt: jax.vmap(lambda ti: probe(x0, t0, c, ti))(tt))(
                x[start], arm.times[start], cmt[start], t)
    else:
        grid = predict(structural, arm.events, p, steady_state=ss, bolus_only=static.bolus_only)[arm.grid_pos]

        def conc_at(t, k0):
            del k0
            ev = _with_times(arm.probe_events, arm.probe_pos, t.reshape(-1))
            return predict(structural, ev, p, steady_state=ss)[arm.probe_pos].reshape(t.shape)

    return window_metrics(grid, conc_at, arm.times, arm.weights, arm.t0, arm.tau, thresholds,
                          static.probes, static.refine)


def _given_fn(structural, static: _Static, arm: ArmArrays, params: dict, thresholds):
    """Metrics of patients with given parameters (name -> [chunk]) in one arm (traced)."""
    return jax.vmap(lambda p: _patient_metrics(structural, static, arm, p, thresholds))(params)


_given_jit = jax.jit(_given_fn, static_argnums=(0, 1))


def _chunk_size(chunk: int, n_total: int) -> int:
    """The chunk size actually used: ``chunk``, or for fewer patients the next power of
    two (so small simulations share a handful of compiled shapes)."""
    return int(min(int(chunk), 2 ** math.ceil(math.log2(max(n_total, 1)))))


def _padded_thresholds(thresholds) -> jax.Array:
    """Thresholds padded with +inf to a multiple of 4 (fewer distinct compiled shapes)."""
    t = np.asarray(thresholds, dtype=float).reshape(-1)
    width = 4 * max(1, math.ceil(len(t) / 4))
    return jnp.asarray(np.concatenate([t, np.full(width - len(t), np.inf)]))


def _with_times(events, pos, t):
    return dataclasses.replace(events, time=events.time.at[pos].set(t))


def _can_advance(parameter_names, packed: ArmArrays) -> bool:
    """True when no dose can land strictly inside a refinement bracket (see ``_Static``)."""
    ev = packed.events
    doses = np.asarray(ev.mask) & np.isin(np.asarray(ev.evid), (1, 4))
    infusions = bool(np.any(doses & (np.asarray(ev.rate) != 0)))
    lagged = any(name.upper().startswith("ALAG") for name in parameter_names)
    return not infusions and not lagged


def simulate_arms(source: ParameterSource, arms: Sequence, settings: Settings) -> Simulation:
    """Simulate prepared arms (``design.Arm``); see ``simulate``."""
    model = source.model
    draws = source.draws()
    packed = pack_arms(arms)
    steady = ss_records(packed.events)     # 0, or the SS dose records per arm (static)
    static = _Static(settings.quadrature.probes, settings.quadrature.refine, steady,
                     _can_advance(model.parameters, packed), bolus_only(packed.events))
    n_total = settings.n * draws.n_draws
    chunk = _chunk_size(settings.chunk, n_total)
    n_chunks = math.ceil(n_total / chunk)
    key = jax.random.PRNGKey(settings.seed)
    thresholds = _padded_thresholds(settings.thresholds)
    per_draw = jnp.asarray(settings.n)
    stores = {arm.label: {m: np.empty(n_total) for m in METRICS} for arm in arms}
    tats = {arm.label: np.empty((n_total, len(settings.thresholds))) for arm in arms}
    arm_arrays = [packed.arm(a) for a in range(len(arms))]
    bar = _progress(settings.progress, len(arms) * n_chunks)
    for c in range(n_chunks):
        start = c * chunk
        stop = min(start + chunk, n_total)
        params, _ = _parameters_jit(model, draws, jnp.arange(start, start + chunk), key, per_draw)
        for arm, arrays in zip(arms, arm_arrays):
            res = _given_jit(model.structural, static, arrays, params, thresholds)
            for m in METRICS:
                stores[arm.label][m][start:stop] = np.asarray(res[m])[:stop - start]
            tats[arm.label][start:stop] = np.asarray(res["tat"])[:stop - start, :len(settings.thresholds)]
            bar.update(1)
    bar.close()
    out = {}
    for arm in arms:
        store = stores[arm.label]
        for j, k in enumerate(settings.thresholds):
            store[threshold_name(k)] = tats[arm.label][:, j]
        out[arm.label] = store
    _warn_non_finite(out)
    draw = np.arange(n_total) // settings.n
    return Simulation(out, draw, tuple(arms), settings, draws.n_draws)


def _warn_non_finite(out: dict) -> None:
    """Warn (do not fail) when some patients' metrics are not finite."""
    for label, store in out.items():
        bad = ~np.isfinite(store["auc"]) | ~np.isfinite(store["cmax"])
        if bad.any():
            warnings.warn(f"{label}: {int(bad.sum())} of {bad.size} virtual patients have non-finite exposure "
                          "metrics: an ODE solve failed, or (nonlinear elimination) the dose rate exceeds the "
                          "patient's elimination capacity so no steady state exists; check the parameters or use "
                          "LastInterval() to simulate the regimen as given", RuntimeWarning, stacklevel=3)


def simulate(source: ParameterSource, regimens: Mapping[str, Regimen] | Sequence[Regimen] | Regimen,
             settings: Settings = Settings()) -> Simulation:
    """Exposure metrics of virtual patients for each regimen.

    source: ``FixedPopulation`` or ``PosteriorPopulation``.
    regimens: a ``Regimen`` (``popkin.dosing``), a list of them (labelled by their
        labels) or a mapping label -> regimen.
    settings: ``Settings`` (patients per draw, seed, chunk, thresholds, exposure window).

    Returns a ``Simulation``; summarise it with ``popkin.simulate.summarise`` and
    ``popkin.simulate.attainment``.
    """
    arms = as_arms(regimens, settings.exposure, settings.quadrature)
    return simulate_arms(source, arms, settings)


def _parameters_fn(model, draws: PopulationDraws, index, key, per_draw):
    keys = patient_keys(key, index)
    d = patient_draws(index, per_draw, draws.n_draws)
    z, row = random_effects(keys, draws, len(model.eta_names))
    return individual(model, draws, d, z, row), row


_parameters_jit = jax.jit(_parameters_fn, static_argnums=(0,))


def metrics_for_parameters(structural, params: Mapping[str, np.ndarray], arms: Sequence,
                           settings: Settings = Settings()) -> dict:
    """Exposure metrics of patients with GIVEN parameters (no random effects drawn).

    structural: the structural model; params: name -> [S] individual parameter values
    (e.g. true parameters, or samples of one patient's posterior); arms: ``design.Arm``
    (``as_arms``). Returns arm label -> {metric -> [S]}. Used for forecasts and for
    checks against known truth; chunked like ``simulate`` (``settings.chunk``).
    """
    params = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in params.items()}
    n_total = len(next(iter(params.values())))
    packed = pack_arms(arms)
    steady = ss_records(packed.events)     # 0, or the SS dose records per arm (static)
    static = _Static(settings.quadrature.probes, settings.quadrature.refine, steady, _can_advance(params, packed),
                     bolus_only(packed.events))
    chunk = _chunk_size(settings.chunk, n_total)
    thresholds = _padded_thresholds(settings.thresholds)
    out = {}
    for a, arm in enumerate(arms):
        arm_arrays = packed.arm(a)
        store = {m: np.empty(n_total) for m in METRICS}
        tat = np.empty((n_total, len(settings.thresholds)))
        for start in range(0, n_total, chunk):
            stop = min(start + chunk, n_total)
            part = {k: jnp.asarray(np.pad(v[start:stop], (0, chunk - (stop - start)), mode="edge"))
                    for k, v in params.items()}
            res = _given_jit(structural, static, arm_arrays, part, thresholds)
            for m in METRICS:
                store[m][start:stop] = np.asarray(res[m])[:stop - start]
            tat[start:stop] = np.asarray(res["tat"])[:stop - start, :tat.shape[1]]
        for j, k in enumerate(settings.thresholds):
            store[threshold_name(k)] = tat[:, j]
        out[arm.label] = store
    return out


def virtual_patients(source: ParameterSource, settings: Settings = Settings()) -> pd.DataFrame:
    """The virtual patients a simulation with these ``settings`` uses: one row per
    patient with ``patient``, ``draw``, the structural parameters and the covariates
    (the same keys, so patient i here is patient i of ``simulate``)."""
    model = source.model
    draws = source.draws()
    n_total = settings.n * draws.n_draws
    chunk = _chunk_size(settings.chunk, n_total)
    key = jax.random.PRNGKey(settings.seed)
    parts, rows = [], []
    for start in range(0, n_total, chunk):
        params, row = _parameters_jit(model, draws, jnp.arange(start, start + chunk), key,
                                      jnp.asarray(settings.n))
        stop = min(start + chunk, n_total) - start
        parts.append({k: np.asarray(v)[:stop] for k, v in params.items()})
        rows.append(np.asarray(row)[:stop])
    frame = pd.DataFrame({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    frame.insert(0, "draw", np.arange(n_total) // settings.n)
    frame.insert(0, "patient", np.arange(n_total))
    cov = np.asarray(draws.covariates)[np.concatenate(rows)]
    for j, name in enumerate(draws.cov_names):
        frame[name] = cov[:, j]
    return frame


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(show: bool, total: int):
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="virtual patients (chunks)", unit="chunk")


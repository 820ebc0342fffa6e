"""Subjects and virtual patients split across devices with ``jax.sharding``.

Nothing here re-implements popkin: the arrays popkin already uses (``EventArrays``,
``FitData``, per-subject parameter dicts, the unconstrained point ``u`` of a population
model) are placed on a one-axis ``Mesh`` over the *subject* axis with ``NamedSharding``
(``jax.device_put``), and popkin's own jitted functions run on them unchanged: XLA's SPMD
partitioner splits the ``vmap`` over subjects across devices (the ``lax.scan`` over each
subject's records stays on its device) and adds one all-reduce for the sum of the log
density. No scheduler of our own.

    mesh = subject_mesh()                          # all local devices, axis "subjects"
    data = shard_subjects(problem.data, mesh)      # FitData: every leaf split on axis 0
    u = shard_point(u, mesh)                       # z_iiv split, population values replicated
    value = potential(model, u, data)              # popkin.infer.density, now multi-device

    pred, n = predict_sharded(structural, events, params, mesh)   # virtual patients

Shapes must divide the device count: ``pad_subjects`` / ``pad_params`` add inert
subjects (no doses, no observations) for *prediction*; a padded *log density* would also
count the padded subjects' ``z`` prior, so ``shard_subjects`` refuses an indivisible tree.

Several hosts (``jax.distributed``): call ``jax.distributed.initialize(...)`` in every
process, build ``subject_mesh(jax.devices())`` (the devices of every host), and give each
process only its own rows with ``shard_local_rows`` (``jax.make_array_from_process_local_data``);
then every process calls the same jitted function. See docs/benchmarks.md, "Several hosts".
On CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=K`` (set before JAX starts)
gives K host devices to try it on.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "subjects"
SUBJECT_SITES = ("z_iiv", "z_iov")

__all__ = ["AXIS", "subject_mesh", "subject_sharding", "replicated", "device_count", "shard_subjects",
           "shard_point", "shard_local_rows", "pad_subjects", "pad_params", "predict_sharded"]


# --------------------------------------------------------------------------- placement

def subject_mesh(devices=None) -> Mesh:
    """A one-axis ``Mesh`` named ``"subjects"`` over ``devices`` (default: all local
    devices; pass ``jax.devices()`` for every host of a ``jax.distributed`` run)."""
    devices = list(jax.local_devices() if devices is None else devices)
    return Mesh(np.asarray(devices), (AXIS,))


def subject_sharding(mesh: Mesh, ndim: int) -> NamedSharding:
    """``NamedSharding`` splitting axis 0 over the mesh, the other axes whole."""
    return NamedSharding(mesh, PartitionSpec(AXIS, *([None] * (ndim - 1))))


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array."""
    return NamedSharding(mesh, PartitionSpec())


def device_count(mesh: Mesh) -> int:
    return int(np.prod(list(mesh.shape.values())))


def _subject_count(tree) -> int | None:
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if np.ndim(x) >= 1]
    sizes = {int(np.shape(x)[0]) for x in leaves}
    if len(sizes) > 1:
        raise ValueError(f"the arrays disagree on the subject axis (axis 0): sizes {sorted(sizes)}")
    return next(iter(sizes)) if sizes else None


def _check_divides(n: int | None, d: int) -> None:
    if n is not None and n % d:
        raise ValueError(f"{n} subjects do not divide over {d} devices: pad_subjects/pad_params for "
                         "predictions; a log density needs a number of subjects divisible by the device count")


def shard_subjects(tree, mesh: Mesh):
    """Every array leaf of ``tree`` (``EventArrays``, ``FitData``, a dict of per-subject
    parameters) split over the mesh along axis 0 (the subject axis); scalars replicated.
    Raises ``ValueError`` if the leaves disagree on the number of subjects or it does
    not divide the device count."""
    _check_divides(_subject_count(tree), device_count(mesh))
    return jax.tree_util.tree_map(
        lambda x: jax.device_put(x, subject_sharding(mesh, np.ndim(x)) if np.ndim(x) >= 1 else replicated(mesh)),
        tree)


def shard_point(u: dict, mesh: Mesh, subject_sites=SUBJECT_SITES) -> dict:
    """A point of a population model (constrained or unconstrained sites): per-subject
    sites (``z_iiv``, ``z_iov``) split on axis 0, population values replicated."""
    return {k: jax.device_put(v, subject_sharding(mesh, np.ndim(v)) if k in subject_sites else replicated(mesh))
            for k, v in u.items()}


def shard_local_rows(tree, mesh: Mesh, n_total: int):
    """Several hosts: build globally sharded arrays from this process's own rows.

    Every array leaf of ``tree`` holds only the subjects this process owns (its devices'
    consecutive block of the subject axis); ``n_total`` is the number of subjects over all
    processes. Uses ``jax.make_array_from_process_local_data``; with one process this is
    ``shard_subjects``."""
    _check_divides(n_total, device_count(mesh))

    def place(x):
        x = np.asarray(x)
        if x.ndim == 0:
            return jax.device_put(x, replicated(mesh))
        return jax.make_array_from_process_local_data(subject_sharding(mesh, x.ndim), x,
                                                      (n_total,) + x.shape[1:])

    return jax.tree_util.tree_map(place, tree)


# --------------------------------------------------------------------------- padding

def pad_subjects(events, multiple: int):
    """``EventArrays`` with inert subjects appended up to a multiple of ``multiple``:
    copies of the first subject's record times with every record masked out (EVID 2, no
    dose, no observation). Returns ``(events, n_real)``."""
    n = events.n_subjects
    extra = (-n) % multiple
    if not extra:
        return events, n
    zeroed = {"mask", "obs", "blq", "amt", "rate", "ss", "ii"}

    def pad(name, x):
        x = jnp.asarray(x)
        fill = jnp.broadcast_to(x[:1], (extra,) + x.shape[1:])
        if name in zeroed:
            fill = jnp.zeros_like(fill)
        elif name == "evid":
            fill = jnp.full_like(fill, 2)
        elif name == "row":
            fill = jnp.full_like(fill, -1)
        return jnp.concatenate([x, fill], axis=0)

    kw = {f.name: pad(f.name, getattr(events, f.name)) for f in dataclasses.fields(events)
          if f.name not in ("ids", "cov_names")}
    ids = tuple(events.ids) + tuple(f"_pad{k}" for k in range(extra)) if events.ids else ()
    return type(events)(**kw, ids=ids, cov_names=events.cov_names), n


def pad_params(params: dict, n_total: int) -> dict:
    """Per-subject parameter arrays padded (with their first value) to ``n_total``;
    scalars unchanged."""
    out = {}
    for k, v in params.items():
        v = jnp.asarray(v)
        out[k] = v if v.ndim == 0 else jnp.concatenate(
            [v, jnp.broadcast_to(v[:1], (n_total - v.shape[0],) + v.shape[1:])])
    return out


# --------------------------------------------------------------------------- simulation

_PREDICT = {}


def predict_sharded(structural, events, params: dict, mesh: Mesh, steady_state: bool | None = False):
    """``popkin.pk.engine.predict_population`` for virtual patients split over the
    devices of ``mesh`` (padded to a multiple of the device count). Returns the sharded
    prediction array (padded rows included) and the number of real patients: use
    ``pred[:n]``."""
    from popkin.pk.engine import bolus_only

    d = device_count(mesh)
    events, n = pad_subjects(events, d)
    params = pad_params(params, events.n_subjects)
    plain = bolus_only(events)
    events, params = shard_subjects(events, mesh), shard_subjects(params, mesh)
    return _predict_fn(structural, steady_state, plain)(events, params), n


def _predict_fn(structural, steady_state, plain=False):
    """One jitted prediction function per (structural model, steady_state, bolus path):
    reused, so a second call with new data values of the same shapes does not recompile."""
    def make():
        return jax.jit(lambda ev, p: predict_population(structural, ev, p, steady_state=steady_state,
                                                        bolus_only=plain))

    from popkin.pk.engine import predict_population

    try:
        key = (structural, type(steady_state), steady_state, plain)   # True == 1, but not the same request
        if key not in _PREDICT:
            _PREDICT[key] = make()
        return _PREDICT[key]
    except TypeError:   # an unhashable model: no cache
        return make()

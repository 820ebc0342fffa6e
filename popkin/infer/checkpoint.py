"""One NUTS chain run in segments, its state saved to a file after each segment, so that
a chain of hours (the ODE candidates of the LXI-15029 trial) survives an interrupted
process and resumes where it stopped.

``run_chain(problem, options, path)`` gives the draws of ``Sampler(problem,
options).run(problem)`` with ``options.chains == 1`` (same start, same random stream,
same kernel), but drives numpyro's NUTS kernel itself: ``segment`` iterations at a time
in one compiled ``lax.scan`` (compiled once), and after each segment the kernel's whole
state (position, momentum key, step size and mass-matrix adaptation, iteration count)
and the draws so far are written to ``path`` (npz, written under a temporary name and
renamed, so a kill leaves the previous checkpoint whole). Run it again with the same
problem, options and path and it continues from the last segment; a checkpoint made with
other settings is refused, not overwritten. Run it with more draws and a finished chain
is extended (the same first draws, then new ones). Warm-up is segmented too: numpyro's
windowed adaptation reads the iteration count from the state.

``combine(problem, options, [draws, ...])`` stacks chains run apart (one process per
chain, seeds seed, seed + 1, ...) into the ``FitResult`` of ``fit(..., "nuts")``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from operator import attrgetter
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from popkin.errors import FitError
from popkin.infer.map import sampler_start
from popkin.infer.metric import draws_inverse_mass
from popkin.infer.nuts import EXTRA_FIELDS, Draws, NUTSOptions, PopulationNUTS, chain_starts, seed_keys
from popkin.infer.problem import Problem


def _fingerprint(problem: Problem, options: NUTSOptions, start=None, inverse_mass=None) -> str:
    ev = problem.data.events
    out = {"model": problem.model.name, "options": repr(options),
           "dv_shape": list(np.shape(ev.dv)), "dv_sum": float(np.nansum(np.asarray(ev.dv)))}
    if start is not None or inverse_mass is not None:  # a restart: its start and metric are part of the run
        digest = hashlib.sha256()
        for part in (start, inverse_mass):
            leaves = jax.tree_util.tree_leaves_with_path(part) if part is not None else []
            for key, leaf in leaves:
                digest.update(repr(key).encode() + np.ascontiguousarray(np.asarray(leaf, dtype=float)).tobytes())
        out["restart"] = digest.hexdigest()
    return json.dumps(out, sort_keys=True)


def saved_warmup(saved) -> int:
    """The warm-up length of the run a checkpoint (``np.load`` of a ``run_chain`` file)
    belongs to, read from its fingerprint."""
    return int(re.search(r"\bwarmup=(\d+)", json.loads(str(saved["fingerprint"]))["options"]).group(1))


def _same_run(saved: str, current: str) -> bool:
    """Two fingerprints of one chain: equal but for the number of draws. After warm-up
    numpyro's kernel does not depend on it, so a finished chain is extended by asking
    for more draws (its first draws are the same as before)."""
    def key(fingerprint):
        return re.sub(r"\bdraws=\d+", "draws=*", fingerprint)

    return key(saved) == key(current)


def _save(path: Path, state, done: int, collected: dict, fingerprint: str) -> None:
    leaves = jax.tree_util.tree_leaves(state)
    arrays = {f"state/{i}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays |= {f"draws/{k}": v for k, v in collected.items()}
    arrays["done"] = np.asarray(done)
    arrays["fingerprint"] = np.asarray(fingerprint)
    tmp = path.with_name(path.name + ".partial.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def run_chain(problem: Problem, options: NUTSOptions, path: str | Path, segment: int = 10,
              log=print, start: dict | None = None, inverse_mass=None) -> Draws:
    """One NUTS chain of ``problem`` (``options.chains`` must be 1), checkpointed to
    ``path`` every ``segment`` iterations and resumed from it when it exists.

    ``start`` (site -> unconstrained array, the model's own coordinates) and
    ``inverse_mass`` (numpyro's layout for ``options.dense_mass``), as
    ``restart_point`` returns them, start the chain there (not jittered, no MAP) with that
    metric instead of ``options.init`` and ``options.init_mass``; warm-up then adapts the
    step size (and the metric too unless ``options.adapt_mass`` is False).

    Returns ``Draws`` as ``Sampler.run`` (samples (1, draws, ...), stats (1, draws));
    ``log`` gets one line per segment (iteration, leapfrog steps, step size, seconds).
    The checkpoint stays at ``path`` when the chain is complete (the caller removes it)."""
    if options.chains != 1:
        raise FitError(f"run_chain runs one chain; got NUTSOptions(chains={options.chains}). "
                       "Run one process per chain with seeds seed, seed + 1, ...")
    if segment < 1:
        raise FitError(f"run_chain: segment must be >= 1, got {segment}")
    path = Path(path)
    total = options.warmup + options.draws
    kernel = PopulationNUTS(problem.model, problem.space, options)
    args = (problem.data, problem.data.events.dv)
    if options.init_mass == "map" and (start is not None or inverse_mass is not None):
        raise FitError('run_chain: a start or metric given (a restart) and NUTSOptions(init_mass="map"): '
                       'pass init_mass="unit" with them')
    fingerprint = _fingerprint(problem, options, start, inverse_mass)
    saved = np.load(path) if path.exists() else None
    if saved is not None and not _same_run(str(saved["fingerprint"]), fingerprint):
        raise FitError(f"{path} is the checkpoint of another run (model, options or data differ): "
                       "pass a new path, or delete that file to start this chain afresh")
    if saved is not None and int(saved["done"]) > total:
        raise FitError(f"{path} holds {int(saved['done'])} iterations, more than the {total} asked for "
                       f"(warm-up {options.warmup} + draws {options.draws}): ask for at least "
                       f"{int(saved['done']) - options.warmup} draws, or pass a new path")
    if saved is not None:  # any point and key of the right structure: init builds the kernel, the saved state replaces its state
        mode, init, key_run = None, sampler_start(problem, None), jax.random.PRNGKey(options.seed)
    elif start is not None:
        mode, init = None, {k: jnp.asarray(v) for k, v in start.items()}
        key_run = seed_keys(options.seed)[1]
    else:
        mode, init, key_run = chain_starts(problem, options)
        if options.init_mass == "map":
            kernel.set_map_metric(problem, mode)
    if saved is None and inverse_mass is not None:
        kernel.inverse_mass = inverse_mass
    state = kernel.init(key_run, options.warmup, init, args, {})
    if saved is not None:
        leaves, treedef = jax.tree_util.tree_flatten(state)
        state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(saved[f"state/{i}"]) for i in range(len(leaves))])
        done = int(saved["done"])
        collected = {k.split("/", 1)[1]: saved[k] for k in saved.files if k.startswith("draws/")}
        log(f"resumed {path} at iteration {done}/{total}")
    else:
        done, collected = 0, {}
    fields = ("z",) + EXTRA_FIELDS
    collect = attrgetter(*fields)   # dotted names ("adapt_state.step_size") as numpyro collects them

    @jax.jit
    def advance(state, n, args):
        def body(s, j):
            s = jax.lax.cond(j < n, lambda x: kernel.sample(x, args, {}), lambda x: x, s)
            return s, dict(zip(fields, collect(s)))
        return jax.lax.scan(body, state, jnp.arange(segment))

    while done < total:
        n = min(segment, total - done)
        start = time.time()
        state, out = advance(state, n, args)
        out = jax.tree_util.tree_map(lambda x: np.asarray(x)[:n], out)
        flat = {f"z/{k}": v for k, v in out["z"].items()} | {f: out[f] for f in EXTRA_FIELDS}
        collected = {k: np.concatenate([collected[k], v]) if k in collected else v for k, v in flat.items()}
        done += n
        _save(path, state, done, collected, fingerprint)
        log(f"iteration {done}/{total}: {np.mean(out['num_steps']):.0f} leapfrogs/iteration, "
            f"step size {float(out['adapt_state.step_size'][-1]):.3g}, {time.time() - start:.0f} s")

    keep = slice(options.warmup, total)
    z = {k.split("/", 1)[1]: jnp.asarray(v[keep]) for k, v in collected.items() if k.startswith("z/")}
    post = jax.vmap(kernel.postprocess_fn(args, {}))(z)
    samples = {k: np.asarray(v)[None] for k, v in post.items()}
    stats = {f: np.asarray(collected[f][keep])[None] for f in EXTRA_FIELDS}
    return Draws(samples, stats, mode, "checkpointed")


def restart_point(problem: Problem, options: NUTSOptions, paths) -> tuple[list[dict], object]:
    """Where new chains start and the metric they use, from the checkpoints ``paths``
    (``run_chain`` files) of an earlier run of the same model and data in the same
    coordinates (``options.parameterization``): chain i starts at the last draw of
    ``paths[i]``, and every chain gets the covariance of the draws after that run's
    warm-up, all its chains pooled (``popkin.infer.metric.draws_inverse_mass`` for
    ``options.dense_mass``). Returns (starts, inverse_mass) for ``run_chain(start=...,
    inverse_mass=...)``.

    For a run whose warm-up metric does not fit the posterior (LXI-15029: the curvature
    at the mode, a ridge it cannot see) and whose chains therefore move in short steps:
    the new run keeps its draws' spread in every direction, and its chains start where
    the earlier ones were, so that its warm-up need only adapt the step size."""
    kernel = PopulationNUTS(problem.model, problem.space, options)
    this = json.loads(_fingerprint(problem, options))
    starts, rows, w_last = [], [], None
    for path in map(Path, paths):
        if not path.exists():
            raise FitError(f"restart: {path} does not exist (the checkpoint of an earlier run_chain)")
        saved = np.load(path)
        earlier = json.loads(str(saved["fingerprint"]))
        for key in ("model", "dv_shape", "dv_sum"):
            if earlier[key] != this[key]:
                raise FitError(f"restart: {path} is a run of another model or data ({key} "
                               f"{earlier[key]} against {this[key]})")
        coords = re.search(r"parameterization=(.*?), init_mass=", earlier["options"])
        if coords is None or coords.group(1) != repr(options.parameterization):
            raise FitError(f"restart: {path} moved in other coordinates "
                           f"({coords.group(1) if coords else '?'}): pass parameterization="
                           f"{coords.group(1) if coords else '...'} so that its draws and metric fit this run")
        warmup = saved_warmup(saved)
        done = int(saved["done"])
        if done < warmup + 2:
            raise FitError(f"restart: {path} holds {done} iterations, fewer than 2 after its warm-up of {warmup}")
        z = {k.split("/", 2)[2]: saved[k] for k in saved.files if k.startswith("draws/z/")}
        w_last = {k: jnp.asarray(v[done - 1]) for k, v in z.items()}
        starts.append({k: np.asarray(v) for k, v in kernel.model_point(problem.data, w_last).items()})
        # each draw raveled as ravel_pytree ravels the kernel's position: sites by sorted name, C order
        rows.append(np.concatenate([z[k][warmup:done].reshape(done - warmup, -1) for k in sorted(z)], axis=1))
    if not starts:
        raise FitError("restart: no checkpoint files given")
    return starts, draws_inverse_mass(np.concatenate(rows), w_last, kernel.dense_mass)


def combine(problem: Problem, options: NUTSOptions, chains) -> "FitResult":
    """The ``FitResult`` of chains run apart (``run_chain`` in one process per chain,
    chain i with ``options.seed + i``), stacked in the order given: the same pointwise
    log-likelihood, table and convergence warnings as ``fit(..., "nuts")``, with
    ``options.chains`` set to the number of chains."""
    import dataclasses

    from popkin.infer.fit import nuts_result

    chains = list(chains)
    if not chains:
        raise FitError("combine: no chains given")
    samples = {k: np.concatenate([c.samples[k] for c in chains]) for k in chains[0].samples}
    stats = {k: np.concatenate([c.stats[k] for c in chains]) for k in chains[0].stats}
    return nuts_result(problem, dataclasses.replace(options, chains=len(chains)), samples, stats)

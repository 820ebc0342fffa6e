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
from popkin.infer.nuts import EXTRA_FIELDS, Draws, NUTSOptions, PopulationNUTS, chain_starts
from popkin.infer.problem import Problem


def _fingerprint(problem: Problem, options: NUTSOptions) -> str:
    ev = problem.data.events
    return json.dumps({"model": problem.model.name, "options": repr(options),
                       "dv_shape": list(np.shape(ev.dv)), "dv_sum": float(np.nansum(np.asarray(ev.dv)))},
                      sort_keys=True)


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
              log=print) -> Draws:
    """One NUTS chain of ``problem`` (``options.chains`` must be 1), checkpointed to
    ``path`` every ``segment`` iterations and resumed from it when it exists.

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
    fingerprint = _fingerprint(problem, options)
    saved = np.load(path) if path.exists() else None
    if saved is not None and not _same_run(str(saved["fingerprint"]), fingerprint):
        raise FitError(f"{path} is the checkpoint of another run (model, options or data differ): "
                       "pass a new path, or delete that file to start this chain afresh")
    if saved is not None and int(saved["done"]) > total:
        raise FitError(f"{path} holds {int(saved['done'])} iterations, more than the {total} asked for "
                       f"(warm-up {options.warmup} + draws {options.draws}): ask for at least "
                       f"{int(saved['done']) - options.warmup} draws, or pass a new path")
    if saved is None:
        mode, init, key_run = chain_starts(problem, options)
        if options.init_mass == "map":
            kernel.set_map_metric(problem, mode)
    else:  # any point and key of the right structure: init builds the kernel, the saved state replaces its state
        mode, init, key_run = None, sampler_start(problem, None), jax.random.PRNGKey(options.seed)
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

"""Cost of one log-density gradient, the unit of NUTS work, as the number of subjects grows.

    python -m benchmarks.nuts.gradient PROBLEM data.csv grad.npy [--repeats 30] [--chains 2]

Binds the problem's population model to the data file and times one jitted
``value_and_grad`` of popkin's potential energy (``popkin.infer.density.potential``, the
non-centred coordinates NUTS moves in) at a fixed point: the model's initial values in
unconstrained space plus N(0, 0.1^2) noise from a fixed seed, so the point is the same on
every machine and in float32 and float64. ``--chains C`` evaluates C such points at once
through ``jax.vmap``, as popkin's "vectorized" chain method (its choice on a GPU) does at
every leapfrog step.

Prints one JSON line: ``compile_s`` (lowering + XLA compile), ``eval_s`` (median wall time
of ``--repeats`` compiled calls, each waited for with ``block_until_ready``), the value,
and where the flattened gradient of the first point was written (``grad.npy``) so a driver
can compare float32 with float64 (``benchmarks/gpu.py``).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("problem")
    ap.add_argument("csv")
    ap.add_argument("grad_out")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--chains", type=int, default=1, help="points evaluated at once (jax.vmap)")
    args = ap.parse_args(argv)

    from benchmarks.common import emit, setup_jax

    jax = setup_jax()
    import jax.numpy as jnp
    import numpy as np
    from jax.flatten_util import ravel_pytree

    from benchmarks.nuts.problems import PROBLEMS
    from popkin.infer import bind
    from popkin.infer.density import initial_values, potential

    prob = PROBLEMS[args.problem]
    model, _ = prob.make_model()
    problem = bind(model, prob.read_popkin(args.csv))
    u0 = problem.space.unconstrain(initial_values(problem.model, problem.data))
    flat, unravel = ravel_pytree(u0)
    rng = np.random.default_rng(7)
    points = np.asarray(flat)[None, :] + 0.1 * rng.standard_normal((args.chains, flat.size))
    points = jnp.asarray(points, dtype=flat.dtype)

    def one(x, data):
        return jax.value_and_grad(lambda v: potential(problem.model, unravel(v), data))(x)

    fn = jax.jit(jax.vmap(one, in_axes=(0, None)))
    t0 = time.perf_counter()
    compiled = fn.lower(points, problem.data).compile()
    compile_s = time.perf_counter() - t0
    value, grad = compiled(points, problem.data)
    jax.block_until_ready(grad)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(points, problem.data))
        times.append(time.perf_counter() - t0)
    np.save(args.grad_out, np.asarray(grad[0], dtype=np.float64))
    emit({"problem": args.problem, "n_subjects": problem.data.n_subjects,
          "n_obs": int(np.asarray(problem.data.observed).sum()), "n_coordinates": int(flat.size),
          "chains": args.chains, "backend": jax.default_backend(), "device": str(jax.devices()[0].device_kind),
          "x64": bool(jax.config.jax_enable_x64), "compile_s": compile_s,
          "eval_s": statistics.median(times), "eval_min_s": min(times), "repeats": args.repeats,
          "value": float(value[0]), "finite": bool(np.all(np.isfinite(np.asarray(grad)))),
          "grad_file": args.grad_out})


if __name__ == "__main__":
    main()

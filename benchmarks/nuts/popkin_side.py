"""popkin's side of the NUTS comparison (one fresh subprocess per problem).

    python -m benchmarks.nuts.popkin_side PROBLEM data.csv draws.npz \
        --chains 4 --warmup 500 --draws 500 --seed 1 --target-accept 0.9 --max-tree-depth 10

Phases, timed with ``time.perf_counter`` from the start of this process:

* ``import_s``: importing jax, numpyro and popkin;
* ``read_s``: ``popkin.data.read`` + ``bind`` (model bound to the data);
* ``cold_s``: the first ``Sampler.run`` (MAP start, NUTS warm-up and draws) including
  every trace and XLA compilation: what a user waits for on the first fit;
* ``warm_s``: the same run again on the same ``Sampler`` (compiled; same seed, so the
  same draws): the sampling time proper;
* ``jit_s = cold_s - warm_s``: popkin's first-call compile (trace + JIT) time (a
  difference of two wall times: meaningless on a loaded machine, where it can even come
  out negative; ``*_cpu_s`` are the process CPU times of the same phases, all threads);
* ``logdensity_compile_s``: lowering + compiling the log density and its gradient alone.

Chains run with popkin's own choice (``popkin.infer.nuts.chain_method``: "parallel" over
XLA host devices on CPU, "vectorized" on a GPU); the driver starts this process with
``--xla_force_host_platform_device_count`` = chains on CPU.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

T_START = time.perf_counter()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("problem")
    ap.add_argument("csv")
    ap.add_argument("draws_out")
    ap.add_argument("--start-out", help="also write the chains' starting point (constrained sites, .npz)")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target-accept", type=float, default=0.9)
    ap.add_argument("--max-tree-depth", type=int, default=10)
    ap.add_argument("--no-warm", action="store_true", help="skip the second (compiled) run")
    ap.add_argument("--parameterization", default="noncentered", choices=("noncentered", "centered"),
                    help="popkin's NUTS coordinates; the study itself uses the Stan programs' (non-centred)")
    args = ap.parse_args(argv)

    from benchmarks.common import emit, setup_jax

    # phase times on stderr, so a run stopped at a time limit still says where it was
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="[popkin_side %(relativeCreated).0f ms] %(message)s")
    logging.getLogger("popkin.infer.nuts").setLevel(logging.INFO)
    jax = setup_jax()
    import numpy as np

    from benchmarks.nuts.problems import PROBLEMS
    from popkin.infer import NUTSOptions, Sampler, bind
    from popkin.infer.nuts import chain_method

    t_import = time.perf_counter()
    prob = PROBLEMS[args.problem]
    model, model_source = prob.make_model()
    ds = prob.read_popkin(args.csv)
    problem = bind(model, ds)
    t_read = time.perf_counter()

    opts = NUTSOptions(chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed,
                       target_accept=args.target_accept, max_tree_depth=args.max_tree_depth, progress=False,
                       parameterization=args.parameterization)
    sampler = Sampler(problem, opts)
    t0, c0 = time.perf_counter(), time.process_time()
    draws = sampler.run(problem)
    cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
    warm = warm_cpu = None
    if not args.no_warm:
        t0, c0 = time.perf_counter(), time.process_time()
        draws = sampler.run(problem)
        warm, warm_cpu = time.perf_counter() - t0, time.process_time() - c0

    ld_compile = _logdensity_compile_s(jax, problem)
    sites = [k for k in problem.space.shapes]
    np.savez(args.draws_out, **{k: np.asarray(draws.samples[k]) for k in sites})
    if args.start_out:  # where the chains started (the MAP, omegas floored): Stan starts there too
        from popkin.infer.map import sampler_start

        start = problem.space.constrain(sampler_start(problem, draws.mode))
        np.savez(args.start_out, **{k: np.asarray(start[k]) for k in sites})
    stats = draws.stats
    emit({
        "model_source": model_source, "chain_method": draws.chain_method, "expected_chain_method":
        chain_method(args.chains), "backend": jax.default_backend(), "devices": jax.local_device_count(),
        "x64": bool(jax.config.jax_enable_x64),
        "import_s": t_import - T_START, "read_s": t_read - t_import, "cold_s": cold, "warm_s": warm,
        "jit_s": None if warm is None else cold - warm, "logdensity_compile_s": ld_compile,
        "cold_cpu_s": cold_cpu, "warm_cpu_s": warm_cpu,
        "first_fit_total_s": t_read - T_START + cold,
        "divergent": int(np.sum(stats["diverging"])),
        "leapfrog_sampling": int(np.sum(stats["num_steps"])),
        "treedepth_max_hits": int(np.sum(stats["num_steps"] >= 2 ** args.max_tree_depth - 1)),
        "step_size": np.asarray(stats["adapt_state.step_size"])[:, -1].tolist(),
        "map_start": draws.mode is not None, "parameterization": args.parameterization,
        "n_subjects": problem.data.n_subjects, "n_obs": int(np.asarray(problem.data.observed).sum()),
        "sites": sites,
    })


def _logdensity_compile_s(jax, problem) -> float:
    """Seconds to lower and compile value-and-gradient of the potential (a fresh jit)."""
    from popkin.infer.density import initial_values, potential

    u0 = problem.space.unconstrain(initial_values(problem.model, problem.data))
    fn = jax.jit(jax.value_and_grad(lambda u, d: potential(problem.model, u, d)))
    t0 = time.perf_counter()
    fn.lower(u0, problem.data).compile()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()

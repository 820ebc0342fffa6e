"""The check and the study of popkin's multi-device path (``popkin.sharding``: subjects
and virtual patients split across devices with ``jax.sharding``; its placement helpers
are re-exported here).

popkin's own jitted functions (``popkin.infer.density.potential`` and its gradient,
``popkin.pk.engine.predict_population``) run unchanged on data placed with
``popkin.sharding.shard_subjects`` / ``shard_point``; XLA's SPMD partitioner splits the
``vmap`` over subjects and adds one all-reduce for the log-density sum.

Check (float64, CPU with several host devices; what tests/benchmarks/test_sharding.py
runs in a subprocess)::

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m benchmarks.sharding --check  # or --full-check

Study (seconds per log-density+gradient evaluation and virtual patients per second
against the number of devices, each count in its own process)::

    python -m benchmarks.sharding --study --quick|--full
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from popkin.sharding import (AXIS, device_count, pad_params, pad_subjects, predict_sharded,  # noqa: F401
                             replicated, shard_local_rows, shard_point, shard_subjects, subject_mesh,
                             subject_sharding)

_n_devices = device_count


# --------------------------------------------------------------------------- popkin on shards

def log_density_and_grad(model, u: dict, data, mesh=None, with_hlo: bool = False):
    """popkin's potential energy and its gradient at ``u``; with ``mesh``, data and point
    are sharded over subjects first. Returns (value, grad) as numpy (and the compiled
    program's text when ``with_hlo``)."""
    import jax

    if mesh is not None:
        data, u = shard_subjects(data, mesh), shard_point(u, mesh)
    compiled = _value_and_grad(model).lower(u, data).compile()
    value, grad = compiled(u, data)
    out = float(value), {k: np.asarray(g) for k, g in jax.device_get(grad).items()}
    return out + (compiled.as_text(),) if with_hlo else out


_VG = {}


def _value_and_grad(model):
    import jax

    from popkin.infer.density import potential

    if model not in _VG:
        _VG[model] = jax.jit(jax.value_and_grad(lambda u, d: potential(model, u, d)))
    return _VG[model]


def collectives(hlo_text: str) -> dict:
    """Counts of cross-device collectives in a compiled program's text."""
    return {op: hlo_text.count(f" {op}(") + hlo_text.count(f" {op}-start(")
            for op in ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter")}


# --------------------------------------------------------------------------- check

def _theoph_problem():
    from benchmarks.nuts.problems import theoph_model, shared_theoph
    import popkin.data
    from popkin.infer import bind

    model, _ = theoph_model()
    return bind(model, popkin.data.read(shared_theoph(), mapping=popkin.data.THEOPH_LAYOUT))


def _bid2_problem(n: int, sampling: str = "sparse"):
    import popkin.data
    from benchmarks.nuts.problems import bid2_model, simulate_bid2
    from popkin.infer import bind

    frame = simulate_bid2(n, sampling)
    model, _ = bid2_model()
    return bind(model, popkin.data.read(frame.assign(DV=frame["DV"])))


def _point(problem, seed: int):
    import jax.numpy as jnp

    from popkin.infer.density import initial_values

    rng = np.random.default_rng(seed)
    v = {k: np.asarray(x, float) for k, x in initial_values(problem.model, problem.data).items()}
    u = problem.space.unconstrain({k: jnp.asarray(x) for k, x in v.items()})
    return {k: jnp.asarray(np.asarray(x) + 0.3 * rng.standard_normal(np.shape(x))) for k, x in u.items()}


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(1e-300, np.max(np.abs(b)))) if a.size else 0.0


def check(tol: float = 1e-10, full: bool = False) -> dict:
    """Sharded == single-device (relative ``tol``) for popkin's log density + gradient
    (theophylline; ``full`` adds simulated BID 2-cpt, N = 100) and predictions for an
    indivisible number of virtual patients (closed form; ``full`` adds the MM ODE).
    Needs float64 and > 1 device; returns a report, raises AssertionError on mismatch."""
    import jax
    import jax.numpy as jnp

    from popkin.pk import get_model

    assert jax.config.jax_enable_x64, "the check runs in float64"
    mesh = subject_mesh()
    d = _n_devices(mesh)
    assert d > 1, "run with several devices, e.g. XLA_FLAGS=--xla_force_host_platform_device_count=4"
    report = {"devices": d, "backend": jax.default_backend(), "log_density": [], "predict": []}
    one = subject_mesh(jax.local_devices()[:1])
    problems = [("theoph", _theoph_problem)] + ([("bid2_n100_sparse", lambda: _bid2_problem(100))] if full else [])
    for name, make in problems:
        problem = make()
        u = _point(problem, 3)
        v1, g1 = log_density_and_grad(problem.model, u, problem.data, one)
        vd, gd, hlo = log_density_and_grad(problem.model, u, problem.data, mesh, with_hlo=True)
        grad_err = max(_rel(gd[k], g1[k]) for k in g1)
        placed = shard_subjects(problem.data, mesh).events.time.sharding
        row = {"problem": name, "n_subjects": problem.data.n_subjects, "value_single": v1, "value_sharded": vd,
               "value_rel_diff": abs(vd - v1) / abs(v1), "grad_rel_diff": grad_err,
               "data_shards": len(placed.device_set), "collectives": collectives(hlo)}
        # the several-hosts placement (each process gives its own rows; here one process has them all)
        local = shard_local_rows(problem.data, mesh, problem.data.n_subjects)
        vl, _ = _value_and_grad(problem.model)(shard_point(u, mesh), local)
        row["local_rows_rel_diff"] = abs(float(vl) - v1) / abs(v1)
        report["log_density"].append(row)
        assert row["value_rel_diff"] <= tol and grad_err <= tol and row["local_rows_rel_diff"] <= tol, row
        assert row["data_shards"] == d, row

    from popkin.dosing import bid

    rng = np.random.default_rng(7)
    n = 10 * d + 1                                   # not a multiple: exercises the padding
    reg = bid(100.0, days=3, cmt=1).with_observations(np.linspace(0.5, 72, 20), cmt=2)
    ev1 = reg.pack(1)
    events = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (n,) + a.shape[1:]), ev1)
    base = {"KA": 1.0, "CL": 5.0, "V": 50.0, "VM": 20.0, "KM": 2.0}
    params = {k: jnp.asarray(v * np.exp(0.3 * rng.standard_normal(n))) for k, v in base.items()}
    models = [("1cmt-oral", ("KA", "CL", "V"))] + ([("1cmt-oral-mm", ("KA", "VM", "KM", "V"))] if full else [])
    for name, keys in models:
        model = get_model(name)
        p = {k: params[k] for k in keys}
        single, _ = predict_sharded(model, events, p, one)
        multi, n_real = predict_sharded(model, events, p, mesh)
        err = _rel(np.asarray(multi)[:n_real], np.asarray(single)[:n_real])
        row = {"model": name, "n_patients": n, "padded_to": int(multi.shape[0]), "rel_diff": err,
               "output_shards": len(multi.sharding.device_set)}
        report["predict"].append(row)
        assert err <= tol and row["output_shards"] == d, row
    return report


# --------------------------------------------------------------------------- study

def _time(fn, *args, repeat: int = 5) -> float:
    import jax

    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def measure(n_subjects: int, n_patients: int) -> dict:
    """In this process (its device count): seconds per log-density+gradient evaluation
    on the BID 2-cpt problem with ``n_subjects`` (rich sampling), and virtual patients
    per second for predictions of the 2-cpt model over 7 days of BID dosing."""
    import jax
    import jax.numpy as jnp

    from popkin.dosing import bid
    from popkin.pk import get_model
    from popkin.pk.engine import predict_population

    mesh = subject_mesh()
    d = _n_devices(mesh)
    problem = _bid2_problem(n_subjects, "rich")
    u = shard_point(_point(problem, 3), mesh)
    data = shard_subjects(problem.data, mesh)
    ld_s = _time(_value_and_grad(problem.model), u, data)

    reg = bid(100.0, days=7, cmt=1).with_observations(np.linspace(0.5, 168, 50), cmt=2)
    ev1 = reg.pack(1)
    n = n_patients + (-n_patients) % d
    events = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (n,) + a.shape[1:]), ev1)
    rng = np.random.default_rng(5)
    from benchmarks.nuts.problems import TRUTH_2CPT

    params = {k: jnp.asarray(v * np.exp(0.3 * rng.standard_normal(n))) for k, v in TRUTH_2CPT.items()}
    events, params = shard_subjects(events, mesh), shard_subjects(params, mesh)
    model = get_model("2cmt-oral")
    fn = jax.jit(lambda ev, p: predict_population(model, ev, p, steady_state=False))
    sim_s = _time(fn, events, params, repeat=3)
    return {"devices": d, "backend": jax.default_backend(), "n_subjects": n_subjects,
            "logdensity_grad_s": ld_s, "n_patients": n, "simulate_s": sim_s, "patients_per_s": n / sim_s}


def study(mode: str = "quick", out_dir: Path | None = None) -> Path:
    """Run ``measure`` with 1, 2, 4 (, 8) host devices, each in its own process."""
    from benchmarks.common import (BENCH, RESULTS, machine, python_cmd, python_env, read_json_from_stdout,
                                   run_measured, write_json)

    counts = (1, 2, 4) if mode == "quick" else (1, 2, 4, 8)
    n_subj, n_pat = (100, 2000) if mode == "quick" else (1000, 100_000)
    rows = []
    for c in counts:
        print(f"[sharding] {c} device(s) ...", flush=True)
        done = run_measured(python_cmd("benchmarks.sharding", "--measure", n_subj, n_pat),
                            env=python_env(host_devices=c), cwd=BENCH.parent).check(f"sharding with {c} devices")
        row = read_json_from_stdout(done.stdout)
        row.update(done.memory())
        rows.append(row)
    print("[sharding] equality check (4 devices) ...", flush=True)
    done = run_measured(python_cmd("benchmarks.sharding", "--full-check"), env=python_env(host_devices=4),
                        cwd=BENCH.parent).check("sharding check")
    payload = {"study": "sharding", "mode": mode, "machine": machine(with_r=False), "rows": rows,
               "check": read_json_from_stdout(done.stdout),
               "note": "host devices share the machine's cores: on CPU this shows the mechanism, "
                       "not a speed-up; on several GPUs or hosts each shard has its own hardware"}
    return write_json(Path(out_dir or RESULTS) / f"sharding-{mode}.json", payload)


def main(argv=None):
    ap = argparse.ArgumentParser(description="subject-axis sharding: check, measure, study")
    ap.add_argument("--check", action="store_true", help="sharded == single device (needs >1 device)")
    ap.add_argument("--full-check", action="store_true", help="the check on more problems and the MM ODE")
    ap.add_argument("--measure", nargs=2, type=int, metavar=("N_SUBJECTS", "N_PATIENTS"))
    ap.add_argument("--study", action="store_true")
    ap.add_argument("--quick", action="store_const", dest="mode", const="quick")
    ap.add_argument("--full", action="store_const", dest="mode", const="full")
    args = ap.parse_args(argv)
    from benchmarks.common import emit, setup_jax

    if args.study:
        print(f"[sharding] wrote {study(args.mode or 'quick')}")
        return
    setup_jax(True)
    if args.check or args.full_check:
        emit(check(full=args.full_check))
    elif args.measure:
        emit(measure(*args.measure))
    else:
        ap.print_help()


if __name__ == "__main__":
    main()

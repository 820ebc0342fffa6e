"""The GPU study in one short command: float32 correctness, where the GPU overtakes the CPU,
NUTS with vectorised chains, and structural/simulation throughput at large N.

    python -m benchmarks.gpu --write-data      # once: the data files, carried to the GPU machine
    python -m benchmarks.gpu --out DIR [--budget 480] [--steps env precision gradient structural simulation nuts]
    python -m benchmarks.gpu --out benchmarks/results --name gpu_cpu_reference.json --steps env gradient \
        --cpu-reference                        # the gradient step on this CPU, for comparison

Made for a lent GPU machine with a fixed time budget: every step runs in its own
subprocess with a timeout (``benchmarks.common.run_measured``), the JSON is rewritten
after every step (``DIR/gpu.json``: what finished comes back even if the budget runs out),
and a step is skipped when the budget left is below its floor. Steps, in priority order:

* ``env``: jax, its devices and the package versions; popkin.infer must import, or the
  study stops here.
* ``precision``: the structural benchmark (``benchmarks.structural.popkin_side``: 56 BID
  doses, 100 samples, N = 10^4) in float64 and in float32, closed form and MM ODE;
  max |f32 - f64| / max |f64| over the first 5 subjects.
* ``gradient``: one value-and-gradient of the NUTS potential (``benchmarks.nuts.gradient``)
  for BID 2-cpt data at N = 10^2, 10^3, 10^4 (sparse: 3 samples per subject; rich: 21),
  2 chains at once as popkin's vectorised chains evaluate them; and float32 against
  float64 at N = 10^3 (value and gradient). ``--cpu-reference`` runs the same problems
  on this CPU the way popkin's parallel chains do: one chain per call, pinned to one core.
* ``structural``: closed form at N = 10^5 and 10^6, MM ODE at N = 10^5 (float64).
* ``simulation``: ``benchmarks.simulation.side`` (steady-state metrics of 100 mg BID),
  closed-form 2-cpt at N = 10^6 and MM ODE at N = 10^5.
* ``nuts``: popkin NUTS on ``bid2_n1000_sparse`` with the side-by-side study's settings
  (2 chains x 500 warm-up x 500 draws, seed 1, target 0.9, depth 10; one cold run,
  compile included), diagnosed with the study's own code (``benchmarks.nuts.run``); last,
  as it takes whatever time is left.

The data files are the NUTS study's (``benchmarks.nuts.problems``), written once to
``benchmarks/work/gpu_data`` (``--write-data``) and carried to the GPU machine, so both
machines read the same bytes.
"""

from __future__ import annotations

import os

# the driver never computes with JAX, but it imports modules that import it: keep it
# from reserving most of the GPU's memory ahead of the worker processes
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.common import (BENCH, WORK, machine, python_cmd, python_env, read_json_from_stdout,  # noqa: E402
                               run_measured, write_json)

DATA = WORK / "gpu_data"
STEPS = ("env", "precision", "gradient", "structural", "simulation", "nuts")
STUDY = {
    "precision_n": 10_000,
    "gradient": ("bid2_n100_sparse", "bid2_n1000_sparse", "bid2_n10000_sparse", "bid2_n1000_rich",
                 "bid2_n10000_rich"),
    "precision_problem": "bid2_n1000_sparse",
    "nuts_problem": "bid2_n1000_sparse",
    "nuts_settings": {"chains": 2, "warmup": 500, "draws": 500},
    # (model, N, subjects per compiled call)
    "structural": (("lin", 100_000, 100_000), ("lin", 1_000_000, 100_000), ("mm", 100_000, 100_000)),
    "simulation": (("2cmt-oral", 1_000_000, 131_072), ("1cmt-oral-mm", 100_000, 32_768)),
}
SMOKE = {   # --smoke: the same steps at sizes a 2-core CPU runs in a few minutes (checks the driver)
    "precision_n": 100,
    "gradient": ("bid2_n100_sparse",),
    "precision_problem": "bid2_n100_sparse",
    "nuts_problem": "bid2_n100_sparse",
    "nuts_settings": {"chains": 2, "warmup": 20, "draws": 20},
    "structural": (("lin", 1_000, 1_000), ("mm", 100, 100)),
    "simulation": (("2cmt-oral", 1_000, 1_024),),
}
SIZES = dict(STUDY)


class Budget:
    """Seconds left of the study's budget; a step's timeout never runs past it."""

    def __init__(self, seconds: float):
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()

    def timeout(self, cap: float) -> float:
        return max(1.0, min(cap, self.left() - 5.0))


def rel_diff(a, b) -> float:
    """max |a - b| / max |b|."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _worker(cmd, budget: Budget, cap: float, x64: bool = True, env_extra=None, plain: bool = False) -> dict:
    """Run a worker; its result: the JSON it printed (after ``@@RESULT@@``, or the last
    line when ``plain``), its peak memory and wall time; or the error."""
    env = python_env(x64=x64)
    env.update(env_extra or {})
    done = run_measured(cmd, env=env, cwd=BENCH.parent, timeout=budget.timeout(cap))
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-20:]
        return {"error": f"exit {done.returncode} after {done.wall_s:.0f} s", "stderr_tail": tail}
    try:
        res = json.loads(done.stdout.strip().splitlines()[-1]) if plain else read_json_from_stdout(done.stdout)
    except (ValueError, IndexError):
        return {"error": "no result line", "stdout_tail": done.stdout.strip().splitlines()[-8:]}
    res.update(done.memory(), process_wall_s=round(done.wall_s, 2))
    return res


# --------------------------------------------------------------------------- steps

ENV_SCRIPT = """
import importlib.metadata as md, json, jax
import popkin.infer  # noqa: F401  (the study needs it; fail here, not later)
names = ("jax", "jaxlib", "numpyro", "diffrax", "equinox", "arviz", "xarray", "pandas", "numpy", "scipy")
versions = {}
for n in names:
    try:
        versions[n] = md.version(n)
    except md.PackageNotFoundError:
        versions[n] = None
print("@@RESULT@@" + json.dumps({"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
      "device_kind": jax.devices()[0].device_kind, "versions": versions}))
"""


def step_env(work: Path, budget: Budget, **_) -> dict:
    res = _worker([sys.executable, "-c", ENV_SCRIPT], budget, 120)
    try:
        import subprocess

        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        res["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except Exception as exc:  # noqa: BLE001 - no nvidia-smi on a CPU machine
        res["nvidia_smi"] = f"not available ({exc.__class__.__name__})"
    return res


def _structural(work: Path, n: int, model: str, x64: bool, chunk: int, budget: Budget, cap: float) -> dict:
    from benchmarks.structural.run import write_subjects

    subjects = work / f"subjects_{n}.csv"
    if not subjects.exists():
        write_subjects(n, subjects)
    check = work / f"structural_{model}_{n}_{'f64' if x64 else 'f32'}.csv"
    res = _worker(python_cmd("benchmarks.structural.popkin_side", subjects, model, check, "--chunk", chunk),
                  budget, cap, x64=x64)
    res["check_file"] = str(check)
    return res


def step_precision(work: Path, budget: Budget, **_) -> dict:
    rows = []
    for model in ("lin", "mm"):
        n = SIZES["precision_n"]
        pair = {x64: _structural(work, n, model, x64, n, budget, 120) for x64 in (True, False)}
        row = {"model": model, "n_subjects": n, "f64": pair[True], "f32": pair[False]}
        if "error" not in pair[True] and "error" not in pair[False]:
            import pandas as pd

            a = pd.read_csv(pair[False]["check_file"]).to_numpy(float)
            b = pd.read_csv(pair[True]["check_file"]).to_numpy(float)
            row["max_rel_diff_f32_vs_f64_first5"] = rel_diff(a, b)
        rows.append(row)
    return {"rows": rows}


def _gradient(problem: str, x64: bool, chains: int, work: Path, budget: Budget, cap: float, core=None) -> dict:
    grad = work / f"grad_{problem}_{'f64' if x64 else 'f32'}_c{chains}.npy"
    cmd = python_cmd("benchmarks.nuts.gradient", problem, DATA / f"{problem}.csv", grad, "--chains", chains)
    if core is not None:
        cmd = ["taskset", "-c", str(core)] + cmd
    return _worker(cmd, budget, cap, x64=x64)


def step_gradient(work: Path, budget: Budget, cpu_reference: bool = False, **_) -> dict:
    chains, core = (1, 0) if cpu_reference else (SIZES["nuts_settings"]["chains"], None)
    rows = [_gradient(p, True, chains, work, budget, 150, core) for p in SIZES["gradient"]]
    out = {"chains_per_call": chains, "pinned_core": core, "rows": rows}
    f32 = _gradient(SIZES["precision_problem"], False, chains, work, budget, 150, core)
    f64 = rows[list(SIZES["gradient"]).index(SIZES["precision_problem"])]
    out["f32"] = f32
    if "error" not in f64 and "error" not in f32:
        out["f32_vs_f64"] = {
            "value_rel_diff": abs(f32["value"] - f64["value"]) / abs(f64["value"]),
            "grad_max_rel_diff": rel_diff(np.load(f32["grad_file"]), np.load(f64["grad_file"])),
            "eval_s_ratio_f64_over_f32": f64["eval_s"] / f32["eval_s"]}
    return out


def step_nuts(work: Path, budget: Budget, **_) -> dict:
    from benchmarks.nuts import spec as specmod
    from benchmarks.nuts.problems import PROBLEMS
    from benchmarks.nuts.run import _popkin_diagnostics

    s, problem = SIZES["nuts_settings"], SIZES["nuts_problem"]
    npz = work / "nuts_draws.npz"
    cmd = python_cmd("benchmarks.nuts.popkin_side", problem, DATA / f"{problem}.csv", npz,
                     "--chains", s["chains"], "--warmup", s["warmup"], "--draws", s["draws"], "--seed", 1,
                     "--target-accept", 0.9, "--max-tree-depth", 10, "--no-warm")
    pk = _worker(cmd, budget, 600)
    pk["settings"] = dict(s, problem=problem, seed=1, target_accept=0.9, max_tree_depth=10)
    if "error" in pk:
        return pk
    model, _ = PROBLEMS[problem].make_model()
    spec = specmod.stan_spec(model, centred=False)
    pk["sampling_s"] = pk["cold_s"]
    pk["sampling_includes_compile"] = True
    pk["total_s"] = pk["read_s"] + pk["cold_s"]
    pk["diagnostics"] = _popkin_diagnostics(spec, npz, pk["cold_s"], pk, s["chains"])
    pk["s_per_leapfrog"] = pk["cold_s"] / max(pk["leapfrog_sampling"], 1)
    return pk


def _cases(cases, budget: Budget, n_key: str, run) -> dict:
    """Rows of (model, N, chunk) cases, each ``run(model, n, chunk)``; a case is not started
    with under 40 s of the budget left."""
    rows = []
    for model, n, chunk in cases:
        row = {"model": model, n_key: n}
        row.update(run(model, n, chunk) if budget.left() >= 40 else {"error": "not run: budget spent"})
        rows.append(row)
    return {"rows": rows}


def step_structural(work: Path, budget: Budget, **_) -> dict:
    return _cases(SIZES["structural"], budget, "n_subjects",
                  lambda model, n, chunk: _structural(work, n, model, True, chunk, budget, 90))


def step_simulation(work: Path, budget: Budget, **_) -> dict:
    return _cases(SIZES["simulation"], budget, "n", lambda model, n, chunk: {"chunk": chunk, **_worker(
        python_cmd("benchmarks.simulation.side", model, n, chunk), budget, 120, plain=True)})


RUNNERS = {"env": step_env, "precision": step_precision, "gradient": step_gradient, "nuts": step_nuts,
           "structural": step_structural, "simulation": step_simulation}
FLOOR_S = {"env": 10, "precision": 60, "gradient": 60, "nuts": 120, "structural": 40, "simulation": 40}


def write_data() -> None:
    """The data files every machine reads (fixed seed; written here, carried there)."""
    from benchmarks.nuts.problems import PROBLEMS

    DATA.mkdir(parents=True, exist_ok=True)
    for name in set(STUDY["gradient"]) | set(SMOKE["gradient"]) | {STUDY["nuts_problem"], SMOKE["nuts_problem"]}:
        if not (DATA / f"{name}.csv").exists():
            PROBLEMS[name].prepare(DATA)


def run(out: Path, steps=STEPS, budget_s: float = 480.0, name: str = "gpu.json", cpu_reference: bool = False,
        note: str = "", work: Path | None = None, study: str | None = None) -> Path:
    budget = Budget(budget_s)
    work = Path(work) if work else Path(out) / "work"
    work.mkdir(parents=True, exist_ok=True)
    payload = {"study": study or ("gpu-cpu-reference" if cpu_reference else "gpu"), "note": note, "budget_s": budget_s, "cpu_reference": cpu_reference,
               "sizes": SIZES, "steps": {}}
    path = Path(out) / name
    for step in steps:
        if budget.left() < FLOOR_S[step]:
            payload["steps"][step] = {"error": f"not run: {budget.left():.0f} s of the budget left"}
            continue
        t0 = time.perf_counter()
        print(f"[gpu] {step} ({budget.left():.0f} s left) ...", flush=True)
        try:
            res = RUNNERS[step](work, budget, cpu_reference=cpu_reference)
        except Exception:  # noqa: BLE001 - record it and go on to the next step
            res = {"error": traceback.format_exc().splitlines()[-1], "traceback": traceback.format_exc()}
        res["step_s"] = round(time.perf_counter() - t0, 1)
        payload["steps"][step] = res
        print(f"[gpu] {step}: {json.dumps(res, default=str)[:1500]}", flush=True)
        write_json(path, payload)
        if step == "env" and "error" in res:
            print("[gpu] the environment step failed: stopping", flush=True)
            break
    payload["machine"] = machine(with_r=False)
    return write_json(path, payload)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="folder for the JSON (and a work/ folder beside it)")
    ap.add_argument("--name", default="gpu.json")
    ap.add_argument("--work", type=Path, help="scratch folder (default OUT/work)")
    ap.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for all steps together")
    ap.add_argument("--cpu-reference", action="store_true",
                    help="gradient step as popkin's parallel CPU chains run it: one chain per call, one core")
    ap.add_argument("--write-data", action="store_true", help="write the data files and stop")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: checks the driver on a CPU")
    ap.add_argument("--nuts", nargs=4, metavar=("PROBLEM", "CHAINS", "WARMUP", "DRAWS"),
                    help="the nuts step on another problem or with other settings")
    ap.add_argument("--study", default=None, help="the JSON's study name (default gpu; the report shows 'gpu')")
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    if args.smoke:
        SIZES.update(SMOKE)
    if args.nuts:
        problem, chains, warmup, draws = args.nuts
        SIZES.update(nuts_problem=problem, nuts_settings={"chains": int(chains), "warmup": int(warmup),
                                                          "draws": int(draws)})
    if args.write_data:
        write_data()
        return
    if args.out is None:
        ap.error("--out is required")
    print(run(args.out, args.steps, args.budget, args.name, args.cpu_reference, args.note, args.work, args.study))


if __name__ == "__main__":
    main()

"""Structural-model throughput: popkin (closed form, MM ODE) against R deSolve (lsoda with
compiled C right-hand sides), the exact same problem on both sides.

    python -m benchmarks.structural.run --quick|--full [--n 100 1000 10000 100000]

For each N a ``subjects.csv`` of per-subject KA, CL, V, VM, KM is drawn with a fixed seed
(log-normal, 30% CV around KA 1 /h, CL 5 L/h, V 50 L, VM 20 mg/h, KM 2 mg/L); each engine
and model (``lin``: linear elimination, ``mm``: Michaelis-Menten) runs in its own
subprocess (``benchmarks.common.run_measured``: wall time, peak RSS), writes the
concentrations of its first 5 subjects, and the driver checks that both sides agree
(max |popkin - deSolve| / max |deSolve| <= ``AGREE``) before it reports throughput in
subject-timepoints per second (N x 100 / solve seconds; start-up and compilation
excluded on both sides and reported separately for popkin).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import (BENCH, RESULTS, WORK, machine, python_cmd, python_env, read_json_from_stdout,
                               run_measured, write_json)

HERE = Path(__file__).resolve().parent
TYPICAL = {"KA": 1.0, "CL": 5.0, "V": 50.0, "VM": 20.0, "KM": 2.0}
CV = 0.3
AGREE = 1e-5
SEED = 20240607
QUICK_N = (100, 1000)
FULL_N = (100, 1000, 10_000, 100_000)
DESOLVE_MAX_N = 10_000  # deSolve runs ~5e3-1e4 subject-timepoints/s here: N = 1e5 would take ~20-30 min
TARGETS = {"lin": 10.0, "mm": 2.0}   # popkin / deSolve throughput ratios the issue asks for


def write_subjects(n: int, path: Path, seed: int = SEED) -> pd.DataFrame:
    """Per-subject parameters, log-normal around ``TYPICAL`` (same seed, same subjects:
    the first subjects do not depend on ``n``)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((max(n, 1), len(TYPICAL)))[:n]
    frame = pd.DataFrame({"ID": np.arange(1, n + 1)})
    for j, (name, tv) in enumerate(TYPICAL.items()):
        frame[name] = tv * np.exp(CV * z[:, j])
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.17g")
    return frame


def agreement(a: Path, b: Path) -> float:
    """max |a - b| / max |b| over the concentrations two engines wrote."""
    x, y = pd.read_csv(a).to_numpy(float), pd.read_csv(b).to_numpy(float)
    if x.shape != y.shape:
        return float("inf")
    return float(np.max(np.abs(x - y)) / np.max(np.abs(y)))


def run_desolve(subjects: Path, model: str, work: Path, timeout=None) -> dict:
    out, check = work / f"desolve_{model}.json", work / f"desolve_{model}.csv"
    done = run_measured(["Rscript", HERE / "desolve_bench.R", subjects, model, out, check],
                        timeout=timeout).check(f"deSolve {model}")
    import json

    res = json.loads(out.read_text())
    res.update(done.memory(), process_wall_s=done.wall_s, check_file=str(check))
    return res


def run_popkin(subjects: Path, model: str, work: Path, chunk: int = 0, timeout=None, solver: str = "Tsit5") -> dict:
    check = work / f"popkin_{model}_{solver}.csv"
    cmd = python_cmd("benchmarks.structural.popkin_side", subjects, model, check, "--chunk", chunk, "--solver", solver)
    done = run_measured(cmd, env=python_env(), cwd=BENCH.parent, timeout=timeout).check(f"popkin {model}")
    res = read_json_from_stdout(done.stdout)
    res.update(done.memory(), process_wall_s=done.wall_s, check_file=str(check))
    return res


# (row label, model, popkin MM solver): the MM ODE runs with the default Tsit5 and with
# Dopri8 (order 8, cheaper per unit of accuracy at rtol 1e-8), both against deSolve's mm
VARIANTS = (("lin", "lin", "Tsit5"), ("mm", "mm", "Tsit5"), ("mm-dopri8", "mm", "Dopri8"))


def run(mode: str = "quick", sizes=None, out_dir: Path = RESULTS, with_desolve: bool = True,
        desolve_max_n: int = DESOLVE_MAX_N, out_name: str | None = None) -> Path:
    sizes = tuple(sizes or (QUICK_N if mode == "quick" else FULL_N))
    rows, desolve_rate = [], {}
    for n in sizes:
        work = WORK / "structural" / f"n{n}"
        shutil.rmtree(work, ignore_errors=True)
        subjects = work / "subjects.csv"
        write_subjects(n, subjects)
        desolve_here = {}
        for label, model, solver in VARIANTS:
            print(f"[structural] N={n} {label}: popkin ...", flush=True)
            pk = run_popkin(subjects, model, work, solver=solver)
            row = {"n_subjects": n, "model": label, "popkin": pk, "load_average_1_5_15": list(os.getloadavg())}
            if with_desolve and model not in desolve_here and n <= desolve_max_n:
                print(f"[structural] N={n} {model}: deSolve ...", flush=True)
                desolve_here[model] = run_desolve(subjects, model, work)
                desolve_rate[model] = (n, desolve_here[model]["subject_timepoints_per_s"])
            if model in desolve_here:
                ds = desolve_here[model]
                err = agreement(Path(pk["check_file"]), work / f"desolve_{model}.csv")
                row.update(desolve=ds, max_rel_diff_first5=err, agree=bool(err <= AGREE),
                           throughput_ratio=pk["subject_timepoints_per_s"] / ds["subject_timepoints_per_s"],
                           memory_ratio=pk["peak_rss_mb"] / ds["peak_rss_mb"])
            elif with_desolve and model in desolve_rate:
                n_ds, rate = desolve_rate[model]
                row.update(desolve_skipped=f"N > {desolve_max_n}: deSolve's loop over subjects would take about "
                                           f"{n * 100 / rate / 60:.0f} min; the ratio uses its rate measured at N = {n_ds}",
                           desolve_rate_used={"n_subjects": n_ds, "subject_timepoints_per_s": rate},
                           throughput_ratio=pk["subject_timepoints_per_s"] / rate)
            if "throughput_ratio" in row:
                row["target_ratio"] = TARGETS[model]
                row["meets_target"] = bool(row.get("agree", True) and row["throughput_ratio"] >= TARGETS[model])
                print(f"[structural] N={n} {label}: popkin {pk['subject_timepoints_per_s']:.3g}/s, "
                      f"ratio {row['throughput_ratio']:.2f}, max rel diff {row.get('max_rel_diff_first5', float('nan')):.1e}",
                      flush=True)
            rows.append(row)
            payload = {"study": "structural", "mode": mode, "machine": machine(),
                       "problem": {"dose_mg": 100, "ii_h": 12, "n_doses": 56, "n_obs": 100,
                                   "obs_times": "0..672 h, 100 equal steps", "typical": TYPICAL, "cv": CV,
                                   "seed": SEED, "tolerances": "rtol 1e-8, atol 1e-10 (both)",
                                   "agreement_tolerance": AGREE, "desolve_max_n": desolve_max_n},
                       "gpu": _gpu_note(),
                       "rows": rows}
            path = write_json(Path(out_dir) / (out_name or f"structural-{mode}.json"), payload)  # after every row
    return path


def _gpu_note() -> str:
    import jax
    devices = [d for d in jax.devices() if d.platform == "gpu"]
    return f"GPU: {devices[0].device_kind}" if devices else "no GPU on this machine: CPU only"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_const", dest="mode", const="quick")
    g.add_argument("--full", action="store_const", dest="mode", const="full")
    ap.add_argument("--n", type=int, nargs="+", help="numbers of subjects (default: by mode)")
    ap.add_argument("--no-desolve", action="store_true", help="popkin side only")
    ap.add_argument("--desolve-max-n", type=int, default=DESOLVE_MAX_N,
                    help="largest N deSolve runs; above it the ratio uses deSolve's rate at the largest N run")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default=None, help="result file name (default structural-<mode>.json)")
    args = ap.parse_args(argv)
    path = run(args.mode or "quick", args.n, args.out, not args.no_desolve, args.desolve_max_n, args.name)
    print(f"[structural] wrote {path}")


if __name__ == "__main__":
    main()

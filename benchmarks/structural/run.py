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
FULL_N = (100, 1000, 10_000)
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


def run_popkin(subjects: Path, model: str, work: Path, chunk: int = 0, timeout=None) -> dict:
    check = work / f"popkin_{model}.csv"
    cmd = python_cmd("benchmarks.structural.popkin_side", subjects, model, check, "--chunk", chunk)
    done = run_measured(cmd, env=python_env(), cwd=BENCH.parent, timeout=timeout).check(f"popkin {model}")
    res = read_json_from_stdout(done.stdout)
    res.update(done.memory(), process_wall_s=done.wall_s, check_file=str(check))
    return res


def run(mode: str = "quick", sizes=None, out_dir: Path = RESULTS, with_desolve: bool = True) -> Path:
    sizes = tuple(sizes or (QUICK_N if mode == "quick" else FULL_N))
    rows = []
    for n in sizes:
        work = WORK / "structural" / f"n{n}"
        shutil.rmtree(work, ignore_errors=True)
        subjects = work / "subjects.csv"
        write_subjects(n, subjects)
        for model in ("lin", "mm"):
            print(f"[structural] N={n} {model}: popkin ...", flush=True)
            pk = run_popkin(subjects, model, work)
            row = {"n_subjects": n, "model": model, "popkin": pk}
            if with_desolve:
                print(f"[structural] N={n} {model}: deSolve ...", flush=True)
                ds = run_desolve(subjects, model, work)
                err = agreement(work / f"popkin_{model}.csv", work / f"desolve_{model}.csv")
                row.update(desolve=ds, max_rel_diff_first5=err, agree=bool(err <= AGREE),
                           throughput_ratio=pk["subject_timepoints_per_s"] / ds["subject_timepoints_per_s"],
                           memory_ratio=pk["peak_rss_mb"] / ds["peak_rss_mb"],
                           target_ratio=TARGETS[model])
                row["meets_target"] = bool(row["agree"] and row["throughput_ratio"] >= TARGETS[model])
                print(f"[structural] N={n} {model}: popkin {pk['subject_timepoints_per_s']:.3g}/s, deSolve "
                      f"{ds['subject_timepoints_per_s']:.3g}/s, ratio {row['throughput_ratio']:.2f}, "
                      f"max rel diff {err:.1e}", flush=True)
            rows.append(row)
    payload = {"study": "structural", "mode": mode, "machine": machine(),
               "problem": {"dose_mg": 100, "ii_h": 12, "n_doses": 56, "n_obs": 100, "obs_times": "0..672 h, 100 equal steps",
                           "typical": TYPICAL, "cv": CV, "seed": SEED, "tolerances": "rtol 1e-8, atol 1e-10 (both)",
                           "agreement_tolerance": AGREE},
               "rows": rows}
    return write_json(Path(out_dir) / f"structural-{mode}.json", payload)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_const", dest="mode", const="quick")
    g.add_argument("--full", action="store_const", dest="mode", const="full")
    ap.add_argument("--n", type=int, nargs="+", help="numbers of subjects (default: by mode)")
    ap.add_argument("--no-desolve", action="store_true", help="popkin side only")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    path = run(args.mode or "quick", args.n, args.out, not args.no_desolve)
    print(f"[structural] wrote {path}")


if __name__ == "__main__":
    main()

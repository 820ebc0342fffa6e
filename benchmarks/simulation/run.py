"""Simulation study: virtual patients per second to steady state, and peak memory.

    python -m benchmarks.simulation.run --quick    # N = 10^3 (both models), 10^4 (closed form)
    python -m benchmarks.simulation.run --full     # N = 10^3..10^5 (closed form to 10^6 with --million)

Each case runs in a fresh process (``benchmarks.simulation.side``) whose peak resident
memory is measured over its process tree (``benchmarks.common.run_measured``). Numbers:
``first_chunk_s`` (trace + compile + one chunk: what a user waits before the first
result), ``run_s`` and ``patients_per_s`` (N patients, compiled), ``peak_rss_mb``.
Memory should stay flat as N grows (chunks of fixed size; only per-patient metrics are
kept: 8 bytes x 7 metrics per patient). Results: ``benchmarks/results/simulation-<mode>.json``
(the ``run(mode, out_dir)`` hook of ``benchmarks/run.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import RESULTS, machine, python_cmd, python_env, run_measured, write_json

CASES = {
    "quick": [("2cmt-oral", 1_000, 1024), ("2cmt-oral", 10_000, 4096), ("1cmt-oral-mm", 1_000, 512)],
    "full": [("2cmt-oral", 1_000, 4096), ("2cmt-oral", 10_000, 4096), ("2cmt-oral", 100_000, 4096),
             ("1cmt-oral-mm", 1_000, 1024), ("1cmt-oral-mm", 10_000, 1024), ("1cmt-oral-mm", 100_000, 1024)],
}


def run(mode: str, out_dir: Path = RESULTS, million: bool = False) -> Path:
    cases = list(CASES[mode])
    if million:
        cases.append(("2cmt-oral", 1_000_000, 8192))
    rows = []
    for name, n, chunk in cases:
        print(f"[simulation] {name} N={n} chunk={chunk}", flush=True)
        done = run_measured(python_cmd("benchmarks.simulation.side", name, n, chunk), env=python_env())
        row = {"model": name, "n": n, "chunk": chunk, "wall_s": round(done.wall_s, 2), **done.memory()}
        if done.returncode == 0:
            row.update(json.loads(done.stdout.strip().splitlines()[-1]))
        else:
            row["error"] = (done.stderr.strip().splitlines() or ["failed"])[-1]
        print(f"[simulation] {row}", flush=True)
        rows.append(row)
    payload = {"study": "simulation", "mode": mode, "machine": machine(with_r=False), "rows": rows}
    return write_json(Path(out_dir) / f"simulation-{mode}.json", payload)


def _main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--quick", action="store_true")
    group.add_argument("--full", action="store_true")
    parser.add_argument("--million", action="store_true", help="add N = 10^6 (closed form)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    print(run("quick" if args.quick else "full", args.out, args.million))


if __name__ == "__main__":
    _main()

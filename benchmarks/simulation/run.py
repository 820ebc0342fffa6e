"""Simulation study: virtual patients per second to steady state, and peak memory.

    python -m benchmarks.simulation.run --quick    # N = 10^3 (both models), 10^4 (closed form)
    python -m benchmarks.simulation.run --full     # N = 10^3..10^5 (closed form to 10^6 with --million)
    python -m benchmarks.simulation.run --scaling  # N = 10^3..10^6, both models -> results/simulation.json

``--scaling`` caps each case at ``--case-timeout`` seconds (default 600): when a case of
a model runs out of time, the larger N of that model are not run and the row says so.

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
    "scaling": [("2cmt-oral", n, 4096) for n in (1_000, 10_000, 100_000, 1_000_000)]
    + [("1cmt-oral-mm", n, 1024) for n in (1_000, 10_000, 100_000, 1_000_000)],
}


def _path(out_dir: Path, mode: str) -> Path:
    return Path(out_dir) / ("simulation.json" if mode == "scaling" else f"simulation-{mode}.json")


def run(mode: str, out_dir: Path = RESULTS, million: bool = False, case_timeout: float = 600.0) -> Path:
    cases = list(CASES[mode])
    if million:
        cases.append(("2cmt-oral", 1_000_000, 8192))
    rows, capped = [], set()
    for name, n, chunk in cases:
        if name in capped:
            rows.append({"model": name, "n": n, "chunk": chunk,
                         "error": f"not run: a smaller N of this model exceeded {case_timeout:g} s"})
            continue
        print(f"[simulation] {name} N={n} chunk={chunk}", flush=True)
        done = run_measured(python_cmd("benchmarks.simulation.side", name, n, chunk), env=python_env(),
                            timeout=case_timeout if mode == "scaling" else None)
        row = {"model": name, "n": n, "chunk": chunk, "wall_s": round(done.wall_s, 2), **done.memory()}
        if mode == "scaling" and done.returncode != 0 and done.wall_s >= case_timeout:
            capped.add(name)
            row["error"] = f"stopped after {case_timeout:g} s (cap)"
        elif done.returncode == 0:
            row.update(json.loads(done.stdout.strip().splitlines()[-1]))
        else:
            row["error"] = (done.stderr.strip().splitlines() or ["failed"])[-1]
        print(f"[simulation] {row}", flush=True)
        rows.append(row)
    payload = {"study": "simulation", "mode": mode, "machine": machine(with_r=False), "rows": rows}
    return write_json(_path(out_dir, mode), payload)


def _main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--quick", action="store_true")
    group.add_argument("--full", action="store_true")
    group.add_argument("--scaling", action="store_true", help="N = 10^3..10^6, both models (simulation.json)")
    parser.add_argument("--case-timeout", type=float, default=600.0)
    parser.add_argument("--million", action="store_true", help="add N = 10^6 (closed form)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    mode = "quick" if args.quick else "scaling" if args.scaling else "full"
    print(run(mode, args.out, args.million, args.case_timeout))


if __name__ == "__main__":
    _main()

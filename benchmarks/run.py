"""Run every benchmark study, write benchmarks/results/*.json, the plots and the tables
of docs/benchmarks.md.

    python -m benchmarks.run --quick            # minutes: tiny settings, checks the harness
    python -m benchmarks.run --full             # the study (hours on 2 cores); a quiet machine
    python -m benchmarks.run --full --only nuts structural --no-stan
    python -m benchmarks.run --full --only nuts --chains 2 --reuse-compile --note "2 busy cores"

Studies (each also runs alone, e.g. ``python -m benchmarks.nuts.run --full``):

* ``nuts``: popkin NUTS vs Stan on theophylline and simulated BID 2-cpt data
  (``benchmarks/nuts``);
* ``structural``: closed form and MM ODE vs deSolve (``benchmarks/structural``);
* ``sharding``: subjects / virtual patients split over devices (``benchmarks/sharding.py``);
* ``simulation``: virtual-patient simulation throughput, owned by ``benchmarks/simulation``;
  run when that package provides ``run(mode, out_dir) -> Path`` in
  ``benchmarks/simulation/run.py`` (the hook; see benchmarks/README.md).

The same command runs on a GPU machine unchanged: popkin picks its chain method from the
backend ("vectorized" on a GPU, "parallel" over host devices on CPU), and the
structural/simulation sides run on the default JAX device.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import time
import traceback
from pathlib import Path

from benchmarks.common import RESULTS

STUDIES = ("nuts", "structural", "sharding", "simulation")


def _simulation(mode: str, out_dir: Path, **_) -> Path | None:
    if importlib.util.find_spec("benchmarks.simulation.run") is None:
        print("[run] benchmarks/simulation/run.py not found: simulation study skipped", flush=True)
        return None
    module = importlib.import_module("benchmarks.simulation.run")
    return module.run(mode, out_dir)


def _nuts(mode, out_dir, stan=True, chains=None, reuse_compile=False, note="", **_):
    from benchmarks.nuts.run import run

    return run(mode, out_dir=out_dir, stan=stan, fresh=False if reuse_compile else None,
               overrides={"chains": chains}, note=note)


def _structural(mode, out_dir, stan=True, **_):
    from benchmarks.structural.run import run

    return run(mode, out_dir=out_dir, with_desolve=stan)


def _sharding(mode, out_dir, **_):
    from benchmarks.sharding import study

    return study(mode, out_dir)


RUNNERS = {"nuts": _nuts, "structural": _structural, "sharding": _sharding, "simulation": _simulation}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="popkin benchmark suite")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--quick", action="store_const", dest="mode", const="quick")
    g.add_argument("--full", action="store_const", dest="mode", const="full")
    ap.add_argument("--only", nargs="+", choices=STUDIES, default=list(STUDIES))
    ap.add_argument("--no-stan", action="store_true", help="skip the R peers (Stan, deSolve)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--chains", type=int, help="NUTS chains on both sides (default: 2 quick, 4 full)")
    ap.add_argument("--reuse-compile", action="store_true",
                    help="NUTS: use cached Stan builds and their recorded compile time (default in --quick)")
    ap.add_argument("--note", default="", help="a remark stored in the NUTS JSON (e.g. a shared machine)")
    args = ap.parse_args(argv)
    failed = []
    for study in args.only:
        t0 = time.perf_counter()
        print(f"[run] === {study} ({args.mode}) ===", flush=True)
        try:
            path = RUNNERS[study](args.mode, args.out, stan=not args.no_stan, chains=args.chains,
                                  reuse_compile=args.reuse_compile, note=args.note)
            print(f"[run] {study}: {path or 'skipped'} ({time.perf_counter() - t0:.0f} s)", flush=True)
        except Exception:  # noqa: BLE001 - one failed study must not lose the others
            traceback.print_exc()
            failed.append(study)
    from benchmarks.report import update_doc

    print(f"[run] updated {update_doc(args.mode, out_dir=args.out)}", flush=True)
    if failed:
        print(f"[run] FAILED: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

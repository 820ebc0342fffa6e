"""popkin alone: one NUTS problem of the study in popkin's centred parameterisation, with
the study's settings, harness (``popkin_side`` in a fresh process, chains in parallel
on host devices) and ESS estimator (``run.summarise``), so that its row compares with
popkin's non-centred row of ``nuts-full.json``. Stan is not run: the study's Stan
programs are non-centred.

    python -m benchmarks.nuts.centred bid2_n100_rich [--chains 2 --warmup 500 --draws 500 --seed 1]

Needs the problem's CSV and spec from a study run (``benchmarks/work/nuts/<problem>/``).
Writes ``benchmarks/results/nuts-centred.json`` (one entry per problem, kept across
runs) with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from benchmarks.common import RESULTS, ROOT, machine, read_json_from_stdout, write_json
from benchmarks.nuts import problems as P
from benchmarks.nuts.run import popkin_columns, summarise


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("problem", choices=sorted(P.PROBLEMS))
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    work = P.work_dir(args.problem)
    csv, spec_path = work / f"{args.problem}.csv", work / "spec.json"
    if not (csv.is_file() and spec_path.is_file()):
        sys.exit(f"{csv} or {spec_path} missing: run the study on {args.problem} first "
                 "(python -m benchmarks.nuts.run --full --problems ...)")
    draws = work / "popkin_centred_draws.npz"
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={args.chains}",
               PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "benchmarks.nuts.popkin_side", args.problem, str(csv), str(draws),
           "--chains", str(args.chains), "--warmup", str(args.warmup), "--draws", str(args.draws),
           "--seed", str(args.seed), "--no-warm", "--parameterization", "centered"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if run.returncode:
        sys.exit(run.stderr[-3000:])
    info = read_json_from_stdout(run.stdout)
    pop, z = popkin_columns(json.loads(spec_path.read_text()), np.load(draws))
    diag = summarise(pop, z, info["cold_s"], info["leapfrog_sampling"], args.chains)
    entry = {"problem": args.problem, "settings": vars(args), "parameterization": "centered",
             "sampling_s_incl_compile": info["cold_s"], "leapfrog_sampling": info["leapfrog_sampling"],
             "divergent": info["divergent"], "treedepth_max_hits": info["treedepth_max_hits"],
             "step_size": info["step_size"], "diagnostics": diag, "machine": machine()}
    out = RESULTS / "nuts-centred.json"
    old = json.loads(out.read_text()) if out.is_file() else {"rows": {}}
    old["rows"][args.problem] = entry
    write_json(out, old)
    print(json.dumps({k: diag[k] for k in ("min_ess_bulk", "min_ess_param", "max_rhat", "ess_per_1k_grad")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

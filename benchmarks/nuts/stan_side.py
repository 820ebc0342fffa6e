"""Driving rstan (``benchmarks/stan/stan_run.R``) from Python: compile (cached by the
program text, flags and rstan version), sample, and evaluate log densities.

Every call is a fresh ``Rscript`` subprocess run through ``run_measured`` (wall time,
peak memory of the process tree: rstan's parallel chains are separate R processes).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from benchmarks.common import BENCH, CACHE, r_versions, run_measured

STAN_RUN = BENCH / "stan" / "stan_run.R"
MAKEVARS = BENCH / "stan" / "Makevars"


def available() -> bool:
    """True when Rscript with rstan and jsonlite is installed."""
    if shutil.which("Rscript") is None:
        return False
    return r_versions().get("rstan") not in (None, "none")


def env() -> dict:
    """Boost for rstan (Debian's r-cran-bh has no include/: link /usr/include/boost) and
    the benchmark's compiler flags."""
    bh = CACHE / "bh"
    if not (bh / "boost").exists() and Path("/usr/include/boost").is_dir():
        bh.mkdir(parents=True, exist_ok=True)
        (bh / "boost").symlink_to("/usr/include/boost")
    return {"POPKIN_BOOST_LIB": str(bh), "R_MAKEVARS_USER": str(MAKEVARS)}


def _key(program: Path) -> str:
    h = hashlib.sha256()
    h.update(program.read_bytes())
    h.update(MAKEVARS.read_bytes())
    h.update(json.dumps(r_versions(), sort_keys=True).encode())
    return h.hexdigest()[:16]


def compile_model(program: Path, fresh: bool = False) -> dict:
    """Compile ``program`` (or reuse the cached build). Returns rds path, compile_s (as
    measured when it was compiled), cached (bool), memory of the compile process."""
    program = Path(program)
    folder = CACHE / "stan"
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(program)
    rds, meta = folder / f"{program.stem}-{key}.rds", folder / f"{program.stem}-{key}.json"
    if rds.is_file() and meta.is_file() and not fresh:
        info = json.loads(meta.read_text())
        info["cached"] = True
        return info
    out = folder / f"{program.stem}-{key}.compile.json"
    done = run_measured(["Rscript", STAN_RUN, "compile", program, rds, out], env=env()).check(
        f"Stan compilation of {program.name}")
    info = json.loads(out.read_text())
    info.update(rds=str(rds), program=program.name, process_wall_s=done.wall_s, compile_memory=done.memory(),
                cached=False)
    meta.write_text(json.dumps(info, indent=2))
    return info


def sample(rds, csv, spec_path, work: Path, *, chains: int, warmup: int, draws: int, seed: int,
           adapt_delta: float, max_treedepth: int, cores: int, init: Path | None = None,
           timeout=None) -> tuple[dict, dict]:
    """Run NUTS in a fresh R process. ``init``: a JSON of Stan parameter values (as
    ``spec.to_stan_values`` writes) every chain starts from; None: rstan's random inits.
    Returns (info, draws) with draws: Stan column name -> array (chains, draws)."""
    bin_path, out = work / "stan_draws.bin", work / "stan_sample.json"
    cmd = ["Rscript", STAN_RUN, "sample", rds, csv, spec_path, bin_path, out,
           chains, warmup, draws, seed, adapt_delta, max_treedepth, cores] + ([init] if init else [])
    done = run_measured(cmd, env=env(), timeout=timeout).check("Stan sampling")
    info = json.loads(out.read_text())
    info.update(done.memory(), process_wall_s=done.wall_s)
    return info, read_draws(bin_path, info)


def read_draws(bin_path: Path, info: dict) -> dict:
    """The draws ``stan_run.R sample`` wrote to ``bin_path``: Stan column name -> array
    (chains, draws); ``info``: its JSON (``dims``, ``names``)."""
    iters, n_chains, n_par = info["dims"]
    arr = np.fromfile(bin_path, dtype=np.float64).reshape((n_par, n_chains, iters))  # R is column-major
    return {name: arr[k] for k, name in enumerate(info["names"])}


def log_prob(rds, csv, spec_path, points: list, work: Path) -> dict:
    """rstan's log_prob at the constrained ``points`` (lists of Stan parameter values),
    with and without the Jacobian of the constraining transforms."""
    pts, out = work / "logprob_points.json", work / "logprob_out.json"
    pts.write_text(json.dumps(points))
    run_measured(["Rscript", STAN_RUN, "logprob", rds, csv, spec_path, pts, out], env=env()).check("Stan log_prob")
    return json.loads(out.read_text())

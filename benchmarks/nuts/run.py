"""NUTS: popkin against Stan (rstan 2.21), same models, data, priors, chains and draws,
side by side in one run.

    python -m benchmarks.nuts.run --quick|--full [--problems theoph bid2_n1000_sparse ...]
        [--chains 4 --warmup 500 --draws 500] [--no-stan] [--fresh-compile]
        [--parameterization centered]

``--parameterization centered`` runs both engines in centred coordinates (popkin's
``NUTSOptions(parameterization="centered")``, the Stan programs' ``centred`` flag:
``phi_iiv`` = log typical value + eta sampled directly) and writes
``nuts-<mode>-centred.json``; the default, non-centred on both sides, ``nuts-<mode>.json``.

Per problem (``benchmarks.nuts.problems``):

1. write the CSV both sides read, and the Stan spec of the popkin model (``spec.py``);
2. compile the Stan program (its own process, timed; reused from benchmarks/.cache when
   the program, flags and rstan are unchanged, unless ``--fresh-compile``; ``--full``
   always compiles afresh);
3. check that the Stan program and popkin define the same log density
   (``logdensity.compare``; the study stops on a mismatch);
4. run popkin (``popkin_side``) and Stan (``stan_run.R sample``), each in a fresh
   subprocess with its peak memory measured;
5. compute bulk ESS and R-hat of both sides' draws with the same estimator
   (``arviz.ess(method="bulk")``, ``arviz.rhat``), and the popkin/Stan ratios.

Definitions (docs/benchmarks.md repeats them):
* sampling time: popkin ``warm_s`` (a compiled ``Sampler.run``: MAP start + warm-up +
  draws; above ``WARM_RERUN_MAX_SUBJECTS`` subjects the run is not repeated and the first
  run's ``cold_s``, compilation included, is used: conservative for popkin), Stan ``sampling_wall_s`` (the ``sampling()`` call: warm-up + draws, chains in
  parallel processes) and ``chain_s`` (Stan's own clock of its slowest chain, without
  rstan's start-up of the parallel workers); targets use the less favourable ratio;
* min bulk-ESS/s: the smallest bulk ESS over the population parameters (typical values,
  IIV SDs and correlations, residual SDs) / sampling time; ``all`` adds every z_iiv
  (centred: popkin's z_iiv, mapped back from its chains, and Stan's phi_iiv, what each
  sampled; so the ``all`` ratio is not reported for centred runs);
* total (first fit, compile included): popkin ``read_s + cold_s``; Stan
  ``compile_s + sampling_wall_s`` (both without interpreter start and imports, which are
  reported separately).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (BENCH, RESULTS, machine, python_cmd, python_env, read_json_from_stdout,
                               run_measured, write_json)
from benchmarks.nuts import problems as P
from benchmarks.nuts import spec as specmod
from benchmarks.nuts import stan_side
from benchmarks.nuts.convergence import folded, judge, within_chain_ess
from benchmarks.nuts.logdensity import compare

SETTINGS = {"quick": dict(chains=2, warmup=100, draws=100), "full": dict(chains=4, warmup=500, draws=500)}
WARM_RERUN_MAX_SUBJECTS = 200   # above this, popkin's sampling time is its first run (compile included)
SHARED_NOTE = ("Per problem the two engines run one after the other (popkin, then Stan), each in a fresh "
               "process; load averages before and after each side are recorded (load_before/load_after) "
               "because the machine may be shared with other work while the study runs.")
TARGETS = {"theoph": {"ess_per_s_ratio": 1.0, "total_ratio_below": 1.0},
           "bid2_n1000_rich": {"ess_per_s_ratio": 2.0}, "bid2_n1000_sparse": {"ess_per_s_ratio": 2.0}}


# --------------------------------------------------------------------------- diagnostics

def _stack(columns: dict, names: list[str]) -> np.ndarray:
    return np.stack([columns[n] for n in names], axis=-1)  # (chains, draws, n)


def ess_rhat(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bulk ESS and rank-normalised split R-hat of every column of (chains, draws, n)."""
    import arviz as az

    ds = az.convert_to_dataset({"x": arr})
    return (np.asarray(az.ess(ds, method="bulk")["x"].values, float),
            np.asarray(az.rhat(ds)["x"].values, float))


def popkin_columns(spec: dict, npz) -> tuple[dict, dict]:
    """(population columns, z columns) of popkin's draws, keyed by popkin names."""
    pop, z = {}, {}
    for t in spec["thetas"]:
        pop[t] = npz[t]
    for k, e in enumerate(spec["eta_names"]):
        pop[f"omega[{e}]"] = npz["omega"][..., k]
    if spec["correlated"]:
        p = len(spec["eta_names"])
        for i in range(p):
            for j in range(i):
                pop[f"L_iiv1[{i + 1},{j + 1}]"] = npz["L_iiv1"][..., i, j]
    for s in ("sigma_add", "sigma_prop"):
        if spec[f"has_{s.split('_')[1]}"]:
            pop[s] = npz[s]
    if "z_iiv" in npz:
        zz = npz["z_iiv"]
        for i in range(zz.shape[2]):
            for k, e in enumerate(spec["eta_names"]):
                z[f"z_iiv[{i + 1},{e}]"] = zz[:, :, i, k]
    return pop, z


def stan_columns(spec: dict, draws: dict) -> tuple[dict, dict]:
    names = specmod.popkin_names(spec)
    pop = {names[c]: draws[c] for c in specmod.population_columns(spec)}
    z = {c: v for c, v in draws.items() if c.startswith(("z_iiv[", "phi_iiv["))}
    return pop, z


def summarise(pop: dict, z: dict, seconds: float, leapfrog: int, chains: int) -> dict:
    pe, pr = ess_rhat(_stack(pop, list(pop)))
    out = {"min_ess_bulk": float(pe.min()), "min_ess_param": list(pop)[int(pe.argmin())],
           "max_rhat": float(np.nanmax(pr)), "ess_bulk": dict(zip(pop, pe.round(1).tolist())),
           "posterior_mean": {k: float(np.mean(v)) for k, v in pop.items()}}
    all_min, all_rhat = out["min_ess_bulk"], out["max_rhat"]
    ze = zr = zw = np.zeros(0)
    if z:
        zarr = _stack(z, list(z))
        ze, zr = ess_rhat(zarr)
        # one within-chain ESS per R-hat arviz takes the max of: bulk and folded (convergence.py)
        zw = np.concatenate([within_chain_ess(zarr), within_chain_ess(folded(zarr))])
        all_min, all_rhat = min(all_min, float(ze.min())), max(all_rhat, float(np.nanmax(zr)))
    draws = next(iter(pop.values())).shape[1]
    out.update(min_ess_bulk_all=all_min, max_rhat_all=all_rhat,
               ess_per_s=out["min_ess_bulk"] / seconds, ess_per_s_all=all_min / seconds,
               ess_per_1k_grad=1000 * out["min_ess_bulk"] / max(leapfrog, 1),
               **judge(pe, pr, ze, zr, zw, draws=draws, chains=chains))
    return out


# --------------------------------------------------------------------------- one problem

def _load() -> list[float] | None:
    """1/5/15-minute load averages now (the machine may be shared with other work)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def run_problem(name: str, settings: dict, *, stan: bool = True, fresh: bool = False, seed: int = 1,
                parameterization: str = "noncentered") -> dict:
    prob = P.PROBLEMS[name]
    work = P.work_dir(name)
    work.mkdir(parents=True, exist_ok=True)
    csv = prob.prepare(work)
    model, source = prob.make_model()
    centred = parameterization == "centered"
    spec = specmod.stan_spec(model, centred=centred)
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    row = {"problem": name, "description": prob.description, "model_source": source, "data_file": str(csv),
           "settings": dict(settings, seed=seed), "parameterization": parameterization, "spec": spec}

    if stan:
        print(f"[nuts] {name}: compiling {spec['program']} ...", flush=True)
        comp = stan_side.compile_model(specmod.STAN_DIR / spec["program"], fresh=fresh)
        row["stan_compile"] = comp
        print(f"[nuts] {name}: log-density check ...", flush=True)
        from popkin.infer import bind

        problem = bind(model, prob.read_popkin(csv))   # also maps Stan's start point when centred
        check = compare(problem, comp["rds"], csv, spec, work / "logdensity")
        row["logdensity_check"] = check
        if not check["same_density"]:
            raise RuntimeError(f"{name}: Stan and popkin log densities differ (spread "
                               f"{check['relative_spread_without_jacobian']:.2e}); see {work / 'logdensity'}")

    print(f"[nuts] {name}: popkin NUTS ...", flush=True)
    npz_path, start_path = work / "popkin_draws.npz", work / "popkin_start.npz"
    cmd = python_cmd("benchmarks.nuts.popkin_side", name, csv, npz_path, "--chains", settings["chains"],
                     "--warmup", settings["warmup"], "--draws", settings["draws"], "--seed", seed,
                     "--target-accept", 0.9, "--max-tree-depth", 10, "--start-out", start_path,
                     "--parameterization", parameterization)
    n_subjects = P.count_subjects(csv)
    if n_subjects > WARM_RERUN_MAX_SUBJECTS:
        cmd.append("--no-warm")
    load_before, started = _load(), time.time()
    done = run_measured(cmd, env=python_env(host_devices=settings["chains"]), cwd=BENCH.parent).check(
        f"popkin NUTS on {name}")
    pk = read_json_from_stdout(done.stdout)
    pk.update(done.memory(), process_wall_s=done.wall_s, load_before=load_before, load_after=_load(),
              started_unix=started)
    sampling_s = pk["warm_s"] if pk["warm_s"] is not None else pk["cold_s"]
    pk["diagnostics"] = _popkin_diagnostics(spec, npz_path, sampling_s, pk, settings["chains"])
    pk["total_s"] = pk["read_s"] + pk["cold_s"]
    pk["sampling_s"] = sampling_s
    pk["sampling_includes_compile"] = pk["warm_s"] is None
    row["popkin"] = pk
    print(f"[nuts] {name}: popkin min bulk ESS {pk['diagnostics']['min_ess_bulk']:.0f} in {sampling_s:.1f} s "
          f"(first fit {pk['total_s']:.1f} s)", flush=True)

    if stan:
        print(f"[nuts] {name}: Stan NUTS ...", flush=True)
        load_before, started = _load(), time.time()
        # Stan starts where popkin's chains started (popkin's MAP, omegas floored at 0.1),
        # not at rstan's random inits: with random inits a theophylline chain settled in
        # the flip-flop mode (KA < KE) and the comparison measured that, not the samplers
        with np.load(start_path) as start:
            start = dict(start)
        if centred:
            start = specmod.centred_values(problem, start)
        init = specmod.to_stan_values(spec, start)
        init_path = work / "stan_init.json"
        init_path.write_text(json.dumps(init))
        info, draws = stan_side.sample(comp["rds"], csv, spec_path, work, chains=settings["chains"],
                                       warmup=settings["warmup"], draws=settings["draws"], seed=seed,
                                       adapt_delta=0.9, max_treedepth=10, cores=settings["chains"],
                                       init=init_path)
        info["init"] = "popkin's NUTS starting point (its MAP, omegas floored at 0.1), every chain"
        info.update(load_before=load_before, load_after=_load(), started_unix=started)
        # Stan's own per-chain clock (warm-up + draws of the slowest chain) leaves out what
        # rstan spends around the chains (starting the parallel R workers, moving data)
        info["chain_s"] = max(w + d for w, d in zip(info["elapsed_warmup_s"], info["elapsed_sample_s"]))
        info["diagnostics"] = _stan_diagnostics(spec, draws, info, settings["chains"])
        info["compile_s"] = comp["compile_s"]
        info["compile_cached"] = comp["cached"]
        info["total_s"] = comp["compile_s"] + info["sampling_wall_s"]
        row["stan"] = info
        _compare(row)
        d_st = info["diagnostics"]
        print(f"[nuts] {name}: Stan min bulk ESS {d_st['min_ess_bulk']:.0f} in {info['sampling_wall_s']:.1f} s; "
              f"ESS/s ratio popkin/Stan {row['ratios']['ess_per_s']:.2f}, total-time ratio "
              f"{row['ratios']['total_time']:.2f}", flush=True)
    return row


def _popkin_diagnostics(spec: dict, npz_path: Path, sampling_s: float, pk: dict, chains: int) -> dict:
    with np.load(npz_path) as npz:
        pk_pop, pk_z = popkin_columns(spec, dict(npz))
    return summarise(pk_pop, pk_z, sampling_s, pk["leapfrog_sampling"], chains)


def _stan_diagnostics(spec: dict, draws: dict, info: dict, chains: int) -> dict:
    st_pop, st_z = stan_columns(spec, draws)
    out = summarise(st_pop, st_z, info["sampling_wall_s"], info["leapfrog_sampling"], chains)
    out["ess_per_chain_s"] = out["min_ess_bulk"] / info["chain_s"]
    return out


def _compare(row: dict) -> None:
    """The popkin/Stan ratios and the issue's targets of a row with both sides."""
    pk, st = row["popkin"], row["stan"]
    d_pk, d_st = pk["diagnostics"], st["diagnostics"]
    centred = row.get("parameterization") == "centered"
    row["ratios"] = {
        "ess_per_s": d_pk["ess_per_s"] / d_st["ess_per_s"],
        "ess_per_s_vs_stan_chain_time": d_pk["ess_per_s"] / d_st["ess_per_chain_s"],
        "ess_per_s_all": None if centred else d_pk["ess_per_s_all"] / d_st["ess_per_s_all"],
        "ess_per_1k_grad": d_pk["ess_per_1k_grad"] / d_st["ess_per_1k_grad"],
        "sampling_time": pk["sampling_s"] / st["sampling_wall_s"],
        "total_time": pk["total_s"] / st["total_s"],
        "compile_time": pk["jit_s"] / st["compile_s"] if pk["jit_s"] is not None else None,
        "peak_memory": pk["peak_rss_mb"] / st["peak_rss_mb"],
    }
    row["targets"] = _targets(row["problem"], row)


def rediagnose(names, out_dir: Path = RESULTS, parameterization: str = "noncentered") -> Path:
    """Recompute the diagnostics, ratios and targets of finished rows from the draws both
    sides left in their work folders (benchmarks/work/nuts/<problem>/), keeping every
    timing: for a change of the convergence rule without rerunning the samplers. A row
    whose draws are gone is refused."""
    path = results_path(out_dir, "full", parameterization)
    payload = json.loads(path.read_text())
    for name in names:
        (row,) = [r for r in payload["rows"] if r["problem"] == name]
        work, chains = P.work_dir(name), row["settings"]["chains"]
        npz_path, stan_bin = work / "popkin_draws.npz", work / "stan_draws.bin"
        for f in (npz_path, stan_bin) if row.get("stan") else (npz_path,):
            if not f.is_file() or f.stat().st_mtime < row["popkin"]["started_unix"]:
                raise SystemExit(f"{name}: {f} is missing or older than the row; rerun the problem instead")
        spec = row["spec"]
        row["popkin"]["diagnostics"] = _popkin_diagnostics(spec, npz_path, row["popkin"]["sampling_s"],
                                                           row["popkin"], chains)
        if row.get("stan"):
            st = row["stan"]
            st["diagnostics"] = _stan_diagnostics(spec, stan_side.read_draws(stan_bin, st), st, chains)
            _compare(row)
        row["rediagnosed_unix"] = time.time()
    write_json(path, payload)
    return path


def _targets(name: str, row: dict) -> dict:
    want = TARGETS.get(name, {})
    out = {}
    if "ess_per_s_ratio" in want:
        # judged on the less favourable of Stan's two clocks (wall of sampling(), or its chains' own)
        got = min(row["ratios"]["ess_per_s"], row["ratios"]["ess_per_s_vs_stan_chain_time"])
        both = row["popkin"]["diagnostics"]["converged"] and row["stan"]["diagnostics"]["converged"]
        out["ess_per_s_ratio"] = {"want": f">= {want['ess_per_s_ratio']} (both converged)", "got": got,
                                  "both_converged": both, "met": bool(both and got >= want["ess_per_s_ratio"])}
    if "total_ratio_below" in want:
        conv = row["popkin"]["diagnostics"]["converged"]
        out["total_time_converged"] = {"want": "< 1 (popkin converged)", "got": row["ratios"]["total_time"],
                                       "popkin_converged": conv,
                                       "met": bool(conv and row["ratios"]["total_time"] < want["total_ratio_below"])}
    return out


def results_path(out_dir: Path, mode: str, parameterization: str) -> Path:
    """nuts-<mode>.json (non-centred) or nuts-<mode>-centred.json."""
    return Path(out_dir) / (f"nuts-{mode}.json" if parameterization == "noncentered" else f"nuts-{mode}-centred.json")


def merge_note(old: str | None, note: str) -> str:
    """The note of an appended results file: the old note (it describes the rows kept)
    with this run's remark added, not replaced."""
    return (old or SHARED_NOTE) + (f" {note.strip()}" if note.strip() else "")


def run(mode: str = "quick", names=None, out_dir: Path = RESULTS, stan: bool = True, fresh: bool | None = None,
        overrides: dict | None = None, note: str = "", append: bool = False,
        parameterization: str = "noncentered") -> Path:
    settings = dict(SETTINGS[mode], **{k: v for k, v in (overrides or {}).items() if v})
    names = list(names or (P.QUICK if mode == "quick" else P.FULL))
    fresh = (mode == "full") if fresh is None else fresh
    if stan and not stan_side.available():
        print("[nuts] rstan not available: popkin side only", flush=True)
        stan = False
    from benchmarks.common import setup_jax

    setup_jax(True)
    payload = {"study": "nuts", "mode": mode, "parameterization": parameterization, "machine": machine(),
               "settings": settings,
               "problems_requested": names, "rows": [], "note": (SHARED_NOTE + " " + note).strip()}
    path = results_path(out_dir, mode, parameterization)
    if append and path.is_file():   # keep the rows of other problems from an earlier run
        old = json.loads(path.read_text())
        # each row records its own settings; the file's header keeps the mode's defaults and
        # the report marks any row run with others (e.g. longer chains to reach convergence)
        payload["settings"] = old.get("settings", settings)
        payload["note"] = merge_note(old.get("note"), note)
        payload["rows"] = [r for r in old["rows"] if r["problem"] not in names]
        payload["earlier_runs"] = old.get("earlier_runs", []) + [
            {"problems": [r["problem"] for r in payload["rows"]], "machine": old["machine"]}]
        payload["problems_requested"] = [r["problem"] for r in payload["rows"]] + names
    for n in names:   # the JSON is rewritten after every problem: a stopped run keeps what it finished
        payload["rows"].append(run_problem(n, settings, stan=stan, fresh=fresh, parameterization=parameterization))
        payload["problems_done"] = [r["problem"] for r in payload["rows"]]
        payload["machine_at_end"] = {"load_average_1_5_15": _load()}
        write_json(path, payload)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_const", dest="mode", const="quick")
    g.add_argument("--full", action="store_const", dest="mode", const="full")
    ap.add_argument("--problems", nargs="+", choices=sorted(P.PROBLEMS))
    ap.add_argument("--chains", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--draws", type=int)
    ap.add_argument("--no-stan", action="store_true")
    ap.add_argument("--fresh-compile", action="store_true", default=None)
    ap.add_argument("--reuse-compile", action="store_false", dest="fresh_compile",
                    help="use cached Stan builds (their recorded compile time) even in --full")
    ap.add_argument("--append", action="store_true", help="keep the other problems' rows of the existing JSON")
    ap.add_argument("--note", default="", help="a remark stored in the JSON (e.g. how busy the machine was)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--parameterization", default="noncentered", choices=("noncentered", "centered"),
                    help="IIV coordinates of both engines (default: non-centred)")
    ap.add_argument("--rediagnose", action="store_true",
                    help="recompute diagnostics and targets of --problems from their saved draws (no sampling)")
    args = ap.parse_args(argv)
    if args.rediagnose:
        print(f"[nuts] wrote {rediagnose(args.problems, args.out, args.parameterization)}")
        return
    path = run(args.mode or "quick", args.problems, args.out, not args.no_stan, args.fresh_compile,
               dict(chains=args.chains, warmup=args.warmup, draws=args.draws), args.note, args.append,
               args.parameterization)
    print(f"[nuts] wrote {path}")


if __name__ == "__main__":
    main()

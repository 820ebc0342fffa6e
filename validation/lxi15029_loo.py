"""LXI-15029 virtual trial: NUTS fits of the candidate models, PSIS-LOO by subject, and
whether the posterior of the true structure covers the values the trial was simulated
with (issue 6; the assertions are ``tests/infer/test_lxi15029_fit.py``).

    python validation/lxi15029_loo.py --out validation/results/lxi15029_loo \
        [--candidates lxi_1cpt_linear lxi_2cpt_linear lxi_1cpt_mm_linear lxi_1cpt_autoinh]
        [--chains 2 --warmup 300 --draws 300 --seed 1 --max-tree-depth 8 --parameterization centered]

Resumable, because the ODE candidates take hours on a 2-core CPU: each candidate's fit
goes into its own new folder OUT/<candidate>/ (posterior.nc, parameters.csv, fit.json
with the settings, seconds and convergence numbers), written under a temporary name and
renamed when complete; a candidate whose folder exists is not refitted (nothing is
overwritten). Run it again to fit the candidates still missing. Candidates whose
gradients go through diffrax in reverse mode (lxi_1cpt_autoinh), whose chains numpyro
would run one after the other, get one process per chain, each pinned to its own CPU
(chain i with seed SEED + i). Those chains are checkpointed every 5 iterations
(``popkin.infer.checkpoint.run_chain``, OUT/.<candidate>.chain<i>.state.npz), so an
interrupted run resumes them where they stopped; a finished chain is kept in
OUT/.<candidate>.chain<i>.npz until the candidate's folder is written. The checkpoints
are kept after that: to extend a fit, rename its folder (e.g. to <candidate>-200draws)
and run again with more --draws and otherwise the same settings; each chain continues
from its last iteration (``run_chain`` extends a finished chain). To restart instead, with
a metric measured on the draws (``--restart-from RUN``), rename the earlier run's
checkpoints to OUT/.RUN.chain<i>.state.npz and its folder away. Once the true structure and at least one
other candidate are fitted it writes OUT/loo-<settings>-<k>models.csv (``popkin.diagnostics.loo_table(by="subject")``)
(and loo-by-observation-<settings>-<k>models.csv) and OUT/coverage-<settings>-<k>models.csv (the 90 % intervals of the typical values, IIV
SDs and residual SDs of ``lxi_1cpt_autoinh`` against ``popkin.datasets.lxi15029.POPULATION``),
and prints them. ``lxi_1cpt_autoinh_clint`` (the same model family, IIV on CLINT = VM/KM
and VM) gets its coverage in the true model's terms (``in_true_terms``) in
OUT/coverage-clint-<settings>.csv; when it is fitted without ``lxi_1cpt_autoinh`` its
settings name the files, prefixed ``clint-``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("lxi_1cpt_linear", "lxi_2cpt_linear", "lxi_1cpt_mm_linear", "lxi_1cpt_autoinh", "lxi_1cpt_autoinh_clint")
TRUE_STRUCTURE = "lxi_1cpt_autoinh"
# the same model family with the IIV of VM and KM on CLINT = VM/KM and VM (correlated)
TRUE_STRUCTURE_CLINT = "lxi_1cpt_autoinh_clint"


def _chain_file(folder: Path, index: int) -> Path:
    return folder.with_name(f".{folder.name}.chain{index}.npz")


def _options(args, chains: int, seed: int):
    """NUTSOptions from the command line (--parameterization and --dense-mass read as
    ``popkin fit`` reads them)."""
    from popkin.infer import NUTSOptions
    from popkin.infer.centring import parse_parameterization
    from popkin.infer.nuts import parse_dense_mass

    return NUTSOptions(chains=chains, warmup=args.warmup, draws=args.draws, seed=seed,
                       max_tree_depth=args.max_tree_depth, progress=False,
                       parameterization=parse_parameterization(args.parameterization),
                       dense_mass=parse_dense_mass(args.dense_mass),
                       init_mass=args.init_mass, adapt_mass=not args.fixed_mass, jitter=args.jitter)


def _state_file(chain_file: Path) -> Path:
    return chain_file.with_name(chain_file.name.replace(".npz", ".state.npz"))


def sample_one_chain(name: str, index: int, path: Path, args) -> None:
    """Child process: chain ``index`` of ``name`` (seed ``args.seed + index``), its draws
    and sampler statistics written to ``path`` (npz)."""
    import numpy as np

    from popkin import datasets
    from popkin.infer import bind
    from popkin.infer.catalogue import load_catalogue_model
    from popkin.infer.checkpoint import restart_point, run_chain

    model = load_catalogue_model(ROOT / "models" / f"{name}.py").model
    problem = bind(model, datasets.lxi15029_trial())
    options = _options(args, 1, args.seed + index)
    restart = {}
    if args.restart_from:   # start at the earlier run's last draws, with their covariance as metric
        earlier = [args.out / f".{args.restart_from}.chain{i}.state.npz" for i in range(args.chains)]
        starts, metric = restart_point(problem, options, earlier)
        restart = {"start": starts[index], "inverse_mass": metric}
    draws = run_chain(problem, options, _state_file(path), segment=5,
                      log=lambda line: print(f"{name} chain {index}: {line}", flush=True), **restart)
    arrays = {f"samples/{k}": v for k, v in draws.samples.items()}
    arrays |= {f"stats/{k}": v for k, v in draws.stats.items()}
    tmp = path.with_name(path.name + ".partial.npz")
    np.savez(tmp, **arrays)
    tmp.rename(path)


def _chains_in_processes(name: str, folder: Path, args):
    """Run each chain in its own process pinned to its own CPU, and stack them.

    numpyro runs the chains of a model with reverse-mode ODE gradients one after the other
    (pmap through diffrax's reverse pass fails, diffrax #765); measured here, two such
    processes on the two cores each take 0.24 s per lxi_1cpt_autoinh gradient against
    0.21 s for one process on both, so the chains finish in about half the time."""
    import os
    import subprocess

    import numpy as np

    cpus = sorted(os.sched_getaffinity(0))
    procs = []
    for i in range(args.chains):
        path = _chain_file(folder, i)
        if path.exists():
            continue  # a chain finished by an earlier, interrupted run
        cmd = [sys.executable, __file__, "--out", str(args.out), "--chain-of", name, "--chain-index", str(i),
               "--warmup", str(args.warmup), "--draws", str(args.draws), "--seed", str(args.seed),
               "--max-tree-depth", str(args.max_tree_depth), "--parameterization", args.parameterization,
               "--dense-mass", args.dense_mass, "--init-mass", args.init_mass, "--jitter", str(args.jitter),
               "--chains", str(args.chains)] + (["--fixed-mass"] * args.fixed_mass)
        if args.restart_from:
            cmd += ["--restart-from", args.restart_from]
        procs.append(subprocess.Popen(["taskset", "-c", str(cpus[i % len(cpus)])] + cmd))
    if any(p.wait() != 0 for p in procs):
        raise SystemExit(f"{name}: a chain process failed")
    parts = [np.load(_chain_file(folder, i)) for i in range(args.chains)]
    samples = {k.split("/", 1)[1]: np.concatenate([p[k] for p in parts]) for k in parts[0] if k.startswith("samples/")}
    stats = {k.split("/", 1)[1]: np.concatenate([p[k] for p in parts]) for k in parts[0] if k.startswith("stats/")}
    return samples, stats


def fit_one(name: str, folder: Path, args) -> None:
    """Fit one candidate into the new folder ``folder`` (atomically: a temporary folder
    renamed at the end)."""
    import numpy as np

    from popkin import datasets
    from popkin.infer import bind
    from popkin.infer.catalogue import load_catalogue_model
    from popkin.infer.fit import nuts_result
    from popkin.infer.nuts import Sampler, uses_ode

    model = load_catalogue_model(ROOT / "models" / f"{name}.py").model
    problem = bind(model, datasets.lxi15029_trial())
    options = _options(args, args.chains, args.seed)
    processes = args.chains > 1 and uses_ode(model)
    if args.restart_from and not processes:
        raise SystemExit(f"--restart-from: only for the checkpointed ODE candidates (one process per chain), not {name}")
    start = time.time()
    if processes:
        samples, stats = _chains_in_processes(name, folder, args)
    else:
        draws = Sampler(problem, options).run(problem)
        samples, stats = draws.samples, draws.stats
    result = nuts_result(problem, options, samples, stats)
    seconds = time.time() - start
    tmp = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    result.save(tmp / "posterior.nc")
    result.table.to_csv(tmp / "parameters.csv", float_format="%.6g")
    info = {"candidate": name, "settings": vars(args) | {"out": str(args.out)}, "fit_seconds": round(seconds, 1),
            "chains_in_processes": processes,
            "divergences": int(stats["diverging"].sum()),
            "leapfrogs_per_draw": float(np.mean(stats["num_steps"])) if "num_steps" in stats else None,
            "max_rhat": float(np.nanmax(result.table["rhat"])),
            "min_ess_bulk": float(np.nanmin(result.table["ess_bulk"])),
            "warnings": list(result.warnings)}
    (tmp / "fit.json").write_text(json.dumps(info, indent=1))
    tmp.rename(folder)
    for i in range(args.chains):  # the checkpoints stay: a longer run extends them
        _chain_file(folder, i).unlink(missing_ok=True)
    print(json.dumps(info, indent=1), flush=True)


def coverage_table(post, truth, patients=None):
    """The 90 % posterior intervals of ``post`` (a FitResult's parameter table) against
    the values the trial was simulated with (``truth``: ``lxi15029.POPULATION``): the
    typical values, the IIV SDs (omega_<P>) and the residual SDs, one row each, with
    ``covered`` True when q05 <= truth <= q95.

    ``patients`` (the trial's true individual parameters, ``trial.truth``) adds the values
    this trial's patients realised: for a parameter with IIV the geometric mean of their
    values (the criterion of the ACOP recovery tests) and for its omega the SD of their
    log values; ``covered_realised`` compares those (the population value elsewhere)."""
    import numpy as np
    import pandas as pd

    values = [("typical", k, k, v) for k, v in truth.typical.items()]
    values += [("IIV", f"omega_{k}", k, v) for k, v in truth.omega.items()]
    values += [("residual", "sigma_prop", None, truth.sigma_prop), ("residual", "sigma_add", None, truth.sigma_add)]
    rows = []
    for kind, name, source, value in values:
        realised = value
        if patients is not None and source in truth.omega:
            logs = np.log(patients[source].to_numpy(dtype=float))
            realised = float(np.exp(logs.mean())) if kind == "typical" else float(logs.std(ddof=1))
        lo, mid, hi = (float(post.loc[name, c]) for c in ("q05", "median", "q95"))
        rows.append({"parameter": name, "kind": kind, "truth": value, "realised": realised, "q05": lo, "median": mid,
                     "q95": hi, "covered": bool(lo <= value <= hi), "covered_realised": bool(lo <= realised <= hi)})
    return pd.DataFrame(rows).set_index("parameter")


def omega_km(omega_clint, omega_vm, rho):
    """omega_KM of the clint form: the SD of eta_KM = eta_VM - eta_CLINT, from the two
    IIV SDs and their correlation rho (arrays of draws); clipped at 0 against rounding."""
    import numpy as np

    return np.sqrt(np.maximum(omega_clint ** 2 + omega_vm ** 2 - 2 * rho * omega_clint * omega_vm, 0.0))


def in_true_terms(result):
    """The parameter table of a ``lxi_1cpt_autoinh_clint`` fit (``result``: its FitResult)
    with the rows the true model's coverage needs added, from the draws: KM = VM/CLINT and
    omega_KM, the SD of eta_VM - eta_CLINT,
    omega_KM^2 = omega_CLINT^2 + omega_VM^2 - 2 rho omega_CLINT omega_VM (rho: their
    correlation); median, 90 % interval, R-hat and ESS over the chains as the table has
    them."""
    import numpy as np
    import pandas as pd

    from popkin.infer.table import draw_summary

    post = result.idata.posterior
    oc, ov = (post["omega"].sel(iiv=p).values for p in ("CLINT", "VM"))
    rho = post["corr_iiv"].sel(iiv="CLINT", iiv_bis="VM").values
    derived = {"KM": ("typical", "mg/L", post["VM"].values / post["CLINT"].values),
               "omega_KM": ("IIV", "log-SD", omega_km(oc, ov, rho))}
    rows = []
    for name, (kind, unit, a) in derived.items():
        rows.append({"parameter": name, "kind": kind, "unit": unit, **draw_summary(a)})
    return pd.concat([result.table, pd.DataFrame(rows).set_index("parameter")])


def compare(out: Path, names: list[str]) -> None:
    """LOO by subject over the fitted candidates ``names``, and the coverage of the truth
    (files tagged with the true structure's settings and the number of candidates)."""
    from popkin import datasets
    from popkin.datasets import lxi15029
    from popkin.diagnostics.loo import loo_table
    from popkin.infer.result import load

    settings = {n: {k: json.loads((out / n / "fit.json").read_text())["settings"].get(k)
                    for k in ("chains", "warmup", "draws", "seed", "max_tree_depth", "parameterization", "dense_mass",
                              "init_mass", "fixed_mass", "jitter", "restart_from")}
                for n in names}
    reference = TRUE_STRUCTURE if TRUE_STRUCTURE in names else TRUE_STRUCTURE_CLINT
    s = settings[reference]
    tag = f"{s['chains']}x{s['warmup']}x{s['draws']}{'-' + s['parameterization'] if s['parameterization'] else ''}-{len(names)}models"
    if s.get("dense_mass") not in (None, "diagonal"):
        tag = tag.replace("models", f"models-mass-{s['dense_mass']}".replace("/", "_"))
    if s.get("max_tree_depth") not in (None, 8):
        tag += f"-depth{s['max_tree_depth']}"
    if s.get("init_mass") == "map":
        tag += "-mapmetric" + ("-fixed" if s.get("fixed_mass") else "")
    if s.get("restart_from"):
        tag += f"-restart-{s['restart_from']}"
    tag = tag.replace(",", "+")
    if reference != TRUE_STRUCTURE:
        tag = f"clint-{tag}"
    loo_path, cov_path = out / f"loo-{tag}.csv", out / f"coverage-{tag}.csv"
    if loo_path.exists() or cov_path.exists():
        print(f"{loo_path} / {cov_path} exist already: not recomputed (nothing is overwritten)")
        return
    if len({json.dumps(v, sort_keys=True) for v in settings.values()}) > 1:
        print(f"note: the candidates were fitted with different settings: {settings}", flush=True)
    fits = {name: load(out / name / "posterior.nc") for name in names}
    table = loo_table(fits, by="subject")
    table.to_csv(loo_path, float_format="%.4g")
    # by observation too: with ~140 sampled coordinates and each subject's own etas, leaving a
    # whole subject out is often too far for PSIS (Pareto k > 0.7); single records are not
    by_obs = loo_table(fits, by="observation")
    by_obs.to_csv(out / f"loo-by-observation-{tag}.csv", float_format="%.4g")
    print(by_obs.drop(columns="warning").to_string(float_format="%.2f"))
    print(table.to_string(float_format="%.2f"))
    patients = datasets.lxi15029_trial().truth
    # the coverage of each fitted form of the true model; the reference's file is cov_path
    other = out / f"coverage-clint-{tag}.csv"
    for name, path in ((TRUE_STRUCTURE, cov_path), (TRUE_STRUCTURE_CLINT, other if reference == TRUE_STRUCTURE else cov_path)):
        if name not in fits or path.exists():
            continue
        post = fits[name].table if name == TRUE_STRUCTURE else in_true_terms(fits[name])
        coverage = coverage_table(post, lxi15029.POPULATION, patients)
        coverage.to_csv(path, float_format="%.5g")
        print(f"{name}:")
        print(coverage.to_string(float_format="%.4g"))
        print(f"wrote {path}")
    print(f"wrote {loo_path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--candidates", nargs="+", choices=CANDIDATES, default=list(CANDIDATES))
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-tree-depth", type=int, default=8)
    ap.add_argument("--parameterization", default="noncentered",
                    help="NUTSOptions.parameterization: noncentered, centered, or the parameters to centre, "
                         "comma-separated (e.g. CL,V,KA); centred suits this richly sampled trial")
    ap.add_argument("--dense-mass", default="diagonal",
                    help="NUTSOptions.dense_mass as popkin fit --dense-mass reads it: diagonal, dense, typical "
                         "(one dense block over the typical values), or blocks such as VM,KM,CL/KDEG,KINACT")
    ap.add_argument("--init-mass", choices=("unit", "map"), default="unit",
                    help="NUTSOptions.init_mass: the metric warm-up starts from (map: from the curvature at the MAP)")
    ap.add_argument("--fixed-mass", action="store_true",
                    help="NUTSOptions(adapt_mass=False): keep the starting metric, adapt only the step size")
    ap.add_argument("--jitter", type=float, default=0.1,
                    help="NUTSOptions.jitter: SD of the noise added to each chain's start (unconstrained scale). "
                         "Rich data give posterior SDs down to 0.005 here: 0.1 starts the chains 20 SDs out")
    ap.add_argument("--restart-from", metavar="RUN",
                    help="start each chain at the last draw of chain i of an earlier run whose checkpoints are "
                         "OUT/.RUN.chain<i>.state.npz (same model, data and --parameterization), with the "
                         "covariance of that run's draws after its warm-up as metric "
                         "(popkin.infer.checkpoint.restart_point); use with --init-mass unit, --fixed-mass and "
                         "a short --warmup (step size only)")
    ap.add_argument("--chain-of", choices=CANDIDATES, help=argparse.SUPPRESS)  # child process
    ap.add_argument("--chain-index", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.chain_of is not None:
        import jax

        jax.config.update("jax_enable_x64", True)
        sample_one_chain(args.chain_of, args.chain_index,
                         _chain_file(args.out / args.chain_of, args.chain_index), args)
        return 0

    import numpyro

    numpyro.set_host_device_count(args.chains)
    import jax

    jax.config.update("jax_enable_x64", True)

    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.candidates:
        folder = args.out / name
        if folder.exists():
            print(f"{name}: {folder} exists, not refitted", flush=True)
            continue
        print(f"{name}: fitting ...", flush=True)
        fit_one(name, folder, args)
    fitted = [n for n in CANDIDATES if (args.out / n / "posterior.nc").is_file()]
    missing = [n for n in CANDIDATES if n not in fitted]
    if {TRUE_STRUCTURE, TRUE_STRUCTURE_CLINT} & set(fitted) and len(fitted) > 1:
        compare(args.out, fitted)
    if missing:
        print(f"not fitted yet: {', '.join(missing)} (run again to fit them and compare all)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

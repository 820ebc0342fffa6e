"""Which part of the IIV of the saturable pathway the LXI-15029 trial identifies: the
omegas of VM and KM of a ``lxi_1cpt_autoinh`` NUTS run, and the same two as a radius and
an angle (issue 6).

    python validation/lxi15029_omega_split.py --out validation/results/lxi15029_loo \
        --run lxi_1cpt_autoinh-restart

Reads the run's chain checkpoints OUT/.RUN.chain<i>.state.npz (``run_chain`` files; the
warm-up length is read from their fingerprint) and writes OUT/omega-split-RUN-<draws>.csv
(a new file, never over an existing one), one row per quantity:

- omega_VM, omega_KM, omega_CL: the log-scale IIV SDs as the fit reports them;
- radius = sqrt(omega_VM^2 + omega_KM^2): the SD of eta_VM - eta_KM, the IIV of the
  intrinsic clearance VM/KM, which sets exposure below KM;
- angle = atan2(omega_KM, omega_VM) in degrees: how that IIV is split between VM
  (0) and KM (90).

A run of ``lxi_1cpt_autoinh_clint`` (IIV on CLINT and VM, correlated; recognised by its
CLINT coordinate) is read in the same terms: radius = omega_CLINT, omega_KM the SD of
eta_VM - eta_CLINT, and one more row, rho, the correlation of eta_CLINT with eta_VM
(truth omega_VM / radius = 0.707).

Each row has the posterior median, 90 % interval, R-hat and bulk/tail ESS over the
chains (arviz), the value the trial was simulated with (``lxi15029.POPULATION``: 0.3 and
0.3, hence radius 0.424 and angle 45) and the one its 24 patients realised (the SD of
their log VM and log KM). If the radius has converged while omega_VM and omega_KM have
not, the chains' trouble is the split, which these data hardly inform.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _loo_script():
    """validation/lxi15029_loo.py, whose ``omega_km`` this script shares."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("lxi15029_loo", Path(__file__).with_name("lxi15029_loo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def omega_draws(out: Path, run: str, chains: int = 2) -> tuple[dict, int]:
    """(quantity -> (chains, draws) array, warm-up) from the checkpoints of ``run``; all
    chains cut to the shortest one's iterations."""
    from popkin.infer.checkpoint import saved_warmup

    saved = [np.load(out / f".{run}.chain{i}.state.npz") for i in range(chains)]
    warmup = saved_warmup(saved[0])
    done = min(int(s["done"]) for s in saved)
    if done < warmup + 4:
        raise SystemExit(f"{run}: {done} iterations, fewer than 4 after the warm-up of {warmup}")
    # the sampler's coordinate is log omega, in the order of the model's IIV
    omega = np.exp(np.stack([s["draws/z/omega"][warmup:done] for s in saved]))
    cl = omega[..., 4]
    if "draws/z/CLINT" in saved[0].files:
        # lxi_1cpt_autoinh_clint: IIV(("CLINT", "VM"), ...) correlated, then V, KA, CL;
        # rho from the sampled coordinate of the LKJ Cholesky factor, by numpyro's transform
        from numpyro.distributions import constraints
        from numpyro.distributions.transforms import biject_to

        clint, vm = omega[..., 0], omega[..., 1]
        x = np.stack([s["draws/z/L_iiv1"][warmup:done] for s in saved])
        rho = np.asarray(biject_to(constraints.corr_cholesky)(x))[..., 1, 0]
        km = _loo_script().omega_km(clint, vm, rho)
        return {"omega_VM": vm, "omega_KM": km, "omega_CL": cl, "radius": clint,
                "angle": np.degrees(np.arctan2(km, vm)), "rho": rho}, warmup
    vm, km = omega[..., 0], omega[..., 1]            # IIV(("VM", "KM", "V", "KA", "CL"))
    return {"omega_VM": vm, "omega_KM": km, "omega_CL": cl, "radius": np.hypot(vm, km),
            "angle": np.degrees(np.arctan2(km, vm))}, warmup


def split_table(draws: dict, truth: dict, realised: dict):
    import pandas as pd

    from popkin.infer.table import draw_summary

    rows = []
    for name, a in draws.items():           # rho only for a run of the clint candidate
        row = draw_summary(a)
        rows.append({"quantity": name, **row, "truth": truth[name], "realised": realised[name],
                     "covered": bool(row["q05"] <= truth[name] <= row["q95"])})
    return pd.DataFrame(rows).set_index("quantity")


def _pair(vm: float, km: float, cl: float, rho: float) -> dict:
    return {"omega_VM": vm, "omega_KM": km, "omega_CL": cl, "radius": float(np.hypot(vm, km)),
            "angle": float(np.degrees(np.arctan2(km, vm))), "rho": rho}


def reference_values() -> tuple[dict, dict]:
    """(truth, realised): the quantities as the trial was simulated
    (``lxi15029.POPULATION.omega``) and as its patients realised them (the SD, ddof 1, of
    their true log VM, log KM and log CL)."""
    from popkin import datasets
    from popkin.datasets import lxi15029

    om = lxi15029.POPULATION.omega
    patients = datasets.lxi15029_trial().truth
    log = {k: np.log(patients[k].to_numpy(dtype=float)) for k in ("VM", "KM", "CL")}
    sd = {k: float(v.std(ddof=1)) for k, v in log.items()}
    # rho: the correlation of eta_CLINT = eta_VM - eta_KM with eta_VM, independent eta_VM
    # and eta_KM in the simulation: omega_VM / radius
    truth_rho = om["VM"] / float(np.hypot(om["VM"], om["KM"]))
    realised_rho = float(np.corrcoef(log["VM"] - log["KM"], log["VM"])[0, 1])
    return (_pair(om["VM"], om["KM"], om["CL"], truth_rho),
            _pair(sd["VM"], sd["KM"], sd["CL"], realised_rho))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="the folder of lxi15029_loo.py's runs")
    ap.add_argument("--run", required=True, help="RUN of the checkpoints OUT/.RUN.chain<i>.state.npz")
    ap.add_argument("--chains", type=int, default=2)
    args = ap.parse_args(argv)

    draws, warmup = omega_draws(args.out, args.run, args.chains)
    n = next(iter(draws.values())).shape[1]
    path = args.out / f"omega-split-{args.run}-{n}.csv"
    if path.exists():
        print(f"{path} exists: not rewritten (nothing is overwritten)")
        return 0
    table = split_table(draws, *reference_values())
    tmp = path.with_name(f".{path.name}.partial")
    table.to_csv(tmp, float_format="%.4g")
    tmp.rename(path)
    print(f"{args.run}: {args.chains} chains x {n} draws after a warm-up of {warmup}")
    print(table.to_string(float_format="%.3f"))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

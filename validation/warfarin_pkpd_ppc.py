"""Warfarin PK/PD (models/warfarin_pkpd.py): a NUTS fit and the posterior predictive
check of the PCA (prothrombin complex activity), the figure and numbers of
docs/models.md ("Warfarin PK/PD: posterior predictive check of PCA").

    python validation/warfarin_pkpd_ppc.py --out /tmp/warfarin-pkpd \
        [--chains 2 --warmup 200 --draws 200 --seed 1 --max-tree-depth 10 --parameterization CL,V,KA,IC50|centered|noncentered]
        [--figure docs/warfarin_pca_vpc.png]

Writes into the new folder OUT: parameters.csv (the parameter table), posterior.nc, and
ppc_pca.csv (the VPC of the PCA records: observed 5th/50th/95th percentiles per time bin
and the 90% intervals of the same percentiles over 200 replicate trials simulated from
the posterior) and prints the summary numbers: the fraction of PCA observations inside
their own 90% posterior predictive interval (from the fit's posterior_predictive group)
and the fraction of VPC percentiles inside their simulated intervals.

The VPC of the PCA is a plain one (no prediction correction): the PCA starts at the same
baseline (KIN/KOUT) in every subject and falls as warfarin accumulates; a pcVPC scales by
PRED, which is nearly flat for a turnover response, so it adds little here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-tree-depth", type=int, default=10)
    ap.add_argument("--parameterization", default="CL,V,KA,IC50",
                    help="NUTS coordinates: the parameters to centre, comma-separated (default CL,V,KA,IC50: "
                         "the data pin each subject's CL, V, KA and IC50, while KIN and KOUT, with CV ~4%%, "
                         "stay non-centred), or centered / noncentered for all")
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--figure", type=Path, default=None, help="also save the PCA VPC figure here")
    args = ap.parse_args(argv)
    from popkin.infer.centring import parse_parameterization

    args.parameterization = parse_parameterization(args.parameterization)
    if args.out.exists():
        sys.exit(f"{args.out} already exists; give a new folder")

    import numpyro

    numpyro.set_host_device_count(args.chains)     # chains in parallel on CPU cores
    import jax

    jax.config.update("jax_enable_x64", True)
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from popkin import datasets
    from popkin import diagnostics as dx
    from popkin.infer import NUTSOptions, fit
    from popkin.infer.catalogue import load_catalogue_model

    model = load_catalogue_model(ROOT / "models" / "warfarin_pkpd.py").model
    start = time.time()
    result = fit(model, datasets.warfarin(), "nuts",
                 NUTSOptions(chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed,
                             max_tree_depth=args.max_tree_depth, progress=False,
                             parameterization=args.parameterization))
    seconds = time.time() - start
    args.out.mkdir(parents=True)
    result.table.to_csv(args.out / "parameters.csv", float_format="%.6g")
    result.save(args.out / "posterior.nc")

    # (1) each PCA observation against its own 90% posterior predictive interval
    obs = result.observations
    pca = (obs["OUTPUT"] == "pca").to_numpy()
    y_rep = result.idata.posterior_predictive["y"].values.reshape(-1, len(obs))[:, pca]
    lo, hi = np.quantile(y_rep, [0.05, 0.95], axis=0)
    dv = obs["DV"].to_numpy(float)[pca]
    inside_ppi = float(np.mean((dv >= lo) & (dv <= hi)))

    # (2) VPC of the PCA: replicate trials from the posterior, percentiles per time bin
    est = dx.Estimates.from_fit(result)
    summary, points = dx.vpc(est, n_replicates=args.replicates, n_bins=8, prediction_correction=False,
                             seed=args.seed, output="pca")
    summary.to_csv(args.out / "ppc_pca.csv", index=False, float_format="%.4g")
    if args.figure is not None:
        fig = dx.plot_vpc(summary, points)
        fig.axes[0].set_ylabel("PCA (% of normal)")
        fig.savefig(args.figure, dpi=80)

    numbers = {
        "settings": f"{args.chains} chains x {args.warmup} warm-up x {args.draws} draws, seed {args.seed}, "
                    f"max tree depth {args.max_tree_depth}, "
                    f"{args.parameterization if isinstance(args.parameterization, str) else 'centred: ' + ','.join(args.parameterization)}",
        "fit_seconds": round(seconds, 1),
        "divergences": int(result.idata.sample_stats["diverging"].sum()),
        "max_rhat": float(result.table["rhat"].max()),
        "pca_observations": int(pca.sum()),
        "pca_inside_own_90pct_ppi": round(inside_ppi, 3),
        "vpc_percentiles_inside": f"{int(summary['inside'].sum())}/{len(summary)}",
        "warnings": list(result.warnings),
    }
    print(result.summary())
    print(summary[["bin", "time", "n", "percentile", "observed", "sim_low", "sim_high", "inside"]]
          .to_string(index=False, float_format="%.3g"))
    print(json.dumps(numbers, indent=1))
    (args.out / "ppc_numbers.json").write_text(json.dumps(numbers, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Parameter recovery with known truth: the ACOP 2016 simulated sets.

Schoemaker et al. 2019 (CPT Pharmacometrics Syst Pharmacol 8:923) simulated 120
subjects per set with IIV 30% and a proportional error of 20%, and published every
subject's true parameters (``popkin.datasets.acop(name).truth``). The checks: the 90%
posterior intervals of the typical values contain the geometric means of the true
individual parameters of the subjects fitted, and the posterior median IIV SDs are
within 30% of the SDs of the logarithms of those true parameters.

Subset, honestly stated: 40 subjects (every third ID: 10 per dose group) and the
single-dose part of the files (SD = 1: dose at 0, 19 samples to 72 h). The truths are
computed on the same 40 subjects. The multiple-dose and steady-state parts carry no
extra information on these questions but multiply the cost of a gradient by ~50 (66
records and the steady-state machinery per subject instead of 20 records), which puts a
NUTS run out of the reach of the test suite on 2 CPU cores.
"""

import numpy as np
import pandas as pd
import pytest

from popkin import datasets
from popkin.data import read
from popkin.infer import MAPOptions, NUTSOptions, fit
from popkin.infer.catalogue import load_catalogue_model


def _subset(name: str, every: int = 3):
    raw = pd.read_csv(datasets.path(f"{name}.csv"))
    ids = sorted(raw["ID"].unique())[::every]
    part = raw[(raw["SD"] == 1) & raw["ID"].isin(ids)]
    ds = read(part, translate=("acop-ss99",) if "SS" in part else ())
    truth = datasets.acop(name).truth
    truth = truth[truth["ID"].isin(ids)].drop(columns="ID")
    log_truth = np.log(truth.astype(float))
    return ds, np.exp(log_truth.mean()).to_dict(), log_truth.std(ddof=1).to_dict()


def _check_recovery(result, geo_mean, log_sd):
    table = result.table
    report = {}
    for p, gm in geo_mean.items():
        lo, med, hi = table.loc[p, ["q05", "median", "q95"]]
        omega = table.loc[f"omega_{p}", "median"]
        report[p] = dict(truth=round(gm, 4), median=round(med, 4), q05=round(lo, 4), q95=round(hi, 4),
                         omega=round(omega, 3), omega_truth=round(log_sd[p], 3))
    print(pd.DataFrame(report).T)
    for p, r in report.items():
        assert r["q05"] <= r["truth"] <= r["q95"], (p, r)
        assert abs(r["omega"] / r["omega_truth"] - 1) < 0.30, (p, r)


def test_oral_1cpt_map_quick_recovery():
    """Fast version (MAP): typical values within 10% of the true geometric means (the
    posterior SD of a typical value here is ~5%), and the SD of the modal etas within
    30% of the true log-SD (modal etas are shrunk, but by little with 19 samples per
    subject)."""
    ds, gm, sd = _subset("Oral_1CPT")
    result = fit(load_catalogue_model("models/acop_oral_1cpt.py").model, ds, "map", MAPOptions())
    for p in gm:
        assert result.table.loc[p, "mode"] == pytest.approx(gm[p], rel=0.10), p
        assert abs(result.table.loc[f"omega_{p}", "eta_sd"] / sd[p] - 1) < 0.30, p


@pytest.mark.slow
def test_oral_1cpt_nuts_recovers_truth():
    """Must-show, default NUTS settings (4 x 500 x 500).
    Run with ``scripts/test.sh -m slow tests/infer/test_acop.py``."""
    ds, gm, sd = _subset("Oral_1CPT")
    result = fit(load_catalogue_model("models/acop_oral_1cpt.py").model, ds, "nuts", NUTSOptions(progress=False))
    _check_recovery(result, gm, sd)


@pytest.mark.slow
def test_oral_1cpt_mm_nuts_recovers_truth():
    """Must-show, Michaelis-Menten (ODE): 2 chains x 300 warm-up x 300 draws (each
    gradient integrates 40 x 19 ODE intervals). Run with
    ``scripts/test.sh -m slow tests/infer/test_acop.py``."""
    ds, gm, sd = _subset("Oral_1CPTMM")
    result = fit(load_catalogue_model("models/acop_oral_1cpt_mm.py").model, ds, "nuts",
                 NUTSOptions(chains=2, warmup=300, draws=300, progress=False))
    _check_recovery(result, gm, sd)

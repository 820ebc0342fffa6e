"""LXI-15029 published NCA tables (Wang et al., BMC Cancer 2023; shared data
/work/shared/data/lxi15029/table3_single_dose.csv and table4_steady_state.csv):
power-model dose proportionality from the published geometric means, and the
layout of popkin's summaries against the published tables.

The numbers are read from the CSV files, never retyped. Run with ``-s`` to see them.
"""

from pathlib import Path

import os
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from popkin.nca import SINGLE_DOSE, STEADY_STATE, NCAOptions, acceptance_interval, nca, power_model, summarise

LXI = Path(os.environ["POPKIN_SHARED_DATA"]) / "lxi15029"


def published(table: str, parameter: str, statistic: str = "geomean"):
    frame = pd.read_csv(LXI / table)
    groups = list(frame.columns[3:])  # one column per dose level (mg BID)
    row = frame[(frame["parameter"] == parameter) & (frame["statistic"] == statistic)]
    assert len(row) == 1, f"{parameter}/{statistic} not found once in {table}"
    return np.array([float(g) for g in groups]), row.iloc[0][groups].to_numpy(float)


def test_published_auc_inf_rises_more_than_dose_proportionally():
    dose, auc = published("table3_single_dose.csv", "AUC_0_inf")
    fit = power_model(dose, auc, parameter="AUC_0_inf")

    # hand check, independent of popkin: numpy.polyfit on the logs, its covariance
    # (scaled by residual variance / (n - 2)) for the slope's standard error
    (slope, intercept), cov = np.polyfit(np.log(dose), np.log(auc), 1, cov=True)
    se = np.sqrt(cov[0, 0])
    q = stats.t.ppf(0.95, len(dose) - 2)
    r = dose.max() / dose.min()
    print(f"\nLXI-15029 Table 3, AUC_0_inf geometric means, doses {dose.astype(int).tolist()} mg:")
    print(f"  power model slope b = {fit.slope:.4f} (SE {fit.se:.4f}, df {fit.df}), "
          f"90% CI [{fit.ci_low:.4f}, {fit.ci_high:.4f}]")
    print(f"  hand check: polyfit b = {slope:.4f}, CI [{slope - q * se:.4f}, {slope + q * se:.4f}]")
    print(f"  acceptance interval for r = {r:g}: [{fit.accept_low:.4f}, {fit.accept_high:.4f}] -> {fit.verdict}")

    assert fit.n == 7 and fit.df == 5
    # slope, SE and CI agree with the hand check to rounding (1e-10)
    assert abs(fit.slope - slope) < 1e-10
    assert abs(fit.se - se) < 1e-10
    assert abs(fit.ci_low - (slope - q * se)) < 1e-10 and abs(fit.ci_high - (slope + q * se)) < 1e-10
    # Smith et al. interval for r = 15: 1 +- ln(1.25)/ln(15) = [0.9176, 1.0824]
    assert np.allclose((fit.accept_low, fit.accept_high), (1 + np.log(0.8) / np.log(15), 1 + np.log(1.25) / np.log(15)))
    assert fit.verdict == "more than proportional"
    assert fit.ci_low > 1  # the whole interval above 1: the paper's conclusion
    assert abs(fit.slope - 1.4835) < 5e-5  # numpy.polyfit on the published means, to the 4 decimals quoted


@pytest.mark.parametrize("table, parameter", [
    ("table3_single_dose.csv", "CMAX"), ("table3_single_dose.csv", "AUC_0_t"),
    ("table4_steady_state.csv", "CMAX_SS"), ("table4_steady_state.csv", "AUC_SS_tau"),
])
def test_published_exposure_more_than_proportional(table, parameter):
    dose, value = published(table, parameter)
    fit = power_model(dose, value, parameter=parameter)
    print(f"\n{table} {parameter}: b = {fit.slope:.4f}, 90% CI [{fit.ci_low:.4f}, {fit.ci_high:.4f}]: {fit.verdict}")
    assert fit.verdict == "more than proportional"  # the paper's stated conclusion


def test_published_geocv_identity_for_cav():
    # consistency of the published table with popkin's conventions: CAV = AUCtau/tau
    # with tau = 12 h, so their geometric means differ by exactly 12 and their CVs agree
    dose, auc = published("table4_steady_state.csv", "AUC_SS_tau")
    _, cav = published("table4_steady_state.csv", "CAV_SS")
    np.testing.assert_allclose(auc / cav, 12.0, rtol=2e-3)  # published to 2 decimals


def test_acceptance_interval_formula():
    lo, hi = acceptance_interval(15.0)
    assert abs(lo - (1 + np.log(0.8) / np.log(15))) < 1e-15 and abs(hi - (1 + np.log(1.25) / np.log(15))) < 1e-15


def _profiles():
    """Two subjects per group, day 1 and day 28, simple decaying profiles."""
    rows = []
    t = np.array([0, 0.33, 0.67, 1, 1.5, 2, 3, 4, 6, 8, 12])
    for sid, dose in enumerate([10, 10, 20, 20], start=1):
        for occ, scale in ((1, 1.0), (28, 1.5)):
            c = scale * dose * (np.exp(-0.3 * t) - np.exp(-2 * t)) * (1 + 0.1 * sid)
            for ti, ci in zip(t, c):
                rows.append({"ID": sid, "TIME": ti, "CONC": ci, "DOSE": dose, "GRP": dose, "OCC": occ, "SS": int(occ > 1)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("layout, table", [(SINGLE_DOSE, "table3_single_dose.csv"), (STEADY_STATE, "table4_steady_state.csv")])
def test_summary_layout_matches_published_table(layout, table):
    """Our summary has every (parameter, unit, statistic) row of the published
    table, so the two can be put side by side (merge on parameter and statistic)."""
    result = nca(_profiles(), NCAOptions(tau=12.0), group="GRP", occasion="OCC")
    ours = summarise(result, layout)
    paper = pd.read_csv(LXI / table, keep_default_na=False)
    assert list(ours.columns[:4]) == ["OCC", "parameter", "unit", "statistic"]
    assert list(ours.columns[4:]) == ["10", "20"]
    ours_rows = set(zip(ours["parameter"], ours["unit"], ours["statistic"]))
    paper_rows = set(zip(paper["parameter"], paper["unit"], paper["statistic"]))
    assert paper_rows <= ours_rows, paper_rows - ours_rows
    side = paper.merge(ours[ours["OCC"] == (28 if layout.steady_state else 1)], on=["parameter", "statistic"],
                       suffixes=("_paper", ""))
    assert len(side) == len(paper)

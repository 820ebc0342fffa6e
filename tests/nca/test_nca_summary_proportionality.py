"""Summary statistics (clinical-report conventions) and the power model."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from popkin.nca import (
    SINGLE_DOSE, NCAOptions, dose_proportionality, format_summary, nca, power_model, statistics, summarise,
)
from popkin.nca.proportionality import verdict


def test_geometric_statistics_by_hand():
    x = [100.0, 200.0, 400.0]
    s = statistics("geometric", x)
    assert s["geomean"] == pytest.approx(200.0, rel=1e-14)  # (100*200*400)^(1/3)
    sd_log = math.log(2.0)  # ln x = ln100 + (0, 1, 2) ln 2: SD of (0, 1, 2) is 1
    assert s["geocv_pct"] == pytest.approx(100 * math.sqrt(math.exp(sd_log**2) - 1), rel=1e-14)
    assert statistics("geometric", [5.0, 0.0, np.nan])["n"] == 1  # zero and NaN cannot enter
    assert statistics("median_range", [3, 1, 2, np.nan]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    a = statistics("arithmetic", [1.0, 2.0, 6.0])
    assert a["mean"] == 3.0 and a["sd"] == pytest.approx(math.sqrt(7.0))


def _study():
    """Three dose groups, three subjects each, single dose; exposure ~ dose^1.5."""
    t = np.array([0, 0.5, 1, 2, 4, 6, 8, 12, 24.0])
    rows = []
    for i, dose in enumerate([10, 10, 10, 30, 30, 30, 90, 90, 90]):
        scale = dose**1.5 * (1 + 0.15 * ((i % 3) - 1))
        k = 0.15 + 0.01 * (i % 3)
        for ti, ci in zip(t, scale * (np.exp(-k * t) - np.exp(-1.5 * t))):
            rows.append({"ID": i + 1, "TIME": ti, "CONC": ci, "DOSE": float(dose), "GRP": float(dose)})
    return pd.DataFrame(rows)


def test_summary_table_values_and_layout():
    result = nca(_study(), NCAOptions(tau=12.0), group="GRP")
    table = summarise(result, SINGLE_DOSE)
    assert list(table.columns) == ["parameter", "unit", "statistic", "10", "30", "90"]
    wide = result.wide
    cell = table.set_index(["parameter", "statistic"])
    for grp in (10, 30, 90):
        sub = wide[wide["GRP"] == grp]
        assert cell.loc[("AUC_0_inf", "geomean"), str(grp)] == pytest.approx(math.exp(np.log(sub["AUCIFO"]).mean()))
        assert cell.loc[("TMAX", "median"), str(grp)] == pytest.approx(np.median(sub["TMAX"]))
        assert cell.loc[("CL_F", "sd"), str(grp)] == pytest.approx(np.std(sub["CLFO"], ddof=1))
        assert cell.loc[("N", "count"), str(grp)] == 3
    text = format_summary(table, "single dose")
    assert "AUC_0_inf (h*ng/mL)" in text and "geo. mean (CV%)" in text and "median (min, max)" in text


def test_summary_marks_parameters_with_fewer_values():
    data = _study()
    data.loc[(data["ID"] == 1) & (data["TIME"] > 2), "CONC"] = np.nan  # no terminal phase for subject 1
    result = nca(data, NCAOptions(tau=12.0), group="GRP")
    table = summarise(result, SINGLE_DOSE)
    n = table[(table["parameter"] == "THALF") & (table["statistic"] == "n")]
    assert n["10"].iloc[0] == 2 and n["30"].iloc[0] == 3
    assert "[n=2]" in format_summary(table)


def test_power_model_recovers_exact_exponent():
    dose = np.array([10, 20, 40, 80, 160.0])
    fit = power_model(dose, 3 * dose**1.0)
    assert fit.slope == pytest.approx(1.0, abs=1e-12) and fit.se == pytest.approx(0.0, abs=1e-12)
    assert fit.verdict == "proportional"
    assert power_model(dose, dose**1.3).verdict == "more than proportional"
    assert power_model(dose, dose**0.6).verdict == "less than proportional"


def test_power_model_matches_scipy_linregress_and_t_interval():
    rng = np.random.default_rng(1)
    dose = np.repeat([10, 30, 100.0], 6)
    y = 2 * dose**1.05 * np.exp(rng.normal(0, 1.0, dose.size))
    fit = power_model(dose, y)
    lr = stats.linregress(np.log(dose), np.log(y))
    q = stats.t.ppf(0.95, dose.size - 2)
    assert fit.slope == pytest.approx(lr.slope, rel=1e-12) and fit.se == pytest.approx(lr.stderr, rel=1e-10)
    assert (fit.ci_low, fit.ci_high) == pytest.approx((lr.slope - q * lr.stderr, lr.slope + q * lr.stderr), rel=1e-10)
    # large noise: a CI straddling 1 and wider than the acceptance interval
    assert fit.ci_low < fit.accept_low and fit.ci_high > fit.accept_high
    assert fit.verdict == "inconclusive"


def test_verdict_rules():
    accept = (0.9, 1.1)
    assert verdict(0.95, 1.05, accept) == "proportional"
    assert verdict(1.02, 1.3, accept) == "more than proportional"
    assert verdict(0.5, 0.98, accept) == "less than proportional"
    assert verdict(0.8, 1.2, accept) == "inconclusive"


def test_power_model_not_estimable_is_a_verdict_not_an_exception():
    fit = power_model([10, 10, 10], [1, 2, 3])
    assert fit.verdict == "not estimable" and "two or more dose levels" in fit.reason
    fit = power_model([10, 20], [1, 2])
    assert fit.verdict == "not estimable" and math.isfinite(fit.slope)


def test_dose_proportionality_on_nca_result_subjects_and_geomeans():
    result = nca(_study(), NCAOptions(tau=12.0), group="GRP")
    table = dose_proportionality(result)
    assert table["parameter"].tolist() == ["CMAX", "AUCLST", "AUCIFO"]
    auc = table.set_index("parameter").loc["AUCIFO"]
    wide = result.wide
    direct = power_model(wide["DOSE"], wide["AUCIFO"])
    assert auc["slope"] == pytest.approx(direct.slope) and auc["n"] == 9
    assert auc["slope"] == pytest.approx(1.5, abs=0.05)  # built as dose^1.5
    assert auc["verdict"] == "more than proportional"
    means = dose_proportionality(result, ["AUCIFO"], method="geomeans").iloc[0]
    levels = [10.0, 30.0, 90.0]
    gm = [math.exp(np.log(wide.loc[wide["DOSE"] == d, "AUCIFO"]).mean()) for d in levels]
    assert means["n"] == 3 and means["slope"] == pytest.approx(np.polyfit(np.log(levels), np.log(gm), 1)[0], rel=1e-12)

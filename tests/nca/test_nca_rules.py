"""BLQ rules, C0 imputation, missing values with reasons, input errors, the
parameter registry and units."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popkin.errors import DatasetError
from popkin.nca import PARAMETERS, BLQRule, LambdaZRule, NCAOptions, NCAOptionsError, Units, nca


def frame(t, c, blq=None, dose=10.0, ss=0):
    f = pd.DataFrame({"ID": 1, "TIME": np.asarray(t, float), "CONC": np.asarray(c, float), "DOSE": dose, "SS": ss})
    if blq is not None:
        f["BLQ"] = blq
    return f


def trap(t, c):
    t, c = np.asarray(t, float), np.asarray(c, float)
    return float(np.sum(np.diff(t) * (c[1:] + c[:-1]) / 2))


T = [0, 1, 2, 3, 4, 6, 8]
C = [0.1, 4.0, 0.2, 3.0, 2.0, 1.0, 0.3]
FLAG = [1, 0, 1, 0, 0, 0, 1]  # BLQ first, middle and last


def test_default_blq_rule_first_zero_then_dropped():
    r = nca(frame(T, C, FLAG), NCAOptions(method="linear"))
    v = r.wide.iloc[0]
    # t=0 -> 0; the middle (t=2) and last (t=8) BLQ samples are dropped
    assert v["AUCLST"] == pytest.approx(trap([0, 1, 3, 4, 6], [0, 4, 3, 2, 1]), rel=1e-12)
    assert (v["TLST"], v["CLST"]) == (6, 1.0)
    assert "2 BLQ sample(s) dropped" in r.notes["NOTE"].tolist()


def test_blq_rule_is_configurable():
    rule = BLQRule(first="drop", middle="zero", last="zero")
    v = nca(frame(T, C, FLAG), NCAOptions(method="linear", blq=rule)).wide.iloc[0]
    # t=0 dropped, then C0 = 0 imputed (single dose); t=2 and t=8 kept as 0
    assert v["AUCLST"] == pytest.approx(trap([0, 1, 2, 3, 4, 6], [0, 4, 0, 3, 2, 1]), rel=1e-12)
    assert v["TLST"] == 6  # zeros after are not measurable
    assert v["CMIN"] == 0


def test_zero_concentration_counts_as_blq():
    v = nca(frame([0, 1, 2, 3], [0, 5, 0, 2]), NCAOptions(method="linear")).wide.iloc[0]
    assert v["AUCLST"] == pytest.approx(trap([0, 1, 3], [0, 5, 2]))


def test_all_blq_gives_nan_with_reason_not_an_exception():
    r = nca(frame([0, 1, 2], [0, 0, 0]))
    v, why = r.wide.iloc[0], r.reasons.iloc[0]
    for code in ("CMAX", "TMAX", "AUCLST", "LAMZ", "AUCIFO", "CLFO"):
        assert math.isnan(v[code]) and "no measurable concentration" in why[code]


def test_c0_imputation_single_dose_and_steady_state():
    t, c = [1, 2, 4, 8], [4.0, 3.0, 2.0, 1.5]
    sd = nca(frame(t, c), NCAOptions(method="linear"))
    assert sd.wide.iloc[0]["AUCLST"] == pytest.approx(trap([0] + t, [0] + c))
    assert "C0 imputed as 0 (single dose)" in sd.notes["NOTE"].iloc[0]
    ss = nca(frame(t, c, ss=1), NCAOptions(method="linear", tau=8.0)).wide.iloc[0]
    assert ss["AUCTAU"] == pytest.approx(trap([0] + t, [1.5] + c))  # C0 = min of the interval
    assert ss["CMIN"] == 1.5 and ss["CTROUGH"] == 1.5  # observed minimum; trough at tau = 8
    no_impute = nca(frame(t, c), NCAOptions(impute_c0=False))
    assert "no concentration at dose time" in no_impute.reasons.iloc[0]["AUCLST"]


def test_ctrough_falls_back_on_the_pre_dose_sample_at_steady_state():
    r = nca(frame([0, 1, 2, 4], [2.0, 6.0, 5.0, 4.0], ss=1), NCAOptions(tau=12.0))
    assert r.wide.iloc[0]["CTROUGH"] == 2.0
    sd = nca(frame([0, 1, 2, 4], [0.0, 6.0, 5.0, 4.0]), NCAOptions(tau=12.0))
    assert "no sample at tau = 12" in sd.reasons.iloc[0]["CTROUGH"]


def test_no_terminal_decline_reason_propagates():
    r = nca(frame([0, 1, 2, 3, 4], [0, 1, 2, 3, 4]))
    why = r.reasons.iloc[0]
    assert why["LAMZ"].startswith("only 0 positive")  # Cmax is the last sample
    r = nca(frame([0, 1, 2, 3, 4, 5], [0, 5, 1, 2, 3, 4.0]))  # rises again after Cmax
    why = r.reasons.iloc[0]
    assert why["LAMZ"].startswith("no terminal decline")
    assert why["AUCIFO"] == "needs LAMZ; " + why["LAMZ"]
    assert why["CLFO"] == "needs AUCIFO; " + why["LAMZ"]


def test_tau_after_tlast_without_lambda_z_is_missing_with_reason():
    r = nca(frame([0, 1, 2], [0, 5, 3.0]), NCAOptions(tau=12.0))
    assert "tau = 12 is after the last measurable sample (2)" in r.reasons.iloc[0]["AUCTAU"]
    assert "only 1 positive" in r.reasons.iloc[0]["AUCTAU"]


def test_input_errors_name_row_and_column():
    with pytest.raises(DatasetError, match="column 'CONC' is missing"):
        nca(pd.DataFrame({"ID": [1], "TIME": [0.0], "DOSE": [1.0]}))
    bad = frame([0, 1, -2], [0, 1, 2])
    with pytest.raises(DatasetError, match="row 3, column TIME"):
        nca(bad)
    dup = frame([0, 1, 1], [0, 1, 2])
    with pytest.raises(DatasetError, match="row 3, column TIME: duplicate time"):
        nca(dup)
    text = frame([0, 1, 2], [0, 1, 2]).astype({"CONC": object})
    text.loc[1, "CONC"] = "high"
    with pytest.raises(DatasetError, match="row 2, column CONC: value 'high'"):
        nca(text)


def test_options_are_validated():
    with pytest.raises(NCAOptionsError, match="min_points"):
        LambdaZRule(min_points=2)
    with pytest.raises(NCAOptionsError, match="method"):
        NCAOptions(method="log")
    with pytest.raises(NCAOptionsError, match="tau"):
        NCAOptions(tau=-12)
    with pytest.raises(NCAOptionsError, match="BLQRule.last"):
        BLQRule(last="half")


def test_registry_is_consistent():
    order = list(PARAMETERS)
    for i, (code, p) in enumerate(PARAMETERS.items()):
        assert p.code == code and p.description and p.applies in ("any", "single", "steady")
        for dep in p.depends:
            assert dep in PARAMETERS and order.index(dep) < i, (code, dep)
        Units().resolve(p.unit)  # every unit rule resolves
    result = nca(frame(T, C))
    assert list(result.wide.columns[3:]) == order


def test_units_scale_clearance_and_volume_to_litres():
    assert Units(conc="ng/mL", dose="mg").resolve("clearance") == ("L/h", pytest.approx(1000.0))
    assert Units(conc="mg/L", dose="mg/kg").resolve("volume") == ("L/kg", 1.0)
    assert Units(conc="ug/mL", dose="mg", time="min").resolve("clearance") == ("L/min", pytest.approx(1.0))
    assert Units(conc="nmol/L", dose="mg").resolve("clearance") == ("mg/(h*nmol/L)", 1.0)  # not commensurable
    r = nca(frame([0, 1, 2, 4, 8], [0, 4, 3, 2, 1.0]), units=Units(conc="ng/mL", dose="mg"))
    v = r.wide.iloc[0]
    assert v["CLFO"] == pytest.approx(1000 * 10.0 / v["AUCIFO"], rel=1e-12)
    assert r.long.set_index("PARAMETER").loc["CLFO", "UNIT"] == "L/h"


profiles = st.lists(
    st.tuples(st.floats(0.01, 100), st.one_of(st.just(0.0), st.floats(1e-3, 1e3))), min_size=1, max_size=12,
    unique_by=lambda p: round(p[0], 6),
)


@settings(max_examples=40, deadline=None)
@given(profiles, st.sampled_from(["linear", "lin-up/log-down"]), st.sampled_from([None, 5.0, 24.0]), st.booleans())
def test_any_profile_gives_values_or_reasons_never_an_exception(points, method, tau, ss):
    t = [round(p[0], 6) for p in points]
    c = [p[1] for p in points]
    r = nca(frame(t, c, ss=int(ss)), NCAOptions(method=method, tau=tau))
    long = r.long
    finite = np.isfinite(long["VALUE"].to_numpy(float))
    assert (long.loc[finite, "REASON"] == "").all()
    assert (long.loc[~finite, "REASON"].str.len() > 0).all()


@settings(max_examples=20, deadline=None)
@given(st.floats(1e-3, 1e3))
def test_scaling_concentrations_scales_exposure_only(factor):
    t, c = np.array([0, 0.5, 1, 2, 4, 6, 8, 12.0]), np.array([0, 3, 5, 4, 2.5, 1.6, 1.0, 0.4])
    base = nca(frame(t, c), NCAOptions(tau=12.0)).wide.iloc[0]
    scaled = nca(frame(t, factor * c), NCAOptions(tau=12.0)).wide.iloc[0]
    for code in ("CMAX", "AUCLST", "AUCIFO", "AUCTAU", "CLST"):
        assert scaled[code] == pytest.approx(factor * base[code], rel=1e-9)
    for code in ("TMAX", "LAMZ", "LAMZNPT", "AUCPEO"):
        assert scaled[code] == pytest.approx(base[code], rel=1e-9)
    assert scaled["CLFO"] == pytest.approx(base["CLFO"] / factor, rel=1e-9)

"""The dose-selection table and its rule: the rule on a table with known numbers, then the
table end to end (exposure, attainment and toxicity side by side) and its figure data."""

import numpy as np
import pandas as pd
import pytest

from popkin.dosing import bid, qd
from popkin.simulate import FixedPopulation, Settings, simulate
from popkin.simulate.plots import draw_selection, selection_data
from popkin.simulate.selection import Limit, SelectionRule, apply_rule, selection_table
from popkin.simulate.summary import Target
from popkin.simulate.toxicity import EventCounts, ToxicityOptions, fit_toxicity


def _table():
    return pd.DataFrame({
        "arm": ["a", "b", "c", "d"],
        "daily_dose": [40.0, 80.0, 120.0, 160.0],
        "P(target)": [0.20, 0.60, 0.80, 0.95],
        "P(tox)": [0.05, 0.10, 0.22, 0.40],
        "P(tox) upper": [0.10, 0.20, 0.30, 0.60],
    })


def test_rule_picks_the_highest_objective_within_limits():
    rule = SelectionRule("P(target)", (Limit("P(tox)", upper=0.25),))
    out = apply_rule(_table(), rule)
    assert out["eligible"].tolist() == [True, True, True, False]
    assert out.loc[out["selected"], "arm"].tolist() == ["c"]
    # a stricter rule on the upper bound picks a lower dose
    strict = SelectionRule("P(target)", (Limit("P(tox) upper", upper=0.25),))
    assert apply_rule(_table(), strict).loc[lambda t: t["selected"], "arm"].tolist() == ["b"]
    # nothing eligible: nothing selected
    none = SelectionRule("P(target)", (Limit("P(tox)", upper=0.01),))
    assert not apply_rule(_table(), none)["selected"].any()
    # ties within the tolerance go to the lowest daily dose
    tied = SelectionRule("P(target)", (), tie_tolerance=0.2)
    assert apply_rule(_table(), tied).loc[lambda t: t["selected"], "arm"].tolist() == ["c"]
    assert "highest P(target) subject to P(tox) <= 0.25" == str(rule)
    with pytest.raises(KeyError, match="lacks"):
        apply_rule(_table(), SelectionRule("P(nothing)"))


@pytest.fixture(scope="module")
def scenario(oral1):
    pop = FixedPopulation(oral1)
    settings = Settings(n=256, seed=9, chunk=64)
    groups = simulate(pop, {f"{d} mg BID": bid(d, days=7) for d in (25, 50, 100, 200)}, settings)
    # a toxicity that rises steeply with exposure (synthetic counts, 10 per group)
    counts = EventCounts("tox", tuple(groups.labels), (10, 10, 10, 10), (0, 1, 3, 8))
    fit = fit_toxicity(counts, groups, "auc", ToxicityOptions(warmup=300, samples=600, seed=1, patients=128))
    cands = simulate(pop, {"50 mg BID": bid(50, days=7), "100 mg BID": bid(100, days=7),
                           "150 mg BID": bid(150, days=7), "300 mg QD": qd(300, days=7)}, settings)
    return cands, fit


def test_selection_table_end_to_end(scenario, tmp_path):
    cands, fit = scenario
    target = Target("auc", low=15.0)
    rule = SelectionRule("P(auc>=15)", (Limit("P(tox)", upper=0.25),))
    table = selection_table(cands, [target], [fit], rule=rule)
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    assert list(table["arm"]) == ["50 mg BID", "100 mg BID", "150 mg BID", "300 mg QD"]
    np.testing.assert_allclose(table["daily_dose"], [100, 200, 300, 300])
    # exposure columns: AUC proportional to dose (linear model, same patients)
    np.testing.assert_allclose(table["auc p50"][1] / table["auc p50"][0], 2.0, rtol=1e-9)
    # attainment rises with dose; toxicity too
    assert np.all(np.diff(table["P(auc>=15)"][:3]) > 0)
    assert np.all(np.diff(table["P(tox)"][:3]) > 0)
    # the rule's choice: the eligible arm with the highest attainment
    eligible = table[table["P(tox)"] <= 0.25]
    assert table.loc[table["selected"], "arm"].item() == eligible.loc[eligible["P(auc>=15)"].idxmax(), "arm"]
    # figure data are the table's numbers
    data = selection_data(table, "auc", ["P(auc>=15)", "P(tox)"])
    np.testing.assert_allclose(data["probabilities"]["P(tox)"]["value"], table["P(tox)"])
    np.testing.assert_allclose(data["exposure"]["p95"], table["auc p95"])
    assert data["selected"] == int(np.flatnonzero(table["selected"])[0])
    assert draw_selection(data, tmp_path / "selection.png").stat().st_size > 1000
    with pytest.raises(Exception, match="already exists"):
        draw_selection(data, tmp_path / "selection.png")

"""The LXI-15029 dose-selection scenario end to end, on the virtual trial's TRUE population
(one compartment, MM + linear elimination auto-inhibited by enzyme turnover, F(dose); an ODE model, so
this is slow: minutes of compilation)."""

import numpy as np
import pytest

from popkin.simulate import Settings
from popkin.simulate.lxi15029 import ENDPOINTS, TRIAL_DOSES, dose_selection
from popkin.simulate.plots import draw_selection, draw_toxicity, selection_data, toxicity_data
from popkin.simulate.toxicity import ToxicityOptions


@pytest.fixture(scope="module")
def scenario():
    return dose_selection(settings=Settings(n=256, seed=1, chunk=64),
                          options=ToxicityOptions(warmup=300, samples=600, seed=2, patients=128))


@pytest.mark.slow
def test_exposure_toxicity_fits_reproduce_the_published_rates(scenario):
    """The brief's check with the trial's own PK: the Table 2 counts of every endpoint
    lie in the 90% posterior predictive intervals; R-hat < 1.05."""
    for endpoint in ENDPOINTS:
        check = scenario.predictive_checks[endpoint]
        print(f"\n{endpoint}\n{check.to_string(index=False)}")
        assert check["covered"].all(), endpoint
        assert (scenario.toxicity[endpoint].diagnostics["rhat"] < 1.05).all()


@pytest.mark.slow
def test_steady_state_exposure_of_the_trial_groups_is_like_table_4(scenario):
    """Median Cav,ss of the virtual groups against the published geometric means (Table 4,
    28-day NCA of 3-4 patients per group): within a factor of 2 (small groups, and NCA
    on day 28 against exact steady state), and exposure rising more than dose."""
    published = {10: 15.89, 20: 71.93, 40: 139.30, 60: 477.10, 80: 434.73, 110: 1075.06, 150: 2121.25}
    med = {d: np.median(scenario.groups.metrics[f"{d} mg BID"]["cav"]) for d in TRIAL_DOSES}
    for d in TRIAL_DOSES:
        assert 0.5 < med[d] / published[d] < 2.0, (d, med[d], published[d])
    assert med[150] / med[20] > 1.5 * 150 / 20


@pytest.mark.slow
def test_the_rule_selects_a_regimen_and_the_table_is_consistent(scenario, tmp_path):
    table = scenario.table
    print("\n" + table[["arm", "cav p50", "P(cav>=450)", "P(alt_increased)", "P(alt_increased) upper",
                        "P(dlt)", "eligible", "selected"]].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    bid_rows = table[table["arm"].str.endswith("BID")]
    assert np.all(np.diff(bid_rows["P(cav>=450)"]) >= 0)
    assert np.all(np.diff(bid_rows["P(alt_increased)"]) > 0)
    chosen = table[table["selected"]]
    assert len(chosen) == 1
    ok = table[table["P(alt_increased)"] <= 0.25]
    assert chosen["P(cav>=450)"].item() == ok["P(cav>=450)"].max()
    data = selection_data(table, "cav", ["P(cav>=450)", "P(alt_increased)"])
    assert draw_selection(data, tmp_path / "lxi_selection.png").stat().st_size > 1000
    assert draw_toxicity(toxicity_data(scenario.toxicity["alt_increased"]),
                         tmp_path / "lxi_alt.png").stat().st_size > 1000

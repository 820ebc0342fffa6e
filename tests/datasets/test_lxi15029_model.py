"""The virtual LXI-15029 trial: design as published, reproducible draws, the simulator's
plumbing against an independent ODE solution (scipy), and the phase II variant."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

from popkin.datasets import lxi15029 as L
from popkin.datasets import lxi15029_published

jax.config.update("jax_enable_x64", True)


def test_design_is_the_published_one():
    pub = lxi15029_published()
    n3 = pub.value("single_dose", "N", "count")
    n4 = pub.value("steady_state", "N", "count")
    assert tuple(int(x) for x in n3.index) == L.DESIGN.doses
    assert tuple(int(x) for x in n3) == L.DESIGN.n_per_group == tuple(int(x) for x in n4)
    assert L.DESIGN.n_subjects == 24
    s = L.DESIGN.samples()
    # 13 single-dose samples, 2 troughs, 11 samples of the day-28 profile
    assert s.groupby("OCC").size().to_dict() == {1: 13, 2: 1, 3: 1, 4: 11}
    assert s.loc[s["OCC"] == 2, "TIME"].item() == 48 + 7 * 24
    assert s.loc[s["OCC"] == 3, "TIME"].item() == 48 + 14 * 24
    assert s.loc[s["OCC"] == 4, "TIME"].min() == 48 + 27 * 24
    doses = L.DESIGN.regimen(110).doses()
    assert len(doses) == 1 + 56 and doses["TIME"].iloc[1] == 48 and doses["TIME"].iloc[-1] == 48 + 27 * 24 + 12
    assert np.allclose(np.diff(doses["TIME"].iloc[1:]), 12)


def test_population_draws_have_the_stated_distribution():
    pop = L.POPULATION
    draws = pop.draw(np.random.default_rng(3), 40000)
    for name, typical in pop.typical.items():
        logs = np.log(draws[name])
        # SE of the mean of 40000 log-normal draws is omega/200 < 0.003
        assert abs(logs.mean() - np.log(typical)) < 0.01
        assert abs(logs.std() - pop.omega.get(name, 0.0)) < 0.01


def test_demographics_within_their_ranges():
    d = L.DEMOGRAPHICS.draw(np.random.default_rng(5), 5000)
    assert d["AGE"].between(*L.DEMOGRAPHICS.age_range).all()
    assert d["WT"].between(*L.DEMOGRAPHICS.wt_range).all()
    assert abs(d["SEX"].mean() - L.DEMOGRAPHICS.p_male) < 0.03
    men, women = d[d["SEX"] == 1]["WT"].mean(), d[d["SEX"] == 0]["WT"].mean()
    assert men - women > 5


def test_subjects_reproduce_the_draws_of_a_trial_without_simulating():
    a = L.subjects(seed=11)
    b = L.subjects(seed=11)
    c = L.subjects(seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["V"], c["V"])
    assert list(a["DOSE"]) == list(np.repeat(L.DESIGN.doses, L.DESIGN.n_per_group).astype(float))


def _reference_profile(p: dict, lag: float, dose_times, amount, sample_times):
    """Concentrations (ng/mL) by scipy's LSODA on the same model, written out here from
    its equations (docs/lxi15029-virtual-trial.md): each dose lands F(AMT) * AMT in the
    depot ``lag`` h after its time; parallel MM + linear elimination scaled by the
    enzyme E; dE/dt = KDEG (1 - E) - KINACT C / (KI + C) E, E(0) = 1."""
    def rhs(t, x):
        c = x[1] / p["V"]
        elim = x[2] * (p["VM"] * c / (p["KM"] + c) + p["CL"] * c)
        return [-p["KA"] * x[0], p["KA"] * x[0] - elim,
                p["KDEG"] * (1 - x[2]) - p["KINACT"] * c / (p["KI"] + c) * x[2]]

    f = amount ** p["FGAM"] / (p["FD50"] ** p["FGAM"] + amount ** p["FGAM"])
    landings = [t + lag for t in dose_times]
    x = np.array([0.0, 0.0, 1.0])
    out, t0 = {}, 0.0
    # a landing at a sample time counts before the sample, as popkin's engine does
    for t, kind in sorted([(t, 0) for t in landings] + [(t, 1) for t in sample_times]):
        if t > t0:
            x = solve_ivp(rhs, (t0, t), x, method="LSODA", rtol=1e-10, atol=1e-12).y[:, -1]
            t0 = t
        if kind == 0:
            x = x + np.array([f * amount, 0.0, 0.0])
        else:
            out[t] = x[1] / p["V"] * 1000
    return np.array([out[t] for t in sample_times])


@pytest.mark.parametrize("dose", [20.0, 150.0])
def test_predictions_match_an_independent_ode_solution(dose):
    # one patient per group keeps the compile small; the typical patient of the model
    design = L.Design(doses=(dose,), n_per_group=(1,))
    patient = pd.DataFrame({"ID": [1], "DOSE": [dose], "WT": [60.0], "AGE": [50], "SEX": [1],
                            **{k: [v] for k, v in L.POPULATION.typical.items()}})
    records = L._phase1_records(patient, design)
    pred = L.predict_concentrations(records, patient, L.POPULATION)
    obs = records["EVID"] == 0
    doses = design.regimen(dose).doses()["TIME"].tolist()
    times = records.loc[obs, "TIME"].tolist()
    ref = _reference_profile(dict(L.POPULATION.typical), L.POPULATION.constants["ALAG1"], doses, dose, times)
    got = pred[obs.to_numpy()]
    # both solvers run at tight tolerances; 1e-5 relative (plus 1e-6 ng/mL near zero)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert got[0] == 0.0  # pre-dose


def test_phase2_variant_is_reproducible_and_sparse():
    a = L.simulate_phase2(n=30, seed=4, dose=(60, 110), trough_days=(8, 15), post_dose=((15, 2.0),))
    b = L.simulate_phase2(n=30, seed=4, dose=(60, 110), trough_days=(8, 15), post_dose=((15, 2.0),))
    pd.testing.assert_frame_equal(a.frame, b.frame)
    f = a.frame
    assert f["ID"].nunique() == 30
    assert sorted(a.truth["DOSE"].unique()) == [60.0, 110.0]
    obs = f[f["EVID"] == 0]
    assert obs.groupby("ID").size().eq(3).all()
    assert sorted(obs["TIME"].unique()) == [7 * 24.0, 14 * 24.0, 14 * 24.0 + 2.0]
    assert a.dataset().n_subjects == 30
    # BID from t = 0: 56 doses over 28 days, one NONMEM record with ADDL
    dose_rows = f[f["EVID"] == 1]
    assert (dose_rows["ADDL"] == 55).all() and (dose_rows["II"] == 12).all()


def test_phase2_rejects_samples_outside_the_dosing():
    with pytest.raises(ValueError, match="day 40"):
        L.simulate_phase2(n=5, post_dose=((40, 1.0),))


@pytest.mark.slow
def test_phase2_default_is_200_patients_with_sparse_troughs():
    """The default phase II population: 200 patients on 110 mg BID for 28 days, troughs on
    days 8, 15, 22 and 28 and post-dose samples on days 1 and 15 (6 per patient), a valid
    dataset whose true parameters follow the population model. Slow: 200 patients
    through the ODE engine (about a minute on 2 shared cores)."""
    trial = L.simulate_phase2()
    ds = trial.dataset()
    assert ds.n_subjects == 200 and not ds.warnings
    obs = trial.frame[trial.frame["EVID"] == 0]
    assert obs.groupby("ID").size().eq(6).all()
    troughs = obs[np.isclose(obs["TIME"] % 24.0, 0.0)]
    assert sorted(troughs["DAY"].unique()) == [8, 15, 22, 28]
    assert (trial.truth["DOSE"] == 110.0).all()
    # a trough at 110 mg is mostly measurable; its residual error and BLQ are those of the model
    assert 0.0 < obs["BLQ"].mean() < 0.5
    for name, typical in L.POPULATION.typical.items():
        logs = np.log(trial.truth[name])
        # 200 draws: SE of the mean log is 0.3/sqrt(200) = 0.021
        assert abs(logs.mean() - np.log(typical)) < 0.07

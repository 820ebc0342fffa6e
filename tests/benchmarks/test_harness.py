"""Fast checks of the benchmark harness: the data both sides read, the Stan spec derived
from popkin's model definitions, the ESS bookkeeping, the memory monitor and the report."""

import sys

import numpy as np
import pytest

from benchmarks.common import run_measured
from benchmarks.nuts import problems as P
from benchmarks.nuts import spec as S
from benchmarks.nuts.run import SHARED_NOTE, merge_note, popkin_columns, stan_columns, summarise
from benchmarks.report import nuts_series, nuts_table, structural_series, structural_table
from benchmarks.structural.run import write_subjects


def test_subjects_are_seeded_and_prefix_stable(tmp_path):
    a = write_subjects(10, tmp_path / "a.csv")
    b = write_subjects(100, tmp_path / "b.csv")
    assert list(a.columns) == ["ID", "KA", "CL", "V", "VM", "KM"]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy()[:10])
    assert (a[["KA", "CL", "V", "VM", "KM"]] > 0).all().all()


@pytest.mark.parametrize("sampling, n_obs", [("rich", len(P.RICH_TIMES)), ("sparse", 3)])
def test_bid2_design(sampling, n_obs):
    frame = P.bid2_design(5, sampling)
    per = frame.groupby("ID")
    assert (per["EVID"].sum() == P.N_DOSES).all()
    assert ((frame["EVID"] == 0).groupby(frame["ID"]).sum() == n_obs).all()
    assert per["TIME"].apply(lambda t: t.is_monotonic_increasing).all()
    assert set(frame.loc[frame["EVID"] == 1, "CMT"]) == {1} and set(frame.loc[frame["EVID"] == 0, "CMT"]) == {2}


def test_simulated_data_is_reproducible_and_read_by_popkin(tmp_path):
    import popkin.data

    f1, f2 = P.simulate_bid2(4, "sparse"), P.simulate_bid2(4, "sparse")
    np.testing.assert_array_equal(f1["DV"].to_numpy(), f2["DV"].to_numpy())
    path = P.write_nonmem_csv(f1, tmp_path / "d.csv")
    ds = popkin.data.read(path)
    ev = ds.pack()
    dv = np.asarray(ev.dv)[np.asarray(ev.obs)]
    np.testing.assert_array_equal(dv, f1.loc[f1["EVID"] == 0, "DV"].to_numpy())


def test_theoph_file_for_stan_is_the_data_popkin_fits(tmp_path):
    """The canonical CSV the Stan side reads packs to exactly what popkin fits (read with
    the theoph layout)."""
    import popkin.data

    csv = P.PROBLEMS["theoph"].prepare(tmp_path)
    a = P.PROBLEMS["theoph"].read_popkin(csv).pack()
    b = popkin.data.read(csv).pack()
    for name in ("time", "evid", "cmt", "amt", "obs", "dv", "mask", "cov"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)), err_msg=name)
    assert a.cov_names == b.cov_names


def test_stan_spec_matches_model_priors():
    from popkin.model import AdditiveError, CombinedError

    model, _ = P.theoph_model()
    spec = S.stan_spec(model)
    assert spec["program"] == "oral1.stan" and spec["thetas"] == list(model.thetas)
    for k, t in enumerate(model.thetas):
        assert spec["tv_loc"][k] == pytest.approx(np.log(model.parameters[t].initial))
        assert spec["tv_scale"][k] == 1.0
    err = model.error[0].error
    if isinstance(err, (AdditiveError, CombinedError)):
        assert spec["has_add"] == 1 and spec["add_scale"] == pytest.approx(2 * err.add)
    model2, _ = P.bid2_model()
    spec2 = S.stan_spec(model2)
    assert spec2["program"] == "oral2.stan"
    assert [spec2["thetas"][i - 1] for i in spec2["idx"]] == ["CL", "V1", "Q", "V2", "KA"]
    assert [spec2["thetas"][i - 1] for i in spec2["iiv_theta"]] == ["CL", "V1", "KA"]
    assert spec2["correlated"] == 0 and S.stan_spec(P.bid2_model(correlated=True)[0])["correlated"] == 1


def test_stan_spec_refuses_what_the_programs_lack():
    from popkin.model import IIV, ExponentialError, Fixed, PopulationModel, Theta

    base = {"CL": Theta(2.0), "V": Theta(30.0), "KA": Theta(1.0)}
    with pytest.raises(S.Unsupported):
        S.stan_spec(PopulationModel("1cmt-oral", base, error=ExponentialError(0.2)))
    with pytest.raises(S.Unsupported):
        S.stan_spec(PopulationModel("1cmt-oral", dict(base, KA=Fixed(1.0)), error=ExponentialError(0.2)))
    with pytest.raises(S.Unsupported):
        S.stan_spec(PopulationModel("1cmt-iv", {"CL": Theta(2.0), "V": Theta(30.0)},
                                    iiv=IIV(("CL",)), error=ExponentialError(0.2)))


def test_draw_columns_map_between_sides():
    model, _ = P.bid2_model(correlated=True)
    spec = S.stan_spec(model)
    rng = np.random.default_rng(0)
    c, d, n = 2, 30, 4
    npz = {t: rng.random((c, d)) for t in spec["thetas"]}
    npz.update(omega=rng.random((c, d, 3)), L_iiv1=rng.random((c, d, 3, 3)), z_iiv=rng.random((c, d, n, 3)),
               sigma_add=rng.random((c, d)), sigma_prop=rng.random((c, d)))
    pop, z = popkin_columns(spec, npz)
    # the same numbers laid out as rstan names them
    stan = {f"theta[{k + 1}]": npz[t] for k, t in enumerate(spec["thetas"])}
    stan.update({f"omega[{k + 1}]": npz["omega"][..., k] for k in range(3)})
    stan.update({f"L_iiv[{i + 1},{j + 1}]": npz["L_iiv1"][..., i, j] for i in range(3) for j in range(3)})
    stan.update({f"z_iiv[{i + 1},{k + 1}]": npz["z_iiv"][:, :, i, k] for i in range(n) for k in range(3)})
    stan.update({"sigma_add[1]": npz["sigma_add"], "sigma_prop[1]": npz["sigma_prop"]})
    spop, sz = stan_columns(spec, stan)
    assert set(spop) == set(pop)
    for k in pop:
        np.testing.assert_array_equal(spop[k], pop[k])
    assert len(sz) == len(z) == 3 * n


def test_centred_spec_points_and_columns(tmp_path):
    """Centred: the Stan point carries phi_iiv = log TV_i + eta_i (popkin's centred
    coordinates, by ``centring.to_centred``) and no z_iiv; its draws' phi_iiv columns
    are the individual columns; the report says which parameterisation."""
    from popkin.data import read
    from popkin.infer import bind
    from popkin.infer.density import initial_values

    model, _ = P.bid2_model(correlated=False)
    spec = S.stan_spec(model, centred=True)
    assert spec["centred"] == 1 and S.stan_spec(model)["centred"] == 0
    problem = bind(model, read(P.write_nonmem_csv(P.simulate_bid2(3, "sparse"), tmp_path / "d.csv")))
    values = {k: np.asarray(v) for k, v in initial_values(problem.model, problem.data).items()}
    values["z_iiv"] = np.random.default_rng(2).standard_normal(values["z_iiv"].shape)
    point = S.to_stan_values(spec, S.centred_values(problem, values))
    assert point["z_iiv"] == []
    # phi = log(typical) + omega * z, column by column (diagonal IIV, no covariates)
    tv = np.log([values[t] for t in spec["eta_names"]])
    expected = tv[None, :] + np.asarray(values["omega"])[None, :] * values["z_iiv"]
    np.testing.assert_allclose(np.asarray(point["phi_iiv"]), expected, rtol=1e-12)
    draws = {c: np.zeros((2, 5)) for c in S.population_columns(spec)}
    draws.update({f"phi_iiv[{i + 1},{k + 1}]": np.zeros((2, 5)) for i in range(3) for k in range(3)})
    assert len(stan_columns(spec, draws)[1]) == 9


def test_summarise_ess_of_independent_draws():
    rng = np.random.default_rng(1)
    pop = {"a": rng.standard_normal((4, 500)), "b": rng.standard_normal((4, 500))}
    s = summarise(pop, {}, seconds=2.0, leapfrog=4000, chains=4)
    assert 1400 < s["min_ess_bulk"] < 2600
    assert s["ess_per_s"] == pytest.approx(s["min_ess_bulk"] / 2.0)
    assert s["ess_per_1k_grad"] == pytest.approx(1000 * s["min_ess_bulk"] / 4000)
    assert s["max_rhat"] < 1.01 and s["converged"]


def test_peak_memory_of_a_child_process():
    done = run_measured([sys.executable, "-c", "import time; b = bytearray(300 * 2**20); time.sleep(0.5)"])
    assert done.returncode == 0
    assert done.peak_rss_mb > 280 and done.peak_hwm_mb > 280 and done.ru_maxrss_mb > 280


def test_report_tables_from_results():
    machine = {"cpu_model": "x", "cpus_available": 2, "logical_cpus": 2, "memory_gb": 8, "os": "linux",
               "load_average_1_5_15": [0.1, 0.1, 0.1], "python_versions": {}, "r_versions": {"R": "R 4.2"}}
    diag = {"min_ess_bulk": 400.0, "ess_per_s": 40.0, "converged": True}
    nuts = {"mode": "quick", "settings": {"chains": 2, "warmup": 10, "draws": 10}, "machine": machine, "rows": [{
        "problem": "theoph",
        "popkin": {"n_subjects": 12, "n_obs": 132, "diagnostics": diag, "warm_s": 10.0, "cold_s": 20.0,
                   "total_s": 21.0, "jit_s": 10.0, "peak_rss_mb": 500.0, "divergent": 0},
        "stan": {"diagnostics": dict(diag, ess_per_s=20.0), "sampling_wall_s": 20.0, "total_s": 80.0,
                 "compile_s": 60.0, "peak_rss_mb": 100.0, "divergent": 1},
        "logdensity_check": {"same_density": True, "same_unconstrained_density": True},
        "ratios": {"ess_per_s": 2.0, "ess_per_s_all": 1.5, "ess_per_1k_grad": 1.0, "total_time": 0.26,
                   "peak_memory": 5.0},
        "targets": {"ess_per_s_ratio": {"want": ">= 1", "got": 2.0, "met": True}}}]}
    text = "\n".join(nuts_table(nuts))
    assert "| theoph | 12 / 132 | yes, +Jacobian |" in text and "**met**" in text
    assert "| yes (plain rule) / yes (plain rule) |" in text   # judged before convergence.py
    multiplicity = dict(diag, converged_strict=False, individual={"max_rhat": 1.0247, "max_rhat_null_p": 0.23})
    row = dict(nuts["rows"][0], popkin=dict(nuts["rows"][0]["popkin"], diagnostics=multiplicity))
    assert "| yes (max R-hat 1.025, p 0.23) / yes (plain rule) |" in "\n".join(nuts_table(dict(nuts, rows=[row])))
    assert "IIV non-centred on both sides" in text
    assert "IIV centred on both sides" in "\n".join(nuts_table(dict(nuts, parameterization="centered")))
    assert nuts_series(nuts) == {"theoph": (2.0, 0.26, 5.0)}
    # a row run with other settings than the file's header says so in its problem cell
    longer = dict(nuts, rows=[dict(nuts["rows"][0], settings={"chains": 2, "warmup": 10, "draws": 40, "seed": 1})])
    assert "| theoph (2 x 10 x 40) | 12 / 132 |" in "\n".join(nuts_table(longer))
    structural = {"mode": "quick", "machine": machine, "rows": [
        {"n_subjects": 100, "model": "lin", "popkin": {"subject_timepoints_per_s": 1e6, "compile_s": 1.0,
                                                      "peak_rss_mb": 400.0},
         "desolve": {"subject_timepoints_per_s": 1e4, "peak_rss_mb": 60.0}, "throughput_ratio": 100.0,
         "target_ratio": 10.0, "meets_target": True, "max_rel_diff_first5": 1e-8}]}
    assert "| 100 | closed form |" in "\n".join(structural_table(structural))
    assert structural_series(structural)[("popkin", "lin")] == ([100], [1e6])


def _ar1(rng, rho, shape):
    e = rng.standard_normal(shape)
    x = np.empty_like(e)
    x[:, 0] = e[:, 0]
    for t in range(1, shape[1]):
        x[:, t] = rho * x[:, t - 1] + np.sqrt(1 - rho ** 2) * e[:, t]
    return x


def test_max_rhat_null_matches_simulated_chains():
    # chains that sample the target exactly (AR(1), 2 x 500 draws, 1,000 coordinates):
    # the formula's median of the max R-hat over the coordinates against arviz's max
    # R-hat of 8 such runs. Tolerance 0.004: the 8-run median's own spread at ESS ~540
    # (20-run range 1.016-1.039 over 3,010 coordinates, convergence.py); a formula off by
    # the 1.01 rule's whole margin would fail.
    from scipy.optimize import brentq

    from benchmarks.nuts.convergence import max_rhat_null_p
    from benchmarks.nuts.run import ess_rhat

    rng = np.random.default_rng(3)
    maxes, ess = [], []
    for _ in range(8):
        x = _ar1(rng, 0.3, (2, 500, 1000))
        e, r = ess_rhat(x)
        maxes.append(r.max())
        ess.append(np.median(e))
    e = float(np.median(ess))
    median = brentq(lambda r: max_rhat_null_p(r, np.full(1000, e), 500, 2) - 0.5, 1.0, 1.2)
    print(f"formula {median:.4f}, simulated {np.median(maxes):.4f} (ESS {e:.0f})")
    assert median == pytest.approx(float(np.median(maxes)), abs=0.004)
    assert np.median(maxes) > 1.01   # the plain 1.01 rule fails these exact chains


def test_convergence_rule_passes_exact_chains_and_fails_a_stuck_chain():
    rng = np.random.default_rng(4)
    pop = {"a": rng.standard_normal((2, 500)), "b": rng.standard_normal((2, 500))}
    x = _ar1(rng, 0.3, (2, 500, 1500))
    z = {f"z[{k}]": x[..., k] for k in range(1500)}
    s = summarise(pop, z, seconds=1.0, leapfrog=1000, chains=2)
    assert s["individual"]["max_rhat"] > 1.01 and not s["converged_strict"]
    assert s["individual"]["max_rhat_null_p"] >= 0.05 and s["converged"]
    # 20 coordinates whose second chain sits 0.5 SD away: caught
    for k in range(20):
        z[f"z[{k}]"] = z[f"z[{k}]"] + np.array([[0.0], [0.5]])
    s = summarise(pop, z, seconds=1.0, leapfrog=1000, chains=2)
    assert s["individual"]["max_rhat_null_p"] < 0.05 and not s["converged"]


def test_appending_keeps_the_old_note():
    old = SHARED_NOTE + " theoph on v1252, idle."
    assert merge_note(old, " sparse row: loaded. ") == old + " sparse row: loaded."
    assert merge_note(old, "") == old and merge_note(None, "x") == SHARED_NOTE + " x"


def test_gradient_worker_vmaps_over_chains_exactly(tmp_path, capsys):
    """benchmarks.nuts.gradient evaluates C points in one vmapped call: each point's value
    and gradient must equal popkin's potential and its gradient at that point alone
    (float64; 1e-10 relative: the same operations, batched)."""
    import jax
    from jax.flatten_util import ravel_pytree

    from benchmarks.common import read_json_from_stdout
    from benchmarks.nuts import gradient
    from popkin.infer import bind
    from popkin.infer.density import initial_values, potential

    jax.config.update("jax_enable_x64", True)
    csv = P.PROBLEMS["bid2_n100_sparse"].prepare(tmp_path)
    gradient.main(["bid2_n100_sparse", str(csv), str(tmp_path / "g.npy"), "--repeats", "2", "--chains", "2"])
    res = read_json_from_stdout(capsys.readouterr().out)
    assert res["chains"] == 2 and res["n_subjects"] == 100 and res["finite"]

    model, _ = P.PROBLEMS["bid2_n100_sparse"].make_model()
    problem = bind(model, P.PROBLEMS["bid2_n100_sparse"].read_popkin(csv))
    flat, unravel = ravel_pytree(problem.space.unconstrain(initial_values(problem.model, problem.data)))
    point = np.asarray(flat) + 0.1 * np.random.default_rng(7).standard_normal((2, flat.size))[0]
    value, grad = jax.jit(jax.value_and_grad(lambda v: potential(problem.model, unravel(v), problem.data)))(
        jax.numpy.asarray(point))
    assert res["value"] == pytest.approx(float(value), rel=1e-10)
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), np.asarray(grad), rtol=1e-10, atol=1e-10)


def test_gpu_study_helpers_and_table():
    """The GPU driver's budget and comparison, and its table from the committed JSON: the
    CPU / GPU column is the two files' eval_s divided (N = 1000 sparse: 6.50 / 0.945 ms)."""
    import json
    import time

    from benchmarks.common import RESULTS
    from benchmarks.gpu import Budget, rel_diff
    from benchmarks.report import gpu_table, load

    assert rel_diff([1.0, 2.0], [1.0, 4.0]) == pytest.approx(0.5)
    b = Budget(100.0)
    assert b.timeout(30) == 30 and 90 < b.timeout(1e9) <= 95
    b.end = time.perf_counter() - 1
    assert b.timeout(30) == 1.0

    results = load("full")
    if "gpu" not in results:
        pytest.skip("no GPU results committed")
    lines = "\n".join(gpu_table(results["gpu"], results))
    gpu = {r["problem"]: r for r in results["gpu"]["steps"]["gradient"]["rows"]}
    cpu = {r["problem"]: r for r in json.loads((RESULTS / "gpu_cpu_reference.json").read_text())["steps"]["gradient"]["rows"]}
    ratio = cpu["bid2_n1000_sparse"]["eval_s"] / gpu["bid2_n1000_sparse"]["eval_s"]
    assert f"| bid2_n1000_sparse | 1,000 | {1e3 * gpu['bid2_n1000_sparse']['eval_s']:.2f} |" in lines
    assert f"{ratio:.3g} |" in lines
    assert "| popkin, GPU (vectorized chains) |" in lines and "| Stan, CPU (2 cores) |" in lines


def test_convergence_rule_judges_the_folded_rhat_at_its_own_ess():
    """Antithetic chains (AR(1), phi = -0.5), like NUTS's draws of a location: bulk ESS
    about 3x the draws, while |x - median| has autocorrelation phi^2 and an ESS of about
    0.6x. arviz's R-hat is then mostly the folded one. These chains sample the target
    exactly, so the rule must pass them; judged at the bulk ESS alone it rejects them
    (seeded; the two p values differ by orders of magnitude)."""
    from benchmarks.nuts.convergence import max_rhat_null_p, within_chain_ess

    rng = np.random.default_rng(5)
    pop = {"a": rng.standard_normal((2, 500)), "b": rng.standard_normal((2, 500))}
    x = _ar1(rng, -0.5, (2, 500, 600))
    s = summarise(pop, {f"z[{k}]": x[..., k] for k in range(600)}, seconds=1.0, leapfrog=1000, chains=2)
    ind = s["individual"]
    assert ind["max_rhat"] > 1.01 and ind["max_rhat_null_p"] >= 0.05 and s["converged"]
    assert max_rhat_null_p(ind["max_rhat"], within_chain_ess(x), 500, 2) < 0.01

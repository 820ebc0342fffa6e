"""The LXI-15029 virtual trial fitted by the candidate models (issue 6): PSIS-LOO prefers
the nonlinear model over the linear ones, and the posterior of the model with the true
structure (``models/lxi_1cpt_autoinh.py``, ``1cmt-oral-mm-linear-autoinh-fdose`` with
ALAG1) covers the typical values the trial was simulated with
(``popkin.datasets.lxi15029.POPULATION``).

The trial has BLQ records (M3 censoring), among them every day-1 pre-dose sample with DV
'.': ``test_censored_records_with_missing_dv_have_finite_gradients`` is the regression
test of the bug that made every LXI fit stop with "the log-density is not finite at the
initial values" (a NaN DV reached the gradient through ``jnp.where``).

State (2026-12-05): the NUTS fit of the true structure written with IIV on CLINT = VM/KM
and VM (models/lxi_1cpt_autoinh_clint.py, checked below to be the same model family as
models/lxi_1cpt_autoinh.py) ran 2 chains x (200 warm-up + 200 draws), trees capped at
depth 7, in about 3.7 hours over two sessions from committed checkpoints: no
divergences, max R-hat 1.026 (sigma_add; omega_VM 1.022), min bulk ESS 52 (VM). LOO by
subject puts it ahead of both linear models by 368 and 373 (SE 34 and 35), and all 17
values the trial was simulated with lie inside its 90 % intervals (read in the true
model's terms). The earlier runs of lxi_1cpt_autoinh itself (IIV on VM and KM) left
omega_VM and omega_KM unconverged (R-hat 1.11-1.54): the trial identifies the IIV of
CLINT, hardly its split between VM and KM, and only the CLINT form lets the chains move
along that split. The test below reruns that comparison (hours: skipped unless asked);
the committed run's files are checked against each other by
``test_omega_split_reads_the_clint_run_as_its_tables_do``. The runs, their tables and
how to extend the last one are in docs/lxi15029-virtual-trial.md;
``python validation/lxi15029_loo.py --out DIR`` makes them.
Run this test: ``POPKIN_LXI_NUTS=1 python -m pytest -p no:xdist -m slow tests/infer/test_lxi15029_fit.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from popkin.infer.likelihood import Residual

jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parents[2]


def test_censored_records_with_missing_dv_have_finite_gradients():
    """A BLQ record whose DV is missing (NaN) contributes log Phi((LLOQ - F)/sd) and a
    finite gradient; the observed record its normal density."""
    dv = jnp.asarray([[jnp.nan, 5.0, jnp.nan]])
    observed = jnp.asarray([[False, True, False]])
    censored = jnp.asarray([[True, False, True]])
    limit = jnp.asarray([[1.0, 1.0, 1.0]])

    def total(theta):
        pred = jnp.asarray([[0.0, 4.0, 0.5]]) * theta[0]
        add, prop = jnp.full((1, 3), theta[1]), jnp.full((1, 3), theta[2])
        dist = Residual(pred, add, prop, jnp.zeros((1, 3), bool), observed, censored, limit)
        return dist.log_prob(dv).sum()

    theta = jnp.asarray([1.0, 0.3, 0.15])
    value, grad = jax.value_and_grad(total)(theta)
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))
    # the censored terms are what M3 says
    from scipy.stats import norm

    sd_obs = np.hypot(0.3, 0.15 * 4.0)
    expected = (norm.logcdf(1.0 / 0.3) + norm.logpdf(5.0, 4.0, sd_obs)
                + norm.logcdf((1.0 - 0.5) / np.hypot(0.3, 0.15 * 0.5)))
    assert float(value) == pytest.approx(expected, rel=1e-10)


@pytest.mark.slow
def test_map_of_the_true_structure_recovers_the_typical_values():
    """MAP of models/lxi_1cpt_autoinh.py on the shipped trial: the five typical values
    with IIV within 25 % of the truth, the five without IIV (enzyme and F(AMT)) within
    50 %, sigma_prop within 30 %, sigma_add within 50 % (found: module docstring). About
    9 minutes."""
    from popkin import datasets
    from popkin.datasets import lxi15029
    from popkin.infer import fit

    result = fit(str(ROOT / "models" / "lxi_1cpt_autoinh.py"), datasets.lxi15029_trial(), "map")
    mode = result.table["mode"]
    truth = lxi15029.POPULATION
    for name, value in truth.typical.items():
        tol = 0.25 if name in truth.omega else 0.5
        assert abs(mode[name] / value - 1) < tol, (name, mode[name], value)
    assert abs(mode["sigma_add"] / truth.sigma_add - 1) < 0.5
    assert abs(mode["sigma_prop"] / truth.sigma_prop - 1) < 0.3


CANDIDATES = ("lxi_1cpt_linear", "lxi_2cpt_linear", "lxi_1cpt_autoinh_clint")


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "validation" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("POPKIN_LXI_NUTS"),
                    reason="three NUTS fits, one an ODE model with reverse-mode gradients: about 4 h on 2 CPU "
                           "cores (the committed run of the clint candidate, 2 x 200 + 200 in about 3.7 h: max R-hat "
                           "1.026, min bulk ESS 52, no divergences, 17 of 17 true values covered); set "
                           "POPKIN_LXI_NUTS=1 to run it (module docstring)")
def test_loo_prefers_the_nonlinear_model_and_its_posterior_covers_the_truth():
    """LOO by subject ranks the true structure (written with IIV on CLINT and VM,
    ``lxi_1cpt_autoinh_clint``) first, ahead of both linear models by more than 4 SE of
    the difference, and its 90 % intervals, read in the true model's terms
    (``in_true_terms``: KM = VM/CLINT, omega_KM), contain every value the trial was
    simulated with: 10 typical values, 5 IIV SDs, 2 residual SDs. The settings are those
    of the committed run (validation/results/lxi15029_loo)."""
    from popkin import datasets
    from popkin.datasets import lxi15029
    from popkin.diagnostics.loo import loo_table
    from popkin.infer import NUTSOptions, fit

    loo = _script("lxi15029_loo")
    trial = datasets.lxi15029_trial()
    options = {"lxi_1cpt_linear": NUTSOptions(chains=2, warmup=250, draws=250, progress=False, seed=1,
                                              parameterization="centered"),
               "lxi_2cpt_linear": NUTSOptions(chains=2, warmup=250, draws=250, progress=False, seed=1,
                                              parameterization=("CL", "KA")),
               "lxi_1cpt_autoinh_clint": NUTSOptions(chains=2, warmup=200, draws=200, progress=False, seed=1,
                                                     max_tree_depth=7, parameterization=("V", "KA", "CL"),
                                                     dense_mass="typical", init_mass="map", jitter=0.005)}
    fits = {name: fit(str(ROOT / "models" / f"{name}.py"), trial, "nuts", options[name]) for name in CANDIDATES}
    table = loo_table(fits, by="subject")
    assert table.index[0] == "lxi_1cpt_autoinh_clint"
    for name in ("lxi_1cpt_linear", "lxi_2cpt_linear"):
        assert table.loc[name, "elpd_diff"] > 4 * table.loc[name, "dse"]
    coverage = loo.coverage_table(loo.in_true_terms(fits["lxi_1cpt_autoinh_clint"]), lxi15029.POPULATION)
    assert len(coverage) == 17 and coverage["covered"].all(), coverage


def test_omega_split_reads_the_committed_run_as_its_parameter_table_does():
    """validation/lxi15029_omega_split.py reads the committed checkpoints of the restarted
    run (``lxi_1cpt_autoinh-restart``): its omega_VM, omega_KM and omega_CL equal those of
    that run's committed parameter table, made from the netCDF posterior by
    ``FitResult.table`` (quantiles to the CSV's 6 digits, R-hat and ESS to 1e-4); the
    truth of the radius sqrt(omega_VM^2 + omega_KM^2) is sqrt(0.18) and of the angle 45
    degrees; the realised omega_VM equals the coverage table's. Seconds."""
    import pandas as pd

    split = _script("lxi15029_omega_split")
    out = ROOT / "validation" / "results" / "lxi15029_loo"
    draws, warmup = split.omega_draws(out, "lxi_1cpt_autoinh-restart")
    assert warmup == 75 and draws["radius"].shape == (2, 160)
    table = pd.read_csv(out / "lxi_1cpt_autoinh-restart" / "parameters.csv", index_col=0)
    for name in ("omega_VM", "omega_KM", "omega_CL"):
        q05, median, q95 = np.quantile(draws[name], [0.05, 0.5, 0.95])
        assert (q05, median, q95) == pytest.approx(tuple(table.loc[name, ["q05", "median", "q95"]]), rel=1e-5), name
    truth, realised = split.reference_values()
    assert truth["radius"] == pytest.approx(np.sqrt(0.18), rel=1e-12) and truth["angle"] == pytest.approx(45.0)
    coverage = pd.read_csv(out / "coverage-2x75x160-V+KA+CL-3models-mass-dense-depth7-restart-lxi_1cpt_autoinh-depth6.csv",
                           index_col=0)
    for name in ("omega_VM", "omega_KM", "omega_CL"):
        assert realised[name] == pytest.approx(coverage.loc[name, "realised"], rel=1e-4), name
    found = split.split_table(draws, truth, realised)
    for name in ("omega_VM", "omega_KM", "omega_CL"):
        assert found.loc[name, "rhat"] == pytest.approx(table.loc[name, "rhat"], rel=1e-4), name
        assert found.loc[name, "ess_bulk"] == pytest.approx(table.loc[name, "ess_bulk"], rel=1e-4), name


def test_the_clint_candidate_is_the_true_structure_reparameterised():
    """models/lxi_1cpt_autoinh_clint.py (IIV on CLINT = VM/KM and VM, correlated) gives
    every patient the same structural parameters as models/lxi_1cpt_autoinh.py (IIV on VM
    and KM, independent) when its values are the image of the latter's: CLINT = VM/KM,
    omega_CLINT = sqrt(omega_VM^2 + omega_KM^2), rho = omega_VM / omega_CLINT, and the
    deviates z solved from eta_CLINT = eta_VM - eta_KM (rtol 1e-12: the same
    arithmetic in another order). CLINT is not passed to the structure."""
    import runpy

    from popkin import datasets
    from popkin.infer.numpyro_model import derive
    from popkin.infer.problem import bind

    trial = datasets.lxi15029_trial()
    old = runpy.run_path(str(ROOT / "models" / "lxi_1cpt_autoinh.py"))["model"]
    new = runpy.run_path(str(ROOT / "models" / "lxi_1cpt_autoinh_clint.py"))["model"]
    p_old, p_new = bind(old, trial), bind(new, trial)
    rng = np.random.default_rng(3)
    n = p_old.data.n_subjects
    typical = {"VM": 31.0, "KM": 1.86, "V": 4.0, "KA": 0.51, "CL": 8.4, "KDEG": 0.01, "KINACT": 0.022,
               "KI": 1.0, "FD50": 11.8, "FGAM": 3.7, "sigma_add": 0.3, "sigma_prop": 0.15}
    om = np.array([0.25, 0.35, 0.3, 0.2, 0.4])                  # VM, KM, V, KA, CL
    z = rng.standard_normal((n, 5))
    d_old = derive(old, p_old.data, typical | {"omega": jnp.asarray(om), "z_iiv": jnp.asarray(z)})

    eta_vm, eta_km = om[0] * z[:, 0], om[1] * z[:, 1]
    o_clint, o_vm = np.hypot(om[0], om[1]), om[0]
    rho = o_vm / o_clint                                         # cov(eta_CLINT, eta_VM) = omega_VM^2
    z1 = (eta_vm - eta_km) / o_clint
    z2 = (eta_vm / o_vm - rho * z1) / np.sqrt(1 - rho ** 2)
    values = {k: v for k, v in typical.items() if k != "KM"} | {
        "CLINT": typical["VM"] / typical["KM"],
        "omega": jnp.asarray([o_clint, o_vm, om[2], om[3], om[4]]),
        "L_iiv1": jnp.asarray([[1.0, 0.0], [rho, np.sqrt(1 - rho ** 2)]]),
        "z_iiv": jnp.asarray(np.column_stack([z1, z2, z[:, 2:]]))}
    d_new = derive(new, p_new.data, values)
    assert "CLINT" not in d_new.params and set(d_new.params) == set(d_old.params)
    for name in d_old.params:
        np.testing.assert_allclose(np.asarray(d_new.params[name]), np.asarray(d_old.params[name]), rtol=1e-12,
                                   err_msg=name)


def test_the_clint_fit_is_reported_in_the_true_models_terms():
    """validation/lxi15029_loo.py's ``in_true_terms`` adds KM = VM/CLINT and omega_KM to
    a clint fit's table. Draws built from omega_VM and omega_KM (omega_CLINT their
    hypotenuse, rho = omega_VM / omega_CLINT) give back omega_KM's own quantiles (rtol
    1e-12) and R-hat (1e-3), and KM's are those of VM/CLINT."""
    from types import SimpleNamespace

    import arviz as az
    import pandas as pd

    loo = _script("lxi15029_loo")
    rng = np.random.default_rng(11)
    shape = (2, 50)
    o_vm, o_km = rng.uniform(0.05, 0.5, shape), rng.uniform(0.05, 0.5, shape)
    o_clint = np.hypot(o_vm, o_km)
    rho = o_vm / o_clint
    omega = np.stack([o_clint, o_vm, *(np.full(shape, 0.3) for _ in range(3))], axis=-1)
    corr = np.zeros(shape + (5, 5)) + np.eye(5)
    corr[..., 0, 1] = corr[..., 1, 0] = rho
    vm, clint = rng.lognormal(np.log(31), 0.1, shape), rng.lognormal(np.log(17), 0.1, shape)
    iiv = ["CLINT", "VM", "V", "KA", "CL"]
    idata = az.from_dict(posterior={"VM": vm, "CLINT": clint, "omega": omega, "corr_iiv": corr},
                         coords={"iiv": iiv, "iiv_bis": iiv}, dims={"omega": ["iiv"], "corr_iiv": ["iiv", "iiv_bis"]})
    table = pd.DataFrame({"kind": ["typical"], "median": [31.0]}, index=pd.Index(["VM"], name="parameter"))
    out = loo.in_true_terms(SimpleNamespace(idata=idata, table=table))
    assert list(out.index) == ["VM", "KM", "omega_KM"]
    for name, draws in (("omega_KM", o_km), ("KM", vm / clint)):
        q05, median, q95 = np.quantile(draws, [0.05, 0.5, 0.95])
        assert (out.loc[name, "q05"], out.loc[name, "median"], out.loc[name, "q95"]) == pytest.approx(
            (q05, median, q95), rel=1e-12), name
        # R-hat to 1e-3: its folded part ranks |x - median|, which rounding at 1e-16 reorders near ties
        assert out.loc[name, "rhat"] == pytest.approx(float(az.rhat(draws)), rel=1e-3)


def test_omega_split_reads_the_clint_run_as_its_tables_do():
    """The omega split of the committed clint run (``lxi_1cpt_autoinh_clint``), read by
    validation/lxi15029_omega_split.py from its chain checkpoints, equals what the run's
    committed tables made from the netCDF posterior by other code: radius =
    omega_CLINT, omega_VM and rho = corr_CLINT_VM of ``parameters.csv``
    (``FitResult.table``; rho there from the LKJ factor L L^T, here tanh of its sampled
    coordinate), and omega_KM of the coverage table (``in_true_terms``): quantiles to the
    CSVs' 6 and 5 significant digits (rel 1e-4), R-hat and bulk ESS to 1e-4. Seconds."""
    import pandas as pd

    split = _script("lxi15029_omega_split")
    out = ROOT / "validation" / "results" / "lxi15029_loo"
    draws, warmup = split.omega_draws(out, "lxi_1cpt_autoinh_clint")
    table = pd.read_csv(out / "lxi_1cpt_autoinh_clint" / "parameters.csv", index_col=0)
    settings = json.loads((out / "lxi_1cpt_autoinh_clint" / "fit.json").read_text())["settings"]
    assert warmup == settings["warmup"] == 200 and draws["radius"].shape == (2, settings["draws"])
    (coverage_file,) = out.glob(f"coverage-clint-2x200x{settings['draws']}-*.csv")
    coverage = pd.read_csv(coverage_file, index_col=0)
    pairs = {"radius": (table, "omega_CLINT"), "omega_VM": (table, "omega_VM"), "rho": (table, "corr_CLINT_VM"),
             "omega_KM": (coverage, "omega_KM")}
    for name, (source, row) in pairs.items():
        q05, median, q95 = np.quantile(draws[name], [0.05, 0.5, 0.95])
        assert (q05, median, q95) == pytest.approx(tuple(source.loc[row, ["q05", "median", "q95"]]), rel=1e-4), name
    found = split.split_table(draws, *split.reference_values())
    for name in ("radius", "omega_VM", "rho"):
        row = pairs[name][1]
        assert found.loc[name, "rhat"] == pytest.approx(table.loc[row, "rhat"], rel=1e-4), name
        assert found.loc[name, "ess_bulk"] == pytest.approx(table.loc[row, "ess_bulk"], rel=1e-4), name
    assert found.loc["rho", "truth"] == pytest.approx(np.sqrt(0.5), rel=1e-12)

"""The LXI-15029 virtual trial fitted by the candidate models (issue 6): PSIS-LOO prefers
the nonlinear model over the linear ones, and the posterior of the model with the true
structure (``models/lxi_1cpt_autoinh.py``, ``1cmt-oral-mm-linear-autoinh-fdose`` with
ALAG1) covers the typical values the trial was simulated with
(``popkin.datasets.lxi15029.POPULATION``).

The trial has BLQ records (M3 censoring), among them every day-1 pre-dose sample with DV
'.': ``test_censored_records_with_missing_dv_have_finite_gradients`` is the regression
test of the bug that made every LXI fit stop with "the log-density is not finite at the
initial values" (a NaN DV reached the gradient through ``jnp.where``).

State (2026-12-04): the NUTS/LOO test below stays skipped. The MAP of the true
structure takes about 9 minutes here and recovers the truth (the slow test). NUTS of
it has been run to the end twice, with capped trees: centred at depth 5 (2 x 100 + 200,
69 minutes; max R-hat 1.54, the IIV trading between VM and KM), and with VM and KM
non-centred at depth 6 (2 x 150 + 200, 114 minutes; max R-hat 1.33, omega_KM). Neither
converged. Both put LOO ahead of both linear models by about 360 (SE 21-37) and 16 of
17 true values inside the 90 % intervals (KA just outside, its realised geometric mean
inside). A third run restarted the depth-6 chains with the covariance of their draws as
metric (2 x 75 + 160, about 108 minutes): every typical value at R-hat <= 1.010, all 17
true values covered, LOO ahead by 360 (SE 21), but omega_VM and omega_KM at R-hat
1.11-1.12 (ESS 12-13): the data hardly separate the IIV of KM from that of VM.
On 2026-12-05 the split was measured (validation/lxi15029_omega_split.py): the IIV of
CLINT = VM/KM, sqrt(omega_VM^2 + omega_KM^2), has R-hat 1.025, its split between VM
and KM 1.19; a second restart made the split worse (R-hat 2.05). The same model with
IIV on CLINT and VM (models/lxi_1cpt_autoinh_clint.py, checked below to be the same
family) is being fitted from committed checkpoints. The
runs, their tables and how to extend the last one from its committed checkpoints are
in docs/lxi15029-virtual-trial.md ("Run of 2026-12-04" and after);
``python validation/lxi15029_loo.py --out DIR`` makes them.
Run this test: ``POPKIN_LXI_NUTS=1 python -m pytest -p no:xdist -m slow tests/infer/test_lxi15029_fit.py``.
"""

from __future__ import annotations

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


CANDIDATES = ("lxi_1cpt_linear", "lxi_2cpt_linear", "lxi_1cpt_mm_linear", "lxi_1cpt_autoinh")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("POPKIN_LXI_NUTS"),
                    reason="four ODE-model NUTS fits: hours on 2 CPU cores (0.27 s a gradient of the true "
                           "structure); its full runs (trees capped at depth 5 and 6, 4,161 and 6,820 s; then restarted with the "
                           "metric of the draws, about 6,470 s) did not converge, max R-hat 1.54, 1.33 and 1.12 "
                           "(omega_KM); set POPKIN_LXI_NUTS=1 to run it (module docstring)")
def test_loo_prefers_the_nonlinear_model_and_its_posterior_covers_the_truth():
    """LOO by subject ranks the true-structure model first, ahead of both linear models by
    more than 4 SE of the difference, and its 90 % intervals of the typical values contain
    the true ones (IIV SDs reported against the true 0.3). Not yet passed: see the skip
    reason."""
    from popkin import datasets
    from popkin.datasets import lxi15029
    from popkin.diagnostics.loo import loo_table
    from popkin.infer import NUTSOptions, fit

    trial = datasets.lxi15029_trial()
    options = NUTSOptions(chains=2, warmup=300, draws=300, progress=False, seed=1)
    fits = {name: fit(str(ROOT / "models" / f"{name}.py"), trial, "nuts", options) for name in CANDIDATES}
    table = loo_table(fits, by="subject")
    assert table.index[0] in ("lxi_1cpt_autoinh", "lxi_1cpt_mm_linear")
    for name in ("lxi_1cpt_linear", "lxi_2cpt_linear"):
        assert table.loc[name, "elpd_diff"] > 4 * table.loc[name, "dse"]
    posterior = fits["lxi_1cpt_autoinh"].table
    for name, truth in lxi15029.POPULATION.typical.items():
        assert posterior.loc[name, "q05"] <= truth <= posterior.loc[name, "q95"], name


def test_omega_split_reads_the_committed_run_as_its_parameter_table_does():
    """validation/lxi15029_omega_split.py reads the committed checkpoints of the restarted
    run (``lxi_1cpt_autoinh-restart``): its omega_VM, omega_KM and omega_CL equal those of
    that run's committed parameter table, made from the netCDF posterior by
    ``FitResult.table`` (quantiles to the CSV's 6 digits, R-hat and ESS to 1e-4); the
    truth of the radius sqrt(omega_VM^2 + omega_KM^2) is sqrt(0.18) and of the angle 45
    degrees; the realised omega_VM equals the coverage table's. Seconds."""
    import importlib.util

    import pandas as pd

    script = ROOT / "validation" / "lxi15029_omega_split.py"
    spec = importlib.util.spec_from_file_location("omega_split", script)
    split = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(split)
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
    import importlib.util
    from types import SimpleNamespace

    import arviz as az
    import pandas as pd

    spec = importlib.util.spec_from_file_location("lxi_loo", ROOT / "validation" / "lxi15029_loo.py")
    loo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loo)
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

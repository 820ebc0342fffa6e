"""ODE gradients by forward sensitivities (``ODEOptions(sensitivities="forward")``).

The custom reverse rule of ``popkin.pk.engine.predict_population`` (each subject's
Jacobian from one forward-mode solve) must give the gradient that reverse mode through
the solver gives, and both the one of central finite differences:

* against reverse mode: 1e-10 relative (the same solves, the derivatives accumulated
  in another order; float64 rounding only);
* against central differences: the tolerances of ``test_ode_gradients`` (rtol 1e-12
  solves, relative step 1e-4: 2e-6 relative, 1e-7 of the largest entry).
"""

import dataclasses
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from popkin.data.events import pack  # noqa: E402
from popkin.errors import ModelError  # noqa: E402
from popkin.pk.closed_form import OneCompartment, TwoCompartment  # noqa: E402
from popkin.pk.engine import _forward_mode, predict_population  # noqa: E402
from popkin.pk.ode import ODEOptions  # noqa: E402
from popkin.pk.ode_models import CompartmentODE  # noqa: E402
from tests.pk.test_ode_reference import Dose, frame  # noqa: E402

OPTIONS = ODEOptions(rtol=1e-12, atol=1e-12)
REVERSE = CompartmentODE(2, "oral", "mm-linear", options=OPTIONS)
FORWARD = CompartmentODE(2, "oral", "mm-linear", options=dataclasses.replace(OPTIONS, sensitivities="forward"))
NAMES = ("CL", "VM", "KM", "V1", "Q", "V2", "KA", "F1", "ALAG1")
# three subjects, each its own parameters (the per-subject Jacobians must not mix); no
# lagged dose lands on an observation time (0.7 h), where the derivative in ALAG1 jumps
VALUES = np.array([[1.2, 30.0, 2.5, 14.0, 3.0, 35.0, 0.8, 0.7, 0.4],
                   [0.6, 55.0, 1.0, 20.0, 5.0, 25.0, 1.6, 0.9, 0.2],
                   [2.0, 12.0, 6.0, 9.0, 1.5, 50.0, 0.4, 0.5, 0.6]])
DOSES = [Dose(0.0, 1, 300.0), Dose(12.0, 2, 150.0, 3.0), Dose(24.0, 1, 300.0)]
TIMES = [0.7, 2.0, 6.0, 12.5, 14.0, 20.0, 25.0, 30.0, 48.0]
H = 1e-4
ROOT = Path(__file__).resolve().parents[2]


def _events(n):
    return pack(pd.concat([frame(DOSES, TIMES, obs_cmt=2, subject=i) for i in range(n)]))


def _loss(model, events, weights):
    """A weighted sum of the observed predictions: its gradient is w^T J per subject."""
    def loss(values):
        pred = predict_population(model, events, dict(zip(NAMES, values.T)), steady_state=False)
        return jnp.sum(jnp.where(events.obs, weights * pred, 0.0))
    return jax.jit(jax.value_and_grad(loss))


def test_forward_sensitivities_equal_reverse_mode_and_central_differences():
    events = _events(3)
    weights = jnp.asarray(np.random.default_rng(3).normal(size=events.time.shape))
    value_f, grad_f = _loss(FORWARD, events, weights)(jnp.asarray(VALUES))
    value_r, grad_r = _loss(REVERSE, events, weights)(jnp.asarray(VALUES))
    grad_f, grad_r = np.asarray(grad_f), np.asarray(grad_r)
    assert float(value_f) == pytest.approx(float(value_r), rel=1e-13)
    assert np.all(np.isfinite(grad_f)) and np.all(np.abs(grad_f) > 0)
    np.testing.assert_allclose(grad_f, grad_r, rtol=1e-10, atol=1e-10 * np.max(np.abs(grad_r)))

    # central differences of the same loss, one subject-parameter at a time (all 2 x 27
    # perturbed populations in one call: subject s of population b carries row s of batch b)
    loss_only = jax.jit(jax.vmap(lambda v: _loss(REVERSE, events, weights)(v)[0]))
    steps = H * np.abs(VALUES)
    batch = []
    for sign in (1.0, -1.0):
        for s in range(3):
            for j in range(len(NAMES)):
                v = VALUES.copy()
                v[s, j] += sign * steps[s, j]
                batch.append(v)
    out = np.asarray(loss_only(jnp.asarray(np.stack(batch))))
    half = len(out) // 2
    fd = ((out[:half] - out[half:]) / (2 * steps.ravel())).reshape(VALUES.shape)
    np.testing.assert_allclose(grad_f, fd, rtol=2e-6, atol=1e-7 * np.max(np.abs(fd)))


def test_per_record_parameters_take_the_reverse_path_with_the_same_gradient():
    """A parameter given per record (here CL, as IOV or a time-varying covariate would
    make it) rules out the per-subject Jacobian; the result and gradient stay exact."""
    events = _events(2)
    weights = jnp.asarray(np.random.default_rng(4).normal(size=events.time.shape))
    cl_records = jnp.where(events.time < 20.0, 1.0, 1.5)

    def loss(model):
        def f(values):
            p = dict(zip(NAMES, values.T))
            p["CL"] = p["CL"][:, None] * cl_records
            pred = predict_population(model, events, p, steady_state=False)
            return jnp.sum(jnp.where(events.obs, weights * pred, 0.0))
        return jax.jit(jax.value_and_grad(f))

    vf, gf = loss(FORWARD)(jnp.asarray(VALUES[:2]))
    vr, gr = loss(REVERSE)(jnp.asarray(VALUES[:2]))
    assert float(vf) == pytest.approx(float(vr), rel=1e-13)
    np.testing.assert_allclose(np.asarray(gf), np.asarray(gr), rtol=1e-12)


def test_population_log_density_gradient_is_the_same_either_way():
    """The potential NUTS moves on (ACOP Oral_1CPTMM, 120 subjects, the catalogue model):
    value and gradient equal with forward sensitivities and with reverse mode."""
    from popkin import datasets
    from popkin.infer import bind
    from popkin.infer.catalogue import load_catalogue_model
    from popkin.infer.density import initial_values, potential

    base = load_catalogue_model(str(ROOT / "models" / "acop_oral_1cpt_mm.py")).model
    data = datasets.acop("Oral_1CPTMM")
    results = []
    for mode in ("reverse", "forward"):
        s = base.structural
        model = dataclasses.replace(base, structure=dataclasses.replace(
            s, options=dataclasses.replace(s.options, sensitivities=mode)))
        problem = bind(model, data)
        u0 = problem.space.unconstrain(initial_values(problem.model, problem.data))
        u0 = jax.tree_util.tree_map(lambda x: x + 0.05, u0)   # off the initial values
        v, g = jax.jit(jax.value_and_grad(lambda u, d: potential(problem.model, u, d)))(u0, problem.data)
        results.append((float(v), np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(g)])))
    (vr, gr), (vf, gf) = results
    assert np.isfinite(vr) and vf == pytest.approx(vr, rel=1e-13)
    np.testing.assert_allclose(gf, gr, rtol=1e-10, atol=1e-10 * np.max(np.abs(gr)))


def test_the_forward_mode_variant_used_for_jvp_leaves_the_custom_rule_off():
    """Laplace and the steady-state Newton differentiate predictions by ``jax.jvp``
    through ``_forward_mode(model)``; that variant must not ask for the reverse-only rule."""
    model = _forward_mode(FORWARD)
    assert model.options.sensitivities == "reverse"
    events = _events(1)
    f = lambda v: predict_population(model, events, dict(zip(NAMES, v.T)), steady_state=False)
    _, tangent = jax.jvp(f, (jnp.asarray(VALUES[:1]),), (jnp.ones((1, len(NAMES))),))
    assert np.all(np.isfinite(np.asarray(tangent)))


def test_sensitivities_option_is_checked():
    with pytest.raises(ModelError, match='"reverse" or "forward"'):
        ODEOptions(sensitivities="adjoint")


def test_chains_of_a_forward_sensitivity_model_run_in_parallel(tmp_path):
    """No reverse pass through diffrax, so no pmap failure (diffrax #765): NUTS runs the
    chains of such a model in parallel on CPU host devices (``uses_ode`` is False), and
    a short fit there gives finite draws. In a fresh process with 2 host devices."""
    import os
    import subprocess
    import sys

    from popkin.infer.catalogue import load_catalogue_model
    from popkin.infer.nuts import uses_ode

    forward = load_catalogue_model(str(ROOT / "models" / "acop_oral_1cpt_mm.py")).model
    reverse = dataclasses.replace(forward, structure=dataclasses.replace(
        forward.structural, options=dataclasses.replace(forward.structural.options, sensitivities="reverse")))
    assert not uses_ode(forward) and uses_ode(reverse)
    assert uses_ode(load_catalogue_model(str(ROOT / "models" / "warfarin_pkpd.py")).model)   # PD ODE, reverse
    assert not uses_ode(load_catalogue_model(str(ROOT / "models" / "theoph.py")).model)      # closed form

    script = tmp_path / "run.py"
    script.write_text(
        "import jax, numpy as np\n"
        "jax.config.update('jax_enable_x64', True)\n"
        "from popkin import datasets\n"
        "from popkin.data import read\n"
        "from popkin.infer import bind, NUTSOptions\n"
        "from popkin.infer.catalogue import load_catalogue_model\n"
        "from popkin.infer.nuts import Sampler\n"
        f"model = load_catalogue_model({str(ROOT / 'models' / 'acop_oral_1cpt_mm.py')!r}).model\n"
        "frame = datasets.acop('Oral_1CPTMM').frame\n"
        "frame = frame[frame['ID'] <= 8].drop(columns=['ROW'])\n"
        "problem = bind(model, read(frame))\n"
        "sampler = Sampler(problem, NUTSOptions(chains=2, warmup=20, draws=20, progress=False, seed=3))\n"
        "draws = sampler.run(problem)\n"
        "assert sampler.chain_method == 'parallel', sampler.chain_method\n"
        "assert np.all(np.isfinite(draws.samples['VM'])) and draws.samples['VM'].shape == (2, 20)\n"
        "print('ok')\n")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=600)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]


# closed forms: forward sensitivities are their default (``ClosedForm.sensitivities``)
CLOSED = [("1cpt oral", OneCompartment(oral=True), ("CL", "V", "KA", "F1", "ALAG1"), 2),
          ("2cpt oral", TwoCompartment(oral=True), ("CL", "V1", "Q", "V2", "KA"), 2),
          ("2cpt iv", TwoCompartment(oral=False), ("CL", "V1", "Q", "V2"), 1)]
CLOSED_VALUES = {"CL": [1.2, 0.6, 2.0], "V": [14.0, 20.0, 9.0], "V1": [14.0, 20.0, 9.0], "Q": [3.0, 5.0, 1.5],
                 "V2": [35.0, 25.0, 50.0], "KA": [0.8, 1.6, 0.4], "F1": [0.7, 0.9, 0.5], "ALAG1": [0.4, 0.2, 0.6]}


@pytest.mark.parametrize("label, forward, names, obs_cmt", CLOSED, ids=[c[0] for c in CLOSED])
def test_closed_forms_by_forward_sensitivities_equal_reverse_mode(label, forward, names, obs_cmt):
    """The default closed forms against the same model with ``sensitivities="reverse"``:
    value 1e-13, gradient 1e-10 relative (same arithmetic, derivatives accumulated in
    another order), over bolus doses, an infusion and (1-cpt) a lag, so both the bolus
    path and the general path of the engine are covered. The per-subject Jacobian path
    is taken (``_asks_forward``) and reverse mode is not."""
    from popkin.pk.engine import _asks_forward, bolus_only

    reverse = dataclasses.replace(forward, sensitivities="reverse")
    assert forward.sensitivities == "forward" and _asks_forward(forward) and not _asks_forward(reverse)
    boluses = [Dose(0.0, 1, 300.0), Dose(24.0, 1, 300.0)]
    regimens = {"boluses": boluses, "with an infusion": boluses[:1] + [Dose(12.0, 1, 150.0, 3.0)] + boluses[1:]}
    for regimen, doses in regimens.items():
        events = pack(pd.concat([frame(doses, TIMES, obs_cmt=obs_cmt, subject=i) for i in range(3)]))
        # the data qualify for the bolus path with boluses only (the engine still takes the
        # general path for the 1-cpt model, whose ALAG1 it checks itself)
        assert bolus_only(events) == (regimen == "boluses"), regimen
        weights = jnp.asarray(np.random.default_rng(5).normal(size=events.time.shape))
        values = jnp.asarray(np.array([CLOSED_VALUES[n] for n in names]).T)

        def run(model):
            def loss(v):
                pred = predict_population(model, events, dict(zip(names, v.T)), steady_state=False)
                return jnp.sum(jnp.where(events.obs, weights * pred, 0.0))
            return jax.jit(jax.value_and_grad(loss))(values)

        (vf, gf), (vr, gr) = run(forward), run(reverse)
        gf, gr = np.asarray(gf), np.asarray(gr)
        assert float(vf) == pytest.approx(float(vr), rel=1e-13)
        assert np.all(np.isfinite(gf)) and np.all(np.abs(gf) > 0)
        np.testing.assert_allclose(gf, gr, rtol=1e-10, atol=1e-10 * np.max(np.abs(gr)))


def test_forward_mode_variant_switches_closed_forms_to_reverse():
    """``_forward_mode`` (Laplace's jets, the steady-state Newton) gives closed forms
    ``sensitivities="reverse"``, also inside a PK/PD model, and jvp then works."""
    from popkin.pk.pd import IndirectResponse, PKPDModel

    model = _forward_mode(OneCompartment(oral=True))
    assert model.sensitivities == "reverse"
    pkpd = _forward_mode(PKPDModel(pk=OneCompartment(oral=True), pd=IndirectResponse(kind=1)))
    assert pkpd.pk.sensitivities == "reverse" and pkpd.options.sensitivities == "reverse"
    events = pack(frame([Dose(0.0, 1, 100.0)], TIMES, obs_cmt=2, subject=0))
    f = lambda v: predict_population(model, events, {"CL": v[:, 0], "V": v[:, 1], "KA": v[:, 2]},
                                     steady_state=False)
    _, tangent = jax.jvp(f, (jnp.asarray([[1.0, 10.0, 0.8]]),), (jnp.ones((1, 3)),))
    assert np.all(np.isfinite(np.asarray(tangent)))


def test_closed_form_sensitivities_are_checked():
    with pytest.raises(ModelError, match='"forward" or "reverse"'):
        TwoCompartment(oral=True, sensitivities="adjoint")
    assert OneCompartment(False).oral is False          # the new field is keyword-only

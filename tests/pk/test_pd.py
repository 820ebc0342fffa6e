"""PD models (popkin.pk.pd) against exact formulas and scipy references.

- direct and sigmoid Emax: exact arithmetic;
- effect compartment after a 1-cpt IV bolus: Ce(t) = D/V ke0/(ke0-k) (e^{-kt} - e^{-ke0 t})
  (and D/V k t e^{-kt} at ke0 = k);
- indirect response I-IV: baseline R0 = KIN/KOUT without drug, and scipy Radau
  (rtol 1e-12) of the joint PK/PD system with a dose;
- warfarin (O'Reilly) dosing histories and sampling times from the real data set
  through the event engine, PK on CMT 2 and PCA on CMT 3, vs scipy.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from popkin.data.events import pack  # noqa: E402
from popkin.errors import ModelError  # noqa: E402
from popkin.pk.engine import predict_population  # noqa: E402
from popkin.pk.model import available_models, get_model  # noqa: E402
from popkin.pk.pd import DirectEffect, EffectCompartment, Emax, IndirectResponse, PKPDModel  # noqa: E402
from tests.pk.test_ode_reference import Dose, reference  # noqa: E402


# ------------------------------------------------------------------------- direct Emax

def test_direct_emax_and_sigmoid_emax_exact_values():
    # E0 = 10, EMAX = 50, EC50 = 2: C = 0, 2, 6 -> 10, 35, 47.5; sigmoid with HILL = 2:
    # C = 2, 4 -> 35, 50. Exact in binary arithmetic up to one rounding: 1e-14.
    p = dict(CL=2.0, V=10.0, E0=10.0, EMAX=50.0, EC50=2.0, HILL=2.0)
    plain = PKPDModel(get_model("1cmt-iv"), DirectEffect(Emax()))
    sigmoid = PKPDModel(get_model("1cmt-iv"), DirectEffect(Emax(sigmoid=True)))
    assert plain.compartments == ("central", "effect") and plain.linear
    assert sigmoid.parameters == ("CL", "V", "E0", "EMAX", "EC50", "HILL")
    for c, e in [(0.0, 10.0), (2.0, 35.0), (6.0, 47.5)]:
        x = jnp.array([c * 10.0, 0.0])
        assert float(plain.observe(x, p, 2)) == pytest.approx(e, rel=1e-14)
        assert float(plain.observe(x, p, 1)) == pytest.approx(c, rel=1e-14)  # CMT 1: concentration
    for c, e in [(2.0, 35.0), (4.0, 50.0)]:
        assert float(sigmoid.observe(jnp.array([c * 10.0, 0.0]), p, 2)) == pytest.approx(e, rel=1e-14)
    # finite gradients at C = 0 (C^HILL has an infinite log-derivative there)
    g = jax.grad(lambda q: sigmoid.observe(jnp.array([0.0, 0.0]), q, 2))(p)
    assert all(np.isfinite(float(v)) for v in g.values()) and float(g["E0"]) == 1.0
    # a traced CMT selects the output under jit
    pick = jax.jit(lambda x, cmt: plain.observe(x, p, cmt))
    assert float(pick(jnp.array([20.0, 0.0]), 1)) == 2.0 and float(pick(jnp.array([20.0, 0.0]), 2)) == 35.0


def test_direct_effect_uses_the_pk_models_own_advance():
    # no ODE at all: the PK closed form moves, the placeholder state stays 0
    model = PKPDModel(get_model("1cmt-oral"), DirectEffect())
    p = dict(CL=2.0, V=10.0, KA=1.0, E0=0.0, EMAX=1.0, EC50=1.0)
    x = model.advance(jnp.array([100.0, 0.0, 0.0]), jnp.zeros(3), 3.0, p)
    want = get_model("1cmt-oral").advance(jnp.array([100.0, 0.0]), jnp.zeros(2), 3.0, p)
    np.testing.assert_array_equal(np.asarray(x[:2]), np.asarray(want))
    assert float(x[2]) == 0.0


# ----------------------------------------------------------------- effect compartment

EFFECT_TIMES = np.array([0.25, 1.0, 3.0, 8.0, 24.0])


@pytest.mark.parametrize("pk_name", ["1cmt-iv", "1cmt-iv-ode"])
def test_effect_compartment_after_iv_bolus_matches_closed_form(pk_name):
    # 1cmt-iv (closed form; its generator matrix drives the joint ODE) and 1cmt-iv-ode
    # (its own rhs): Ce(t) = D/V ke0/(ke0 - k) (e^{-kt} - e^{-ke0 t}), and at ke0 = k the
    # limit D/V k t e^{-kt}. One interval from the bolus, rtol 1e-8 per step: 1e-7.
    model = PKPDModel(get_model(pk_name), EffectCompartment(Emax()))
    assert model.linear  # linear PK + effect compartment: SS by linear algebra
    dose, cl, v = 100.0, 2.0, 10.0
    k = cl / v

    def run(dt, ke0):
        p = dict(CL=cl, V=v, KE0=ke0, E0=5.0, EMAX=20.0, EC50=1.5)
        x = model.advance(jnp.array([dose, 0.0]), jnp.zeros(2), dt, p)
        return x[1], model.observe(x, p, 2)

    f = jax.jit(jax.vmap(jax.vmap(run, in_axes=(0, None)), in_axes=(None, 0)))
    ce, effect = (np.asarray(a) for a in f(jnp.asarray(EFFECT_TIMES), jnp.array([0.7, k])))
    t = EFFECT_TIMES
    exact = dose / v * 0.7 / (0.7 - k) * (np.exp(-k * t) - np.exp(-0.7 * t))
    np.testing.assert_allclose(ce[0], exact, rtol=1e-7)
    np.testing.assert_allclose(ce[1], dose / v * k * t * np.exp(-k * t), rtol=1e-7)
    np.testing.assert_allclose(effect[0], 5.0 + 20.0 * exact / (1.5 + exact), rtol=1e-7)


# ------------------------------------------------------------------- indirect response

IDR_P = dict(CL=2.0, V=10.0, KA=1.0, KIN=10.0, KOUT=0.1, IMAX=0.9, IC50=3.0, EMAX=2.0, EC50=3.0, HILL=2.0)
IDR_TIMES = np.array([0.5, 2.0, 6.0, 12.0, 24.0, 48.0, 96.0])


def idr_rhs_numpy(kind, p, hill):
    """1-cpt oral PK + IDR, written from Dayneka, Garg & Jusko (1993)."""
    def rhs(x):
        depot, central, r = x
        c = central / p["V"]
        cn = c ** p["HILL"] if hill else c
        if kind in (1, 2):
            c50 = p["IC50"] ** p["HILL"] if hill else p["IC50"]
            inh = p["IMAX"] * cn / (c50 + cn)
            dr = (p["KIN"] * (1 - inh) - p["KOUT"] * r if kind == 1 else p["KIN"] - p["KOUT"] * (1 - inh) * r)
        else:
            c50 = p["EC50"] ** p["HILL"] if hill else p["EC50"]
            stim = p["EMAX"] * cn / (c50 + cn)
            dr = (p["KIN"] * (1 + stim) - p["KOUT"] * r if kind == 3 else p["KIN"] - p["KOUT"] * (1 + stim) * r)
        return np.array([-p["KA"] * depot, p["KA"] * depot - p["CL"] / p["V"] * central, dr])
    return rhs


IDR_CASES = [("1cmt-oral", 1, False), pytest.param("1cmt-oral", 2, False, marks=pytest.mark.slow),
             pytest.param("1cmt-oral", 3, False, marks=pytest.mark.slow),  # one compile per case
             ("1cmt-oral", 4, False), ("1cmt-oral-ode", 1, True)]


@pytest.mark.parametrize("pk_name,kind,hill", IDR_CASES)
def test_indirect_response_baseline_and_scipy_reference(pk_name, kind, hill):
    # One compile per case: a vmapped batch of (no drug, 100 mg oral dose) x times.
    # No drug: R stays at R0 = KIN/KOUT = 100 to 1e-12 (nothing drives it). With the
    # dose: scipy Radau (rtol 1e-12) of the joint system; popkin integrates one interval
    # at rtol 1e-8 per step: 1e-6 relative on the response and the concentration (and
    # 1e-9 mg/L absolute for the 96-h tail, C ~ 6e-8, where atol 1e-10 governs).
    model = PKPDModel(get_model(pk_name), IndirectResponse(kind, hill=hill))
    p = {k: v for k, v in IDR_P.items() if k in model.parameters}
    assert model.compartments == ("depot", "central", "response") and not model.linear
    x0 = model.initial(p)
    assert float(x0[2]) == pytest.approx(100.0, rel=1e-15)

    def run(dose, dt):
        x = model.advance(x0.at[0].add(dose), jnp.zeros(3), dt, p)
        return model.observe(x, p, 2), model.observe(x, p, 3)

    f = jax.jit(jax.vmap(jax.vmap(run, in_axes=(None, 0)), in_axes=(0, None)))
    conc, resp = (np.asarray(a) for a in f(jnp.array([0.0, 100.0]), jnp.asarray(IDR_TIMES)))
    np.testing.assert_allclose(resp[0], 100.0, rtol=1e-12)
    np.testing.assert_array_equal(conc[0], 0.0)
    states = reference(idr_rhs_numpy(kind, IDR_P, hill), [0.0, 0.0, 100.0], [Dose(0.0, 1, 100.0)], IDR_TIMES)
    np.testing.assert_allclose(conc[1], states[:, 1] / IDR_P["V"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(resp[1], states[:, 2], rtol=1e-6)
    assert abs(resp[1] - 100.0).max() > 10.0  # the drug really moves the response


def test_closed_form_pk_drives_the_pd_state_without_stiffness():
    # KA = 200/h next to KOUT = 0.1/h: integrating depot and central with Tsit5 would
    # need steps of ~1/KA over the whole 96 h (stiff), i.e. thousands of steps. With the
    # closed-form PK only the response is integrated (popkin.pk.pd), so 256 steps per
    # interval suffice; the joint ODE PK (1cmt-oral-ode) at the same budget fails (NaN).
    # Reference: scipy Radau (rtol 1e-12) of the joint system; 1e-6 relative.
    from dataclasses import replace

    import diffrax

    from popkin.pk.ode import ODEOptions

    fast = dict(IDR_P, KA=200.0)
    opts = ODEOptions(solver=diffrax.Tsit5(), rtol=1e-8, atol=1e-10, max_steps=256, throw=False)
    states = reference(idr_rhs_numpy(1, fast, False), [0.0, 0.0, 100.0], [Dose(0.0, 1, 100.0)], IDR_TIMES)
    for pk, ok in ((get_model("1cmt-oral"), True), (get_model("1cmt-oral-ode"), False)):
        if not ok:
            pk = replace(pk, options=opts)
        model = PKPDModel(pk, IndirectResponse(1), options=opts)
        p = {k: v for k, v in fast.items() if k in model.parameters}
        x0 = model.initial(p).at[0].add(100.0)
        resp = np.asarray(jax.jit(jax.vmap(lambda dt: model.observe(model.advance(x0, jnp.zeros(3), dt, p),
                                                                     p, 3)))(jnp.asarray(IDR_TIMES)))
        if ok:
            np.testing.assert_allclose(resp, states[:, 2], rtol=1e-6)
        else:
            assert np.isnan(resp[-1])   # max_steps reached: the stiffness the closed form avoids


# ----------------------------------------------------------------- warfarin, engine

WARFARIN = dict(CL=0.135, V=8.0, KA=1.2, ALAG1=0.6, KIN=3.0, KOUT=0.03, IMAX=1.0, IC50=1.2)


def warfarin_events(ids):
    """Canonical frame for warfarin.csv subjects: dose CMT 1, cp CMT 2, pca CMT 3."""
    raw = pd.read_csv("/work/shared/data/nlmixr2data/warfarin.csv")
    raw = raw[raw["id"].isin(ids)]
    out = pd.DataFrame({
        "ID": raw["id"], "TIME": raw["time"], "EVID": raw["evid"], "AMT": raw["amt"],
        "CMT": np.where(raw["evid"] == 1, 1, np.where(raw["dvid"] == "pca", 3, 2)),
        "DV": np.where(raw["evid"] == 0, raw["dv"], np.nan),
    })
    out["MDV"] = (out["EVID"] != 0).astype(int)
    out["RATE"], out["II"], out["ADDL"], out["SS"] = 0.0, 0.0, 0, 0
    return out, raw


def test_warfarin_pkpd_through_the_engine_matches_scipy():
    # 1-cpt oral PK with lag + IDR I on PCA (O'Reilly's warfarin), typical parameters,
    # the real dosing and sampling of 4 subjects; PK records (CMT 2) must return cp and
    # PCA records (CMT 3) the response. Reference: scipy Radau with the dose at TIME +
    # ALAG1. 1e-6 relative.
    model = get_model("1cmt-oral-idr1")
    assert model.compartments == ("depot", "central", "response")
    frame, raw = warfarin_events([1, 2, 3, 4])
    ev = pack(frame)
    n = ev.n_subjects
    p = {k: jnp.full((n,), v) for k, v in WARFARIN.items()}
    pred = np.asarray(jax.jit(lambda e, q: predict_population(model, e, q, steady_state=False))(ev, p))
    for i, sid in enumerate(ev.ids):
        rows = raw[raw["id"] == sid]
        dose = rows[rows["evid"] == 1].iloc[0]
        obs = rows[rows["evid"] == 0]
        times = obs["time"].to_numpy(float)
        states = reference(idr_rhs_numpy(1, WARFARIN, False), [0.0, 0.0, WARFARIN["KIN"] / WARFARIN["KOUT"]],
                           [Dose(dose["time"] + WARFARIN["ALAG1"], 1, dose["amt"])], np.unique(times))
        at = {t: s for t, s in zip(np.unique(times), states)}
        want = np.array([at[t][2] if d == "pca" else at[t][1] / WARFARIN["V"]
                         for t, d in zip(times, obs["dvid"])])
        got = pred[i][np.asarray(ev.obs[i])]
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert (obs["dvid"] == "pca").any() and want[(obs["dvid"] == "pca").to_numpy()].min() < 60


# ------------------------------------------------------------------- construction

def test_pd_registry_and_validation():
    names = available_models()
    for pk in ("1cmt-iv", "1cmt-oral", "2cmt-iv", "2cmt-oral"):
        for tag in ("emax", "ke0-emax", "idr1", "idr2", "idr3", "idr4"):
            assert f"{pk}-{tag}" in names
    m = get_model("2cmt-oral-idr3")
    assert m.name == "2cmt-oral-idr3" and m.compartments[-1] == "response"
    assert m.parameters == ("CL", "V1", "Q", "V2", "KA", "KIN", "KOUT", "EMAX", "EC50")
    assert dict(m.aliases) == {"V": "V1"}
    with pytest.raises(ModelError, match="share the name"):
        PKPDModel(get_model("1cmt-iv"), _clashing())
    with pytest.raises(ModelError, match="nonlinear"):
        PKPDModel(_NonlinearNoRhs(), IndirectResponse(1))
    with pytest.raises(ModelError, match="kind"):
        IndirectResponse(5)


def _clashing():
    class Clash(DirectEffect):
        @property
        def parameters(self):
            return ("V", "E0")
    return Clash()


class _NonlinearNoRhs:
    compartments = ("central",)
    parameters = ("VM",)
    observed = 0
    linear = False

"""LXI-15029 candidate 6: the true structure of candidate 5 (``lxi_1cpt_autoinh.py``)
with its IIV of the saturable pathway written on the intrinsic clearance CLINT = VM/KM
and on VM, correlated, instead of on VM and KM independently.

Why: in the NUTS fits of candidate 5 (docs/lxi15029-virtual-trial.md, "The IIV split
between VM and KM"), the trial's 24 patients identify the IIV of CLINT, the SD of
eta_VM - eta_KM (sqrt(omega_VM^2 + omega_KM^2), R-hat 1.025 in the restarted run), but
hardly how it splits between VM and KM (R-hat 1.19, ESS 8). With both etas non-centred,
a move along that split must turn the deviates of every patient at once. Here eta_CLINT
comes first in a correlated block, so eta = diag(omega) L z gives
eta_CLINT = omega_CLINT z1 (what each patient's data pin down) and
eta_VM = omega_VM (rho z1 + sqrt(1 - rho^2) z2): the weakly identified part, the
correlation rho and the SD omega_VM, acts on z2 alone.

The same model family: with eta_CLINT = eta_VM - eta_KM, VM and KM log-normal with
omega_VM = omega_KM = 0.3 (the truth) is omega_CLINT = sqrt(0.18) = 0.424,
omega_VM = 0.3, rho = omega_VM / omega_CLINT = 0.707; and
omega_KM^2 = omega_CLINT^2 + omega_VM^2 - 2 rho omega_CLINT omega_VM
(tests/infer/test_lxi15029_fit.py checks the individual VM and KM of both models).
The priors differ: LogNormal(log 20, 1) on CLINT (L/h) instead of on KM, and LKJ(2) on
rho.

Data, structure and the rest of the model as ``lxi_1cpt_autoinh.py``: one compartment,
first-order absorption after a lag (ALAG1 fixed at 0.2 h), parallel linear and
Michaelis-Menten elimination auto-inhibited by enzyme turnover, F rising with the dose;
log-normal IIV on V, KA, CL (diagonal); combined error; BLQ records as censored (M3).
"""

import diffrax

from popkin.model import IIV, CombinedError, Derived, Fixed, PopulationModel, Theta
from popkin.pk.ode import ODEOptions
from popkin.pk.ode_models import CompartmentODE

ODE = ODEOptions(solver=diffrax.Tsit5(), rtol=1e-6, atol=1e-9, max_steps=1024, throw=False)

model = PopulationModel(
    name="lxi-1cpt-autoinh-clint",
    description="LXI-15029: 1-compartment oral, MM + linear elimination auto-inhibited by enzyme turnover, "
                "dose-dependent F, IIV on CLINT = VM/KM and VM correlated, ng/mL",
    structure=CompartmentODE(ncmt=1, route="oral", elimination="mm-linear", autoinhibition=True,
                             bioavailability="hill", options=ODE),
    parameters={
        "CLINT": Theta(20.0, "L/h"),
        "VM": Theta(20.0, "mg/h"),
        "KM": Derived(lambda p: p["VM"] / p["CLINT"], "VM/CLINT", "mg/L"),
        "V": Theta(5.0, "L"),
        "KA": Theta(0.5, "1/h"),
        "CL": Theta(10.0, "L/h"),
        "KDEG": Theta(0.02, "1/h"),
        "KINACT": Theta(0.02, "1/h"),
        "KI": Theta(1.0, "mg/L"),
        "FD50": Theta(10.0, "mg"),
        "FGAM": Theta(3.0, "-"),
        "ALAG1": Fixed(0.2, "h"),
        "S2": Derived(lambda p: p["V"] / 1000.0, "V/1000"),
    },
    intermediate=("CLINT",),
    iiv=(IIV(("CLINT", "VM"), correlated=True), IIV(("V", "KA", "CL"))),
    error=CombinedError(add=0.5, prop=0.2),
)

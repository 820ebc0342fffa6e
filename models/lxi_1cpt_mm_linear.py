"""LXI-15029 candidate 4: one-compartment oral model, parallel linear and
Michaelis-Menten elimination (the true model of the virtual trial without its
auto-inhibition, dose-dependent F and lag: ``lxi_1cpt_autoinh.py``).

Data: the virtual LXI-15029 phase I trial (``popkin.datasets.lxi15029_trial()``): AMT in
mg, DV in ng/mL, BLQ records (LLOQ 1 ng/mL) fitted as censored (M3).

Model: dA/dt = KA A_depot - VM C / (KM + C) - CL C, C = A / V in mg/L (VM in mg/h, KM
in mg/L, CL/F in L/h), V/F (L), KA (1/h); the reported concentration is A / V x 1000
ng/mL (S2 = V/1000). At low concentrations the clearance is CL + VM/KM; when the
saturable pathway saturates it falls towards CL, so exposure rises more than
proportionally with dose. It cannot follow accumulation that grows with dose over the
days of dosing (the virtual trial's enzyme auto-inhibition). Log-normal IIV on all five
parameters (diagonal); combined error (additive ng/mL, proportional). The true model of
the virtual trial is ``popkin.datasets.lxi15029.POPULATION``
(docs/lxi15029-virtual-trial.md); the initial
values below (which are also the medians of the default priors, LogNormal(log
initial, 1)) are round guesses, not the truth.

Integrated with diffrax (Tsit5, rtol 1e-6); a failed solve gives NaN predictions that
the sampler rejects (``throw=False``). Gradients by forward sensitivities (0.18 against
0.28 s by reverse mode on 2 CPU cores; ``ODEOptions.sensitivities``).
"""

import diffrax

from popkin.model import IIV, CombinedError, Derived, PopulationModel, Theta
from popkin.pk.ode import ODEOptions
from popkin.pk.ode_models import CompartmentODE

ODE = ODEOptions(solver=diffrax.Tsit5(), rtol=1e-6, atol=1e-9, max_steps=1024, throw=False,
                 sensitivities="forward")

model = PopulationModel(
    name="lxi-1cpt-mm-linear",
    description="LXI-15029: 1-compartment oral, parallel linear + Michaelis-Menten elimination, ng/mL",
    structure=CompartmentODE(ncmt=1, route="oral", elimination="mm-linear", options=ODE),
    parameters={
        "VM": Theta(5.0, "mg/h"),
        "KM": Theta(0.05, "mg/L"),
        "V": Theta(10.0, "L"),
        "KA": Theta(0.5, "1/h"),
        "CL": Theta(10.0, "L/h"),
        "S2": Derived(lambda p: p["V"] / 1000.0, "V/1000"),
    },
    iiv=IIV(("VM", "KM", "V", "KA", "CL")),
    error=CombinedError(add=0.5, prop=0.2),
)

"""LXI-15029 candidate 2: one-compartment oral model, Michaelis-Menten elimination.

Data: the virtual LXI-15029 phase I trial (``popkin.datasets.lxi15029_trial()``): AMT in
mg, DV in ng/mL, BLQ records (LLOQ 1 ng/mL) fitted as censored (M3).

Model: dA/dt = -VM C / (KM + C), C = A / V in mg/L (VM in mg/h, KM in mg/L; 0.03 mg/L
is 30 ng/mL), V/F (L), KA (1/h); the reported concentration is A / V x 1000 ng/mL
(S2 = V/1000). Saturable elimination makes exposure rise more than proportionally with
dose, as the trial showed. Log-normal IIV on VM, KM, V, KA (diagonal); combined error.
Integrated with diffrax (Tsit5, rtol 1e-6); a failed solve gives NaN predictions that
the sampler rejects; gradients by forward sensitivities (0.20 against 0.26 s by
reverse mode; ``ODEOptions.sensitivities``). (The virtual trial itself was simulated with parallel linear and
Michaelis-Menten elimination, auto-inhibited, with a dose-dependent F:
``lxi_1cpt_autoinh.py``; see
docs/lxi15029-virtual-trial.md.)
"""

import diffrax

from popkin.model import IIV, CombinedError, Derived, PopulationModel, Theta
from popkin.pk.ode import ODEOptions
from popkin.pk.ode_models import CompartmentODE

ODE = ODEOptions(solver=diffrax.Tsit5(), rtol=1e-6, atol=1e-9, max_steps=1024, throw=False,
                 sensitivities="forward")

model = PopulationModel(
    name="lxi-1cpt-mm",
    description="LXI-15029: 1-compartment oral, Michaelis-Menten elimination, ng/mL",
    structure=CompartmentODE(ncmt=1, route="oral", elimination="mm", options=ODE),
    parameters={
        "VM": Theta(5.0, "mg/h"),
        "KM": Theta(0.03, "mg/L"),
        "V": Theta(15.0, "L"),
        "KA": Theta(0.7, "1/h"),
        "S2": Derived(lambda p: p["V"] / 1000.0, "V/1000"),
    },
    iiv=IIV(("VM", "KM", "V", "KA")),
    error=CombinedError(add=0.5, prop=0.2),
)

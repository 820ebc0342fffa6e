"""ACOP 2016 Oral_1CPTMM: one-compartment oral model, Michaelis-Menten elimination.

Data: the simulated ACOP 2016 set (Schoemaker et al. 2019; nlmixr2data
``Oral_1CPTMM``): 120 subjects, 10-80 mg as AMT in micrograms, DV in micrograms/L,
single and multiple dosing (no steady-state part, no SS column). Simulated with IIV
30% on every parameter and a proportional residual error of 20%; the true individual
VM, KM, V, KA are columns of the file (``popkin.datasets.acop("Oral_1CPTMM").truth``).

Model: dA/dt = -VM C / (KM + C) with C = A / V; VM in micrograms/h, KM in
micrograms/L, V in L, KA in 1/h; log-normal IIV (diagonal omega), proportional error.
Integrated with diffrax (Tsit5, rtol 1e-6); a failed solve gives NaN predictions
(``throw=False``) that the sampler rejects instead of stopping the fit. Gradients by
forward sensitivities (0.060 against 0.074 s by reverse mode; ``ODEOptions.sensitivities``).
"""

import diffrax

from popkin.model import IIV, PopulationModel, ProportionalError, Theta
from popkin.pk.ode import ODEOptions
from popkin.pk.ode_models import CompartmentODE

ODE = ODEOptions(solver=diffrax.Tsit5(), rtol=1e-6, atol=1e-6, max_steps=64, throw=False,
                 sensitivities="forward")

model = PopulationModel(
    name="acop-oral-1cpt-mm",
    description="ACOP 2016 Oral_1CPTMM: 1-compartment oral, Michaelis-Menten elimination",
    structure=CompartmentODE(ncmt=1, route="oral", elimination="mm", options=ODE),
    parameters={
        "VM": Theta(1000.0, "ug/h"),
        "KM": Theta(250.0, "ug/L"),
        "V": Theta(70.0, "L"),
        "KA": Theta(1.0, "1/h"),
    },
    iiv=IIV(("VM", "KM", "V", "KA")),
    error=ProportionalError(0.2),
)

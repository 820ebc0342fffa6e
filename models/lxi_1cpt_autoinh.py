"""LXI-15029 candidate 5: the structure the virtual trial was simulated with. One
compartment, first-order absorption after a lag, parallel linear and Michaelis-Menten
elimination that the drug auto-inhibits through enzyme turnover, and a bioavailability
that rises with the dose.

Data: the virtual LXI-15029 phase I trial (``popkin.datasets.lxi15029_trial()``): AMT in
mg, DV in ng/mL, BLQ records (LLOQ 1 ng/mL) fitted as censored (M3).

Model (``CompartmentODE(autoinhibition=True, bioavailability="hill")``; C = A / V in
mg/L, the reported concentration A / V x 1000 ng/mL, S2 = V/1000):

    each dose: F(AMT) x AMT into the depot at TIME + ALAG1,
               F(AMT) = AMT^FGAM / (FD50^FGAM + AMT^FGAM)      (FD50 in mg)
    dA_depot/dt = -KA A_depot
    dA/dt = KA A_depot - E (VM C / (KM + C) + CL C)              (VM mg/h, KM mg/L, CL L/h)
    dE/dt = KDEG (1 - E) - KINACT C / (KI + C) E,  E(0) = 1      (KDEG, KINACT 1/h, KI mg/L)

Exposure rises more than proportionally with dose on day 1 (F(AMT) and the saturable
pathway) and accumulates more at high doses over the 28 days (the enzyme falls with
C). ALAG1 is fixed at 0.2 h, as in the simulation. Log-normal IIV on VM, KM, V, KA, CL
(diagonal); KDEG, KINACT, KI, FD50, FGAM are typical values only. Combined error.
The initial values (default priors LogNormal(log initial, 1)) are round guesses, not the
truth (``popkin.datasets.lxi15029.POPULATION``, docs/lxi15029-virtual-trial.md).

Integrated with diffrax (Tsit5, rtol 1e-6); a failed solve gives NaN predictions that
the sampler rejects (``throw=False``). Three states and a lag (no bolus shortcut): the
slowest model of the catalogue.
"""

import diffrax

from popkin.model import IIV, CombinedError, Derived, Fixed, PopulationModel, Theta
from popkin.pk.ode import ODEOptions
from popkin.pk.ode_models import CompartmentODE

ODE = ODEOptions(solver=diffrax.Tsit5(), rtol=1e-6, atol=1e-9, max_steps=1024, throw=False)

model = PopulationModel(
    name="lxi-1cpt-autoinh",
    description="LXI-15029: 1-compartment oral, MM + linear elimination auto-inhibited by enzyme turnover, "
                "dose-dependent F, ng/mL",
    structure=CompartmentODE(ncmt=1, route="oral", elimination="mm-linear", autoinhibition=True,
                             bioavailability="hill", options=ODE),
    parameters={
        "VM": Theta(20.0, "mg/h"),
        "KM": Theta(1.0, "mg/L"),
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
    iiv=IIV(("VM", "KM", "V", "KA", "CL")),
    error=CombinedError(add=0.5, prop=0.2),
)

"""LXI-15029 candidate 3: two-compartment oral model, linear elimination.

Data: the virtual LXI-15029 phase I trial (``popkin.datasets.lxi15029_trial()``): AMT in
mg, DV in ng/mL, BLQ records (LLOQ 1 ng/mL) fitted as censored (M3).

Model: CL/F, Q/F (L/h), V1/F, V2/F (L), KA (1/h); concentration = central amount / V1
x 1000 ng/mL (S2 = V1/1000, the central compartment being CMT 2). A second compartment
can produce a slow terminal phase, the other explanation (besides saturable
elimination) of accumulation larger than a short half-life predicts. Log-normal IIV on
CL, V1 and KA (diagonal); combined error.
"""

from popkin.model import IIV, CombinedError, Derived, PopulationModel, Theta

model = PopulationModel(
    name="lxi-2cpt-linear",
    description="LXI-15029: 2-compartment oral, linear elimination, ng/mL",
    structure="2cmt-oral",
    parameters={
        "CL": Theta(25.0, "L/h"),
        "V1": Theta(30.0, "L"),
        "Q": Theta(5.0, "L/h"),
        "V2": Theta(50.0, "L"),
        "KA": Theta(1.0, "1/h"),
        "S2": Derived(lambda p: p["V1"] / 1000.0, "V1/1000"),
    },
    iiv=IIV(("CL", "V1", "KA")),
    error=CombinedError(add=0.5, prop=0.2),
)

"""LXI-15029 candidate 1: one-compartment oral model, linear elimination.

Data: the virtual LXI-15029 phase I trial (``popkin.datasets.lxi15029_trial()``; file
``popkin/datasets/files/lxi15029_virtual.csv``): 24 patients, 10-150 mg BID, AMT in mg,
DV in ng/mL, BLQ records (LLOQ 1 ng/mL) fitted as censored (M3).

Model: CL/F (L/h), V/F (L), KA (1/h); the concentration in ng/mL is amount/V x 1000,
written as the scale S2 = V/1000 (NONMEM's S2); log-normal IIV on CL, V, KA
(diagonal); combined error, additive in ng/mL and proportional. Linear PK cannot follow
the more-than-proportional rise of exposure with dose that the trial showed (CL/F from
about 99 L/h at 10 mg to 13 L/h at 150 mg): this is the baseline to compare the
Michaelis-Menten candidate with (LOO).
"""

from popkin.model import IIV, CombinedError, Derived, PopulationModel, Theta

model = PopulationModel(
    name="lxi-1cpt-linear",
    description="LXI-15029: 1-compartment oral, linear elimination, ng/mL",
    structure="1cmt-oral",
    parameters={
        "CL": Theta(25.0, "L/h"),
        "V": Theta(50.0, "L"),
        "KA": Theta(1.0, "1/h"),
        "S2": Derived(lambda p: p["V"] / 1000.0, "V/1000", "L per (ng/mL per mg/L)"),
    },
    iiv=IIV(("CL", "V", "KA")),
    error=CombinedError(add=0.5, prop=0.2),
)

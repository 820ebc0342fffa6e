"""ACOP 2016 Oral_1CPT: one-compartment oral model with linear elimination.

Data: the simulated ACOP 2016 set (Schoemaker et al. 2019, CPT Pharmacometrics Syst
Pharmacol 8:923; nlmixr2data ``Oral_1CPT``): 120 subjects, 10-120 mg doses given as
AMT in micrograms, DV in micrograms/L; single, multiple and steady-state dosing
stacked in one file. ``SS = 99`` means "not given" there, translated to 0
(``translate=("acop-ss99",)``). Simulated with IIV 30% on every parameter and a
proportional residual error of 20%; the true individual CL, V, KA are columns of the
file (``popkin.datasets.acop("Oral_1CPT").truth``).

Model: CL (L/h), V (L), KA (1/h), log-normal IIV (diagonal omega), proportional error.
Concentration = amount / V: micrograms / L, the unit of DV.
"""

from popkin.model import IIV, PopulationModel, ProportionalError, Theta

model = PopulationModel(
    name="acop-oral-1cpt",
    description="ACOP 2016 Oral_1CPT: 1-compartment oral, linear elimination",
    structure="1cmt-oral",
    parameters={
        "CL": Theta(4.0, "L/h"),
        "V": Theta(70.0, "L"),
        "KA": Theta(1.0, "1/h"),
    },
    iiv=IIV(("CL", "V", "KA")),
    error=ProportionalError(0.2),
)

read = dict(translate=("acop-ss99",))

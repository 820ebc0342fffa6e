"""Theophylline, one-compartment oral model (Pinheiro & Bates 2000, sec. 8.2).

Data: R ``datasets::Theoph`` (12 subjects, one oral dose of ``Dose`` mg/kg; conc in
mg/L), read with ``popkin.data.THEOPH_LAYOUT`` so each subject gets AMT = Dose x Wt mg.

Model: the first-order absorption one-compartment model that ``nlme`` fits with
``SSfol`` (``fm1Theo.nlme``): clearance and volume per kg of body weight (a power
effect of Wt with exponent 1 about 70 kg, so CL and V below are the values of a 70 kg
subject), log-normal IIV on CL, V and KA with a full (correlated) omega, which is the
same model as nlme's random effects on (lKe, lKa, lCl) since (log CL, log V, log KA) is
a linear transform of those, and an additive residual error (mg/L), as nlme's constant
variance.

Published ML estimates (nlme 3.1, fm1Theo.nlme, re-run here with R): lKe = -2.4327,
lKa = 0.4514, lCl = -3.2145 (Cl in L/h/kg), i.e. KA = 1.571 /h, CL = 0.0402 L/h/kg
(2.81 L/h at 70 kg), V = Cl/Ke = 0.458 L/kg (32.0 L at 70 kg); residual SD 0.682 mg/L.

    popkin fit theoph.csv --model models/theoph.py --method nuts --out theoph-fit
"""

from popkin.data import THEOPH_LAYOUT
from popkin.model import IIV, AdditiveError, PopulationModel, Power, Theta

model = PopulationModel(
    name="theophylline",
    description="1-compartment oral, CL and V per kg (Wt^1), full omega, additive error",
    structure="1cmt-oral",
    parameters={
        "CL": Theta(2.8, "L/h", effects=(Power("Wt", 70, 1.0),)),
        "V": Theta(32.0, "L", effects=(Power("Wt", 70, 1.0),)),
        "KA": Theta(1.5, "1/h"),
    },
    iiv=IIV(("CL", "V", "KA"), correlated=True),
    error=AdditiveError(0.7),
)

read = dict(mapping=THEOPH_LAYOUT)

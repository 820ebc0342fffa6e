"""Warfarin PK: one-compartment oral model with absorption lag, weight on CL and V.

Data: nlmixr2data ``warfarin`` (O'Reilly 1963, 1968; 32 subjects, single oral doses in
mg, plasma concentration in mg/L as DVID 1 "cp"; the PCA records, DVID 2, are not
fitted by this PK-only model), read with ``popkin.data.WARFARIN_LAYOUT``.

Model: CL (L/h) and V (L) allometric in body weight ``wt`` (kg) about 70 kg (exponents
0.75 and 1, fixed), first-order absorption KA (1/h) after a lag ALAG1 (h),
log-normal IIV on CL, V and KA (diagonal), combined additive (mg/L) and proportional
residual error. Initial values from the literature (Holford, Clin Pharmacokinet
1986;11:483: CL about 0.13 L/h, V about 8 L for 70 kg).
"""

from popkin.data import WARFARIN_LAYOUT
from popkin.model import IIV, CombinedError, Output, PopulationModel, Power, Theta

model = PopulationModel(
    name="warfarin-pk",
    description="warfarin PK: 1-compartment oral with lag, allometric weight effects",
    structure="1cmt-oral",
    parameters={
        "CL": Theta(0.13, "L/h", effects=(Power("wt", 70, 0.75),)),
        "V": Theta(8.0, "L", effects=(Power("wt", 70, 1.0),)),
        "KA": Theta(1.0, "1/h"),
        "ALAG1": Theta(0.5, "h"),
    },
    iiv=IIV(("CL", "V", "KA")),
    error=(Output("cp", CombinedError(add=0.3, prop=0.1), dvid=1),),
)

read = dict(mapping=WARFARIN_LAYOUT)

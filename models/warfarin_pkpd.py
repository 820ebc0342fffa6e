"""Warfarin PK/PD: the PK of ``warfarin_pk.py`` driving an indirect response (turnover)
model of the prothrombin complex activity (PCA).

Data: nlmixr2data ``warfarin`` (O'Reilly 1963, 1968; 32 subjects), read with
``popkin.data.WARFARIN_LAYOUT``: DVID 1 concentration (mg/L), DVID 2 PCA (% of normal).

Model: ``PKPDModel(get_model("1cmt-oral"), IndirectResponse(1))`` (Dayneka, Garg &
Jusko 1993, type I: the drug inhibits the production of the prothrombin complex):

    dR/dt = KIN (1 - IMAX C / (IC50 + C)) - KOUT R,   R(0) = KIN / KOUT

with C the warfarin concentration (mg/L), R the PCA (%), KIN (%/h), KOUT (1/h), IC50
(mg/L) and IMAX fixed at 1 (full inhibition possible). Compartments: depot (CMT 1),
central (CMT 2), response (CMT 3): concentration records are predicted from CMT 2 and
PCA records (DVID 2) from CMT 3. Log-normal IIV on CL, V, KA, KIN, KOUT and IC50
(diagonal); combined error on the concentration, additive error (%) on the PCA.
The PK is the closed form; diffrax (Tsit5, rtol 1e-6) integrates only the response,
driven by the exact concentration (``popkin.pk.pd``): not stiff however fast the
absorption (a joint PK/PD ODE of this model took 66 ms per gradient at the MAP and 430
ms with KA x 8; this one 19 ms for both). A failed solve gives NaN predictions that the
sampler rejects. Fit it with ``NUTSOptions(parameterization="centered")``: the PCA
pins every subject's KIN, KOUT and IC50 (docs/fitting.md, "Centred or non-centred").
"""

import diffrax

from popkin.data import WARFARIN_LAYOUT
from popkin.model import (IIV, AdditiveError, CombinedError, Fixed, Output, PopulationModel, Power,
                          Theta)
from popkin.pk.model import get_model
from popkin.pk.ode import ODEOptions
from popkin.pk.pd import IndirectResponse, PKPDModel

ODE = ODEOptions(solver=diffrax.Tsit5(), rtol=1e-6, atol=1e-6, max_steps=1024, throw=False)

model = PopulationModel(
    name="warfarin-pkpd",
    description="warfarin PK (1-compartment oral, lag) + indirect response I on PCA",
    structure=PKPDModel(get_model("1cmt-oral"), IndirectResponse(1), options=ODE),
    parameters={
        "CL": Theta(0.13, "L/h", effects=(Power("wt", 70, 0.75),)),
        "V": Theta(8.0, "L", effects=(Power("wt", 70, 1.0),)),
        "KA": Theta(1.0, "1/h"),
        "ALAG1": Theta(0.5, "h"),
        "KIN": Theta(5.0, "%/h"),
        "KOUT": Theta(0.05, "1/h"),
        "IMAX": Fixed(1.0),
        "IC50": Theta(1.0, "mg/L"),
    },
    iiv=IIV(("CL", "V", "KA", "KIN", "KOUT", "IC50")),
    error=(Output("cp", CombinedError(add=0.3, prop=0.1), dvid=1, cmt=2),
           Output("pca", AdditiveError(5.0), dvid=2, cmt=3)),
)

read = dict(mapping=WARFARIN_LAYOUT)

"""A data set simulated from a known one-compartment model (shared by the diagnostics tests).

The simulation is independent of popkin's model code: individual parameters are drawn
with numpy and concentrations come from the textbook closed form
C(t) = D KA / (V (KA - k)) (exp(-k t) - exp(-KA t)), k = CL / V, with a combined
residual error, so that a diagnostic computed by popkin at the true parameters tests
popkin's model, simulation and diagnostics together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from popkin.model import IIV, CombinedError, PopulationModel, Theta

TRUTH = {"CL": 2.8, "V": 33.0, "KA": 1.2, "omega": np.array([0.3, 0.25, 0.4]), "sigma_add": 0.05,
         "sigma_prop": 0.15}
TIMES = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 24.0)
DOSES = (25.0, 100.0, 400.0)       # mg; 20 subjects each


def one_compartment_oral(t, dose, cl, v, ka):
    """Concentration (mg/L) after an oral dose (mg) at t = 0, t in h."""
    k = cl / v
    return dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def simulate_frame(n_per_dose: int = 20, seed: int = 1, truth=TRUTH) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(NONMEM-style frame, true individual parameters) of the simulated trial."""
    rng = np.random.default_rng(seed)
    rows, indiv = [], []
    sid = 0
    for dose in DOSES:
        for _ in range(n_per_dose):
            sid += 1
            eta = rng.normal(0.0, truth["omega"])
            cl, v, ka = (truth[p] * np.exp(e) for p, e in zip(("CL", "V", "KA"), eta))
            indiv.append({"ID": sid, "CL": cl, "V": v, "KA": ka})
            rows.append({"ID": sid, "TIME": 0.0, "AMT": dose, "DV": np.nan, "EVID": 1, "MDV": 1, "CMT": 1})
            t = np.asarray(TIMES)
            f = one_compartment_oral(t, dose, cl, v, ka)
            sd = np.sqrt(truth["sigma_add"] ** 2 + (truth["sigma_prop"] * f) ** 2)
            y = f + sd * rng.normal(size=t.size)
            rows += [{"ID": sid, "TIME": ti, "AMT": 0.0, "DV": yi, "EVID": 0, "MDV": 0, "CMT": 2}
                     for ti, yi in zip(t, y)]
    return pd.DataFrame(rows), pd.DataFrame(indiv)


def population_model() -> PopulationModel:
    return PopulationModel(
        structure="1cmt-oral",
        parameters={"CL": Theta(2.8, "L/h"), "V": Theta(33.0, "L"), "KA": Theta(1.2, "1/h")},
        iiv=IIV(("CL", "V", "KA")),
        error=CombinedError(add=0.05, prop=0.15),
    )


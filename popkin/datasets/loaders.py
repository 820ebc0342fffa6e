"""Loaders of the bundled public data sets. Each returns a validated
``popkin.data.Dataset`` (``popkin.data.read`` on the bundled file, so validation
messages cite that file and its rows); simulated sets with known parameters return a
``DatasetWithTruth``. Files and provenance: ``popkin.datasets.bundled.SOURCES``.

Units are those of the source; a loader's docstring states them. Nothing is rescaled.
"""

from __future__ import annotations

import pandas as pd

from popkin.data import INDOMETH_LAYOUT, THEOPH_LAYOUT, WARFARIN_LAYOUT, Dataset, read
from popkin.datasets.bundled import path
from popkin.datasets.truth import DatasetWithTruth

__all__ = ["theoph", "theo_sd", "theo_md", "warfarin", "indometacin", "mavoglurant", "acop",
           "ACOP_SETS"]


def theoph() -> Dataset:
    """Theophylline, 12 subjects, one oral dose each (R ``datasets::Theoph``).

    Source: Boeckmann, Sheiner and Beal (1994), NONMEM Users Guide Part V; the R file
    ``theoph.csv`` (Subject, Wt, Dose, Time, conc), one row per concentration.
    Read with ``popkin.data.THEOPH_LAYOUT``: each subject gets AMT = Dose (mg/kg) x Wt
    (kg) in mg at TIME 0 into the depot (CMT 1); concentrations (mg/L) are observed in
    CMT 2. 12 subjects, 132 observations (the TIME 0 samples included), covariates
    Wt (kg) and Dose (mg/kg).
    """
    return read(path("theoph.csv"), mapping=THEOPH_LAYOUT)


def theo_sd() -> Dataset:
    """Theophylline single dose in NONMEM layout (``nlmixr2data::theo_sd``).

    The day-1 data of the theophylline study (as ``theoph``) with AMT in mg and DV in
    mg/L. Doses are coded with rxode2's EVID 101 (bolus into CMT 1), translated to
    NONMEM EVID 1 by ``translate="rxode2-evid"``. The file lists the TIME 0 sample
    after the dose, so the reader warns that it is predicted just after the dose.
    12 subjects, 132 observations, covariate WT (kg).
    """
    return read(path("theo_sd.csv"), translate=("rxode2-evid",))


def theo_md() -> Dataset:
    """Theophylline repeated dosing (``nlmixr2data::theo_md``).

    The observed day-1 profile, then one dose a day for 7 days (doses at 0, 24, ...,
    144 h) with simulated concentrations on day 7; AMT mg, DV mg/L. EVID 101 doses are
    translated to NONMEM (``translate="rxode2-evid"``). 12 subjects, 84 doses,
    264 observations, covariate WT (kg).
    """
    return read(path("theo_md.csv"), translate=("rxode2-evid",))


def warfarin() -> Dataset:
    """Warfarin PK/PD (``nlmixr2data::warfarin``; O'Reilly 1963, 1968), 32 subjects.

    Read with ``popkin.data.WARFARIN_LAYOUT``: DVID 1 is the plasma concentration
    (mg/L), DVID 2 the prothrombin complex activity (% of normal); oral doses (mg) go
    into CMT 1, observations carry CMT 2. Covariates DVID, wt (kg), age (y), sex
    (female 0, male 1). 483 observations (251 concentrations, 232 PCA).
    """
    return read(path("warfarin.csv"), mapping=WARFARIN_LAYOUT)


def indometacin() -> Dataset:
    """Indometacin after a 25 mg IV bolus, 6 subjects (R ``datasets::Indometh``).

    Source: Kwan et al. (1976). Read with ``popkin.data.INDOMETH_LAYOUT``: the dose is
    a bolus into the central compartment (CMT 1) at TIME 0, where the plasma
    concentrations (mcg/mL) are observed. 66 observations.
    """
    return read(path("indometh.csv"), mapping=INDOMETH_LAYOUT)


def mavoglurant() -> Dataset:
    """Mavoglurant PK (``nlmixr2data::mavoglurant``; Wendling et al. 2015, 2016).

    120 subjects, IV infusions (RATE) of 25, 37.5 or 50 mg (DOSE), some subjects in
    several periods (OCC) whose clock restarts at 0: ``translate="occasion-reset"``
    makes each such dose a reset-and-dose (EVID 4), which assumes the washout emptied
    the system. DV is the plasma concentration; the source gives no unit (ng/mL by
    its magnitude). Covariates DOSE, OCC, AGE (y), SEX (1, 2 as in the source), WT
    (kg), HT (m). 2427 observations.
    """
    return read(path("mavoglurant.csv"), translate=("occasion-reset",))


# ---------------------------------------------------------------------- ACOP 2016

# name -> (true individual parameter columns, popkin model these were simulated with)
ACOP_SETS: dict[str, tuple[tuple[str, ...], str]] = {
    "Oral_1CPT": (("CL", "V", "KA"), "1cmt-oral"),
    "Oral_1CPTMM": (("VM", "KM", "V", "KA"), "1cmt-oral-mm"),
    "Oral_2CPT": (("CL", "V1", "Q", "V2", "KA"), "2cmt-oral"),
    "Oral_2CPTMM": (("VM", "KM", "V1", "Q", "V2", "KA"), "2cmt-oral-mm"),
    "Bolus_2CPT": (("CL", "V1", "Q", "V2"), "2cmt-iv"),
    "Infusion_2CPT": (("CL", "V", "Q", "V2"), "2cmt-iv"),
}
"""The bundled ACOP 2016 sets: true-parameter columns and the matching popkin model
(registry name). In Infusion_2CPT the central volume is the column V (V1 elsewhere)."""


def acop(name: str) -> DatasetWithTruth:
    """An ACOP 2016 simulated set (Schoemaker et al. 2019, CPT Pharmacometrics Syst
    Pharmacol 8:923; ``nlmixr2data``) with its true individual parameters.

    name: one of ``ACOP_SETS`` (Oral_1CPT, Oral_1CPTMM, Oral_2CPT, Oral_2CPTMM,
    Bolus_2CPT, Infusion_2CPT).

    120 subjects, 30 per dose of 10, 30, 60 and 120 mg (10, 20, 40 and 80 mg in the
    Michaelis-Menten sets), given as AMT in micrograms (10000 to 120000); DV in
    micrograms/L (= ng/mL); TIME in h. Single dose (72 h),
    four daily doses, combined, and steady-state parts are stacked in one table
    (column SD = 1 single-dose part). Files with an SS column code "not given" as
    SS = 99, translated to SS = 0 (``translate="acop-ss99"``); the Michaelis-Menten
    sets have no steady-state part and no SS column. IIV 30%, proportional residual
    error 20% (as published).

    ``.truth``: ID and the true individual parameters in the file's units: CL, Q (L/h),
    V, V1, V2 (L), KA (1/h), VM (micrograms/h, amounts as AMT), KM (micrograms/L, as
    DV). The same columns also stay in the dataset as (constant) covariates, with LNDV
    = log(DV), DOSE and SD, exactly as in the file: do not use them as covariates in a
    fit.
    """
    if name not in ACOP_SETS:
        raise KeyError(f"unknown ACOP set {name!r}; bundled: {', '.join(ACOP_SETS)}")
    file = path(f"{name}.csv")
    header = pd.read_csv(file, nrows=0).columns
    translate = ("acop-ss99",) if "SS" in header else ()
    ds = read(file, translate=translate)
    columns, _ = ACOP_SETS[name]
    first = ds.frame.groupby("ID", sort=False)[list(columns)].first().reset_index()
    return DatasetWithTruth.adopt(ds, first)


# ---------------------------------------------------------------------- LXI-15029

def lxi15029_trial() -> DatasetWithTruth:
    """The virtual LXI-15029 phase I trial shipped with popkin (``lxi15029_virtual.csv``).

    24 virtual patients in the published design (10-150 mg BID, cohorts of 3-4): a
    single dose on day 1 sampled to 48 h, BID from 48 h through cycle 1, troughs on
    cycle 1 days 8 and 15, a 12 h profile on cycle 1 day 28. NONMEM layout: AMT in mg,
    DV in ng/mL, BLQ/LLOQ (1 ng/mL), DOSE (mg BID), DAY (cycle-1 day; 0 for the
    single-dose day), OCC (1 single dose, 2 day-8 trough, 3 day-15 trough, 4 day-28
    profile), covariates WT (kg), AGE (y), SEX (0 female, 1 male).

    ``.truth``: ID, DOSE, WT, AGE, SEX and the true individual parameters VM (mg/h),
    KM (mg/L), V (L), KA (1/h), CL (L/h); ``.population``: the true population model
    (``popkin.datasets.lxi15029.POPULATION.as_dict()``). Regenerate with ``popkin.datasets.lxi15029.simulate_trial()``;
    method and calibration in docs/lxi15029-virtual-trial.md.
    """
    from popkin.datasets import lxi15029

    ds = read(path("lxi15029_virtual.csv"))
    truth = lxi15029.subjects(seed=lxi15029.SHIPPED_SEED)
    return DatasetWithTruth.adopt(ds, truth, lxi15029.POPULATION.as_dict())

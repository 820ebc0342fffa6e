"""Layouts: how a table that is not NONMEM-formatted maps onto the event frame.

A ``Layout`` renames columns to roles, codes text columns, sets CMT where the table
has none, and (``dose=SingleDose(...)``) turns a one-row-per-observation table
into dose records plus observation records. The ready layouts below read the
reference data sets; write your own the same way::

    from popkin.data import Layout, SingleDose, read
    mine = Layout(
        name="my-study",
        columns={"ID": "Subject", "TIME": "Hours", "DV": "Conc"},
        dose=SingleDose(amt="DoseMg", cmt=1),
        obs_cmt=2,
    )
    ds = read("study.csv", mapping=mine)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from popkin.errors import Violation


@dataclass(frozen=True)
class SingleDose:
    """One dose per subject, built from the subject's first row.

    amt: the dose amount: a number (the same for every subject), a column name, or a
    tuple of column names multiplied together (e.g. ``("Dose", "Wt")`` for a dose in
    mg/kg times weight in kg, giving mg).
    time: dose time (h); cmt: compartment (1-based); duration: infusion duration (h),
    0 for a bolus (RATE = AMT/duration otherwise).
    """

    amt: float | str | tuple[str, ...]
    time: float = 0.0
    cmt: int = 1
    duration: float = 0.0

    def columns(self) -> tuple[str, ...]:
        if isinstance(self.amt, str):
            return (self.amt,)
        if isinstance(self.amt, tuple):
            return self.amt
        return ()

    def describe(self) -> str:
        if isinstance(self.amt, (str, tuple)):
            amt = " x ".join(self.columns())
        else:
            amt = f"{self.amt:g}"
        route = f"infusion over {self.duration:g} h" if self.duration else "bolus"
        return f"AMT = {amt} at TIME {self.time:g} into CMT {self.cmt} ({route})"


@dataclass(frozen=True)
class Layout:
    """How to read a table whose layout is not NONMEM's.

    name: a short name (shown by ``popkin check``).
    columns: role -> the table's column, e.g. ``{"ID": "Subject", "DV": "conc"}``.
        Columns not named here are still matched to roles by name (case-insensitive).
    levels: column -> {text: code} for text columns (e.g. ``{"sex": {"female": 0,
        "male": 1}}``); a value not listed is an error.
    dose: when set, every row of the table is an observation and this builds one
        dose record per subject (placed before the subject's records at the dose time).
    dose_cmt, obs_cmt: CMT for dose and observation records when the table has no
        CMT column (the default otherwise is 1).
    note: what the layout decides and why (for docs and ``popkin check``).
    """

    name: str
    columns: dict[str, str] = field(default_factory=dict)
    levels: dict[str, dict[str, float]] = field(default_factory=dict)
    dose: SingleDose | None = None
    dose_cmt: int | None = None
    obs_cmt: int | None = None
    note: str = ""

    def __hash__(self):
        return hash(self.name)


def as_layout(mapping) -> Layout | None:
    """Accept a ``Layout``, a plain dict {role: column}, a ready layout's name, or None."""
    if mapping is None or isinstance(mapping, Layout):
        return mapping
    if isinstance(mapping, str) and mapping in LAYOUTS:
        return LAYOUTS[mapping]
    if isinstance(mapping, dict):
        return Layout(name="mapping", columns={str(k).upper(): str(v) for k, v in mapping.items()})
    raise TypeError(f"mapping must be a popkin.data.Layout, a dict {{role: column}} or the name of a ready "
                    f"layout ({', '.join(LAYOUTS)}), not {mapping!r}")


def check_columns(layout: Layout, available: list[str]) -> list[Violation]:
    """Every column the layout names must exist in the table."""
    wanted = list(layout.columns.values()) + list(layout.levels) + list(layout.dose.columns() if layout.dose else ())
    problems = []
    for col in dict.fromkeys(wanted):
        if col not in available:
            problems.append(Violation(None, col, (
                f"layout {layout.name!r} needs a column {col!r} but the table has "
                f"{', '.join(available)}; check the file or write a layout for it")))
    return problems


def dose_records(layout: Layout, frame: pd.DataFrame, user: dict[str, str]) -> tuple[pd.DataFrame, list[Violation]]:
    """Dose records of ``layout.dose`` for each subject of ``frame``.

    ``frame`` has parsed ID, TIME and the dose columns, plus ``_SRC`` (file row).
    The dose takes the covariates of the subject's first row; it is ordered before
    the subject's first record at or after the dose time (as in NONMEM files, where
    the dose precedes a sample taken at the same time), through the ``_POS`` key.
    """
    spec = layout.dose
    problems: list[Violation] = []
    firsts = frame.groupby("ID", sort=False).head(1)
    amt = pd.Series(1.0, index=firsts.index) if spec.columns() else pd.Series(float(spec.amt), index=firsts.index)
    for col in spec.columns():
        values = firsts[col]
        for idx in values.index[values.isna()]:
            problems.append(Violation(int(firsts.at[idx, "_SRC"]), user.get(col, col), (
                f"the dose of subject {firsts.at[idx, 'ID']} is computed from {col!r} "
                f"({spec.describe()}), which is missing on the subject's first row; fill it in")))
        amt = amt * values
    doses = firsts.copy()
    doses["TIME"] = float(spec.time)
    doses["AMT"] = amt
    doses["CMT"] = int(spec.cmt)
    doses["EVID"] = 1
    doses["MDV"] = 1
    doses["DV"] = np.nan
    doses["RATE"] = amt / spec.duration if spec.duration else 0.0
    doses["ROW"] = -1
    # position: just before the subject's first record with TIME >= dose time
    later = frame[frame["TIME"] >= spec.time].groupby("ID", sort=False)["_POS"].first()
    after_last = frame.groupby("ID", sort=False)["_POS"].last() + 1
    doses["_POS"] = doses["ID"].map(later).fillna(doses["ID"].map(after_last)).to_numpy(float) - 0.5
    return doses, problems


THEOPH_LAYOUT = Layout(
    name="theoph",
    columns={"ID": "Subject", "TIME": "Time", "DV": "conc"},
    dose=SingleDose(amt=("Dose", "Wt"), time=0.0, cmt=1),
    obs_cmt=2,
    note=("R datasets::Theoph: one row per concentration (mg/L); Dose is mg/kg and Wt kg, "
          "so each subject gets an oral dose AMT = Dose*Wt mg at TIME 0 into the depot "
          "(CMT 1); concentrations are observed in the central compartment (CMT 2). "
          "Wt and Dose stay as covariates."),
)

INDOMETH_LAYOUT = Layout(
    name="indometh",
    columns={"ID": "Subject", "TIME": "time", "DV": "conc"},
    dose=SingleDose(amt=25.0, time=0.0, cmt=1),
    obs_cmt=1,
    note=("R datasets::Indometh: one row per plasma concentration (mcg/mL); every "
          "subject received a 25 mg IV bolus at TIME 0 into the central compartment "
          "(CMT 1), where the concentrations are observed."),
)

WARFARIN_LAYOUT = Layout(
    name="warfarin",
    levels={"dvid": {"cp": 1, "pca": 2}, "sex": {"female": 0, "male": 1}},
    dose_cmt=1,
    obs_cmt=2,
    note=("nlmixr2data warfarin (O'Reilly): NONMEM-like with lower-case names. The "
          "column dvid says what a row measures: 'cp' plasma concentration (mg/L) is "
          "DVID 1, 'pca' prothrombin complex activity (%) is DVID 2. Both are EVID 0 "
          "records; DVID is kept per record (and packed with the covariates) so a PK/PD "
          "model picks its prediction by DVID. Oral doses go into the depot (CMT 1); "
          "observations carry CMT 2 (central) whatever their DVID. sex is coded female 0, "
          "male 1."),
)

LAYOUTS = {layout.name: layout for layout in (THEOPH_LAYOUT, INDOMETH_LAYOUT, WARFARIN_LAYOUT)}

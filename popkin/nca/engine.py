"""``nca()``: per-profile NCA over a concentration frame, with the result in long
format (one row per profile and parameter, with unit and reason) and wide format."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from popkin.errors import DatasetError, Violation
from popkin.nca.options import NCAOptions
from popkin.nca.profile import NotComputable, Profile, prepare
from popkin.nca.registry import PARAMETERS
from popkin.nca.units import Units

REQUIRED = ("ID", "TIME", "CONC", "DOSE")


@dataclass(frozen=True)
class NCAResult:
    """Result of ``nca()``.

    long: one row per profile and parameter: the key columns (ID, then the group
    and occasion columns when given), DOSE, SS, PARAMETER, VALUE, UNIT, REASON
    (empty when VALUE is finite, else why it is missing).
    keys: the key columns identifying a profile; group, occasion: their names or None.
    """

    long: pd.DataFrame
    keys: tuple[str, ...]
    group: str | None
    occasion: str | None
    options: NCAOptions
    units: Units
    notes: pd.DataFrame

    @property
    def wide(self) -> pd.DataFrame:
        """One row per profile (keys, DOSE, SS), one column per parameter code."""
        return self._pivot("VALUE")

    @property
    def reasons(self) -> pd.DataFrame:
        """Like ``wide`` but with the reason text of each missing value."""
        return self._pivot("REASON")

    def _pivot(self, column: str) -> pd.DataFrame:
        index = [*self.keys, "DOSE", "SS"]
        codes = list(dict.fromkeys(self.long["PARAMETER"]))
        out = self.long.pivot(index=index, columns="PARAMETER", values=column).reset_index()
        out.columns.name = None
        return out[index + codes]

    def units_of(self) -> dict[str, str]:
        """Parameter code -> unit label."""
        return {code: self.units.resolve(p.unit)[0] for code, p in PARAMETERS.items()}


def nca(
    conc: pd.DataFrame,
    options: NCAOptions | None = None,
    *,
    group: str | None = None,
    occasion: str | None = None,
    units: Units | None = None,
) -> NCAResult:
    """Non-compartmental analysis of every profile in ``conc``.

    conc: one row per sample with columns ID, TIME (time after the dose, in
        ``units.time``), CONC (``units.conc``; NaN = missing sample), DOSE
        (amount of that dose, ``units.dose``), optional BLQ (1 = below the limit
        of quantification; missing = 0), optional SS (1 = steady-state
        dosing-interval profile; missing or absent = 0, single dose), optional
        ROW (row number reported in error messages), and any other columns.
    group: column to carry for summaries (e.g. the dose level); constant per profile.
    occasion: column that separates profiles of the same subject (e.g. day 1
        and day 28). A profile is (ID, occasion).
    A value that cannot be computed is NaN with a reason; bad input (missing
    columns, non-numeric values, duplicate times) raises ``DatasetError``
    listing every problem with its row and column.
    """
    options = options or NCAOptions()
    units = units or Units()
    frame = _validated(conc, group, occasion)
    # profile identity columns (DOSE and SS are always reported, so never repeated)
    keys = tuple(dict.fromkeys(k for k in ("ID", group, occasion) if k is not None and k not in ("DOSE", "SS")))
    profile_keys = ["ID"] + ([occasion] if occasion else [])

    rows, notes = [], []
    for key, sub in frame.groupby(profile_keys, sort=True, dropna=False):
        sub = sub.sort_values("TIME")
        first = sub.iloc[0]
        prof = prepare(
            sub["TIME"].to_numpy(float), sub["CONC"].to_numpy(float), sub["BLQ"].to_numpy(bool),
            float(first["DOSE"]), bool(first["SS"]), options,
        )
        values, reasons = evaluate(prof)
        ident = {k: first[k] for k in keys}
        ident.update(DOSE=float(first["DOSE"]), SS=int(first["SS"]))
        rows.append((ident, values, reasons))
        for note in prof.notes:
            notes.append({**{k: first[k] for k in keys}, "NOTE": note})
    _accumulation(rows)

    records = []
    for ident, values, reasons in rows:
        for code, p in PARAMETERS.items():
            label, factor = units.resolve(p.unit)
            value = values[code]
            records.append({
                **ident, "PARAMETER": code, "VALUE": value * factor if math.isfinite(value) else math.nan,
                "UNIT": label, "REASON": "" if math.isfinite(value) else reasons[code],
            })
    long = pd.DataFrame.from_records(records, columns=[*keys, "DOSE", "SS", "PARAMETER", "VALUE", "UNIT", "REASON"])
    return NCAResult(long, keys, group, occasion, options, units, pd.DataFrame(notes, columns=[*keys, "NOTE"]))


def evaluate(profile: Profile) -> tuple[dict[str, float], dict[str, str]]:
    """All registry parameters of one prepared profile, in input units.

    Returns (values, reasons); a missing value is NaN and its reason names the
    root cause (a missing dependency's reason is passed on with "needs CODE; ").
    """
    values: dict[str, float] = {}
    reasons: dict[str, str] = {}
    root: dict[str, str] = {}
    profile.cache["reasons"] = root
    for code, p in PARAMETERS.items():
        values[code], reasons[code] = math.nan, ""
        if p.compute is None:
            continue  # computed across profiles
        if p.applies == "single" and profile.ss:
            reasons[code] = root[code] = "steady-state profile: see the steady-state parameter (CLFTAU, VZFTAU)"
            continue
        if p.applies == "steady" and not profile.ss:
            reasons[code] = root[code] = "single-dose profile: see the single-dose parameter (CLFO, VZFO)"
            continue
        missing = [d for d in p.depends if not math.isfinite(values[d])]
        if missing:
            d = missing[0]
            root[code] = root[d]
            reasons[code] = f"needs {d}; {root[d]}"
            continue
        try:
            value = float(p.compute(profile, values))
        except NotComputable as why:
            reasons[code] = root[code] = str(why)
            continue
        except (ZeroDivisionError, FloatingPointError, OverflowError) as why:  # defensive
            reasons[code] = root[code] = f"arithmetic failure ({why})"
            continue
        if not math.isfinite(value):
            reasons[code] = root[code] = "not finite"
            continue
        values[code] = value
    return values, reasons


def _accumulation(rows) -> None:
    """RAC_AUC and RAC_CMAX of steady-state profiles against the subject's first
    single-dose profile (profiles are already in (ID, occasion) order)."""
    reference: dict = {}
    for ident, values, reasons in rows:
        if not ident["SS"] and ident["ID"] not in reference:
            reference[ident["ID"]] = (values, reasons)
    for ident, values, reasons in rows:
        for code, base in (("RAC_AUC", "AUCTAU"), ("RAC_CMAX", "CMAX")):
            if not ident["SS"]:
                reasons[code] = "single-dose profile (accumulation ratios are reported on steady-state profiles)"
                continue
            if ident["ID"] not in reference:
                reasons[code] = "the subject has no single-dose profile to compare with"
                continue
            ref_values, ref_reasons = reference[ident["ID"]]
            if not math.isfinite(values[base]):
                reasons[code] = f"needs {base}; {reasons[base]}"
            elif not (math.isfinite(ref_values[base]) and ref_values[base] > 0):
                reasons[code] = f"needs {base} of the single-dose profile; {ref_reasons[base] or 'it is 0'}"
            else:
                values[code] = values[base] / ref_values[base]


def _validated(conc: pd.DataFrame, group: str | None, occasion: str | None) -> pd.DataFrame:
    """Check the concentration frame; return a copy with numeric columns and BLQ/SS filled."""
    if not isinstance(conc, pd.DataFrame):
        raise TypeError(f"nca() needs a pandas DataFrame, got {type(conc).__name__}")
    problems: list[Violation] = []
    needed = list(REQUIRED) + [c for c in (group, occasion) if c is not None]
    for col in needed:
        if col not in conc.columns:
            problems.append(Violation(None, col, f"column {col!r} is missing; columns present: {', '.join(map(str, conc.columns))}"))
    if problems:
        raise DatasetError(problems)
    frame = conc.copy()
    rownum = frame["ROW"].to_numpy() if "ROW" in frame.columns else np.arange(1, len(frame) + 1)
    for col, allow_nan in (("TIME", False), ("CONC", True), ("DOSE", False), ("BLQ", True), ("SS", True)):
        if col not in frame.columns:
            continue
        raw = frame[col]
        num = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = num.isna() & raw.notna() | (~np.isfinite(num) & num.notna())
        if not allow_nan:
            bad |= num.isna()
        if col in ("TIME", "CONC", "DOSE"):
            bad |= num < 0
        for i in np.flatnonzero(bad.to_numpy())[:20]:
            what = "is missing" if pd.isna(raw.iloc[i]) else f"value {raw.iloc[i]!r} is not a " + (
                "non-negative number" if col in ("TIME", "CONC", "DOSE") else "number")
            problems.append(Violation(int(rownum[i]), col, f"{what}; fix or remove the row"))
        frame[col] = num
    if problems:
        raise DatasetError(problems)
    frame["BLQ"] = frame["BLQ"].fillna(0) > 0 if "BLQ" in frame.columns else False  # missing flag = not BLQ
    frame["SS"] = (frame["SS"].fillna(0) > 0).astype(int) if "SS" in frame.columns else 0
    profile_keys = ["ID"] + ([occasion] if occasion else [])
    dup = frame.duplicated(profile_keys + ["TIME"], keep="first")
    for i in np.flatnonzero(dup.to_numpy())[:20]:
        problems.append(Violation(int(rownum[i]), "TIME", "duplicate time within a profile (same ID and occasion); remove one sample or give the profiles different occasions"))
    for col in ("DOSE", "SS") + tuple(c for c in (group,) if c is not None):
        varying = frame.groupby(profile_keys, dropna=False)[col].transform("nunique", dropna=False) > 1
        for i in np.flatnonzero(varying.to_numpy())[:5]:
            problems.append(Violation(int(rownum[i]), col, f"{col} changes within a profile; it must be constant per ID{' and ' + occasion if occasion else ''}"))
    if problems:
        raise DatasetError(problems)
    return frame

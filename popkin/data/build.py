"""From a raw table to the canonical event frame: roles, parsing, layout, defaults,
translations, validation. ``build`` never raises on bad data; it returns what it
could build and every violation found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from popkin.data import columns as C
from popkin.data.layout import LAYOUTS, Layout, as_layout, check_columns, dose_records
from popkin.data.rules import Context, check
from popkin.data.source import DATAFRAME_SOURCE, RawTable, load
from popkin.data.translate import TRANSLATIONS
from popkin.errors import Violation

# The canonical columns, in order (see popkin/data/events.py).
CANONICAL = ("ID", "TIME", "EVID", "AMT", "CMT", "RATE", "II", "ADDL", "SS", "DV", "MDV", "BLQ", "LLOQ", "ROW")
INTEGER = ("EVID", "CMT", "ADDL", "SS", "MDV", "BLQ", "ROW")
RESERVED = ("ROW",)


@dataclass
class Built:
    """What ``build`` produced: the canonical frame (None when errors prevent it)."""

    frame: pd.DataFrame | None
    covariates: tuple[str, ...] = ()
    levels: dict[str, dict[str, float]] = field(default_factory=dict)
    translations: dict[str, int] = field(default_factory=dict)
    layout: Layout | None = None
    violations: list[Violation] = field(default_factory=list)
    source: str = ""

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]


def _order(violations: list[Violation]) -> list[Violation]:
    return sorted(violations, key=lambda v: (v.row is not None, v.row or 0, v.severity != "error"))


def build(source, mapping=None, translate=(), compartments=None, log_dv=False) -> Built:
    """Read, map, parse, default, translate and validate ``source``."""
    raw, problems = load(source)
    label = raw.source if raw is not None else (DATAFRAME_SOURCE if isinstance(source, pd.DataFrame) else str(source))
    layout = as_layout(mapping)
    translate = (translate,) if isinstance(translate, str) else tuple(translate)
    n_cmt, cmt_names, arg_problems = _arguments(translate, compartments)
    problems += arg_problems
    if raw is None or problems:
        return Built(None, violations=_order(problems), source=label, layout=layout)

    # 1. which column is which: problems here make the rest meaningless
    raw = _drop_commented(raw, layout)
    roles, others, notes, problems = _structure(raw, layout)
    if problems:
        return Built(None, violations=_order(problems), source=label, layout=layout)

    # 2. cells to numbers, layout records, NM-TRAN defaults, requested translations
    frame, bad, levels, user, violations = _Parser(raw, roles, others, layout, cmt_names).run()
    violations += notes + _duplicates(raw)
    frame, violations = _apply_layout(frame, layout, user, violations)
    unknown_amt = ((frame["ROW"] < 0) & frame["AMT"].isna()).to_numpy() if "AMT" in frame else None
    given = frozenset(roles)
    frame = _defaults(frame, given, roles, layout)
    applied = {}
    for name in translate:
        frame, applied[name] = TRANSLATIONS[name].apply(frame)
        if applied[name] == 0:
            violations.append(Violation(None, None, f"translation {name!r} changed no record", "warning"))

    # 3. records in order (layout doses in place); cells already reported are skipped
    bad = {k: np.concatenate([v, np.zeros(len(frame) - len(v), bool)]) for k, v in bad.items()}
    if unknown_amt is not None:  # a layout dose whose amount is missing, already reported
        bad["AMT"] = bad.get("AMT", np.zeros(len(frame), bool)) | unknown_amt
    frame["_ORIG"] = np.arange(len(frame))
    frame = frame.sort_values("_POS", kind="stable").reset_index(drop=True)
    bad = {k: v[frame["_ORIG"].to_numpy()] for k, v in bad.items()}

    # 4. the rules
    ctx = Context(user=user, given=given, bad=bad, n_cmt=n_cmt, cmt_names=cmt_names, log_dv=log_dv,
                  covariates=tuple(others))
    violations += check(frame, ctx)
    if "LIMIT" in roles:
        violations += _limit_note(frame, user)
    if "DV" not in given:
        violations.append(Violation(None, None, (
            "no DV column: the records carry no observed values (fine for simulation or "
            "prediction, but there is nothing to fit)"), "warning"))
    covariates = tuple((["DVID"] if "DVID" in roles else []) + list(others))
    built = Built(None, covariates, levels, applied, layout, _order(violations), label)
    if not built.errors:
        built.frame = _canonical(frame, covariates, "LIMIT" in roles)
    return built


def _arguments(translate, compartments):
    problems = [Violation(None, None, f"unknown translation {t!r}; available: {', '.join(TRANSLATIONS)}")
                for t in translate if t not in TRANSLATIONS]
    n_cmt, cmt_names, cmt_problems = _compartments(compartments)
    return n_cmt, cmt_names, problems + cmt_problems


def _structure(raw: RawTable, layout: Layout | None):
    """Roles and covariate columns; returns (roles, others, notes, problems)."""
    available = list(raw.cells.columns)
    problems = check_columns(layout, available) if layout is not None else []
    roles, others, role_problems = C.resolve_roles(available, dict(layout.columns) if layout else {})
    problems += role_problems + _required(roles, available)
    if layout is not None and layout.dose is not None:
        problems += [Violation(None, roles[r], (
            f"layout {layout.name!r} builds the dose records itself, but the table has a "
            f"{r} column; use a layout without dose=, or drop the column")) for r in ("EVID", "AMT") if r in roles]
    reserved = [col for col in others if col.upper() in RESERVED]
    notes = [Violation(None, col, (
        f"column {col!r} is not used: ROW is popkin's own record of the file row "
        "(1 = first data row)"), "warning") for col in reserved]
    others = [col for col in others if col not in reserved]
    return roles, others, notes, problems


def _compartments(compartments):
    if compartments is None:
        return None, None, []
    if isinstance(compartments, (int, np.integer)) and not isinstance(compartments, bool) and compartments > 0:
        return int(compartments), None, []
    if isinstance(compartments, (list, tuple)) and compartments and all(isinstance(n, str) for n in compartments):
        return len(compartments), tuple(compartments), []
    return None, None, [Violation(None, None, (
        f"compartments={compartments!r}: give the model's number of compartments (e.g. 2) "
        "or their names in CMT order (e.g. ('depot', 'central'))"))]


def _drop_commented(raw: RawTable, layout: Layout | None) -> RawTable:
    """NM-TRAN's IGNORE=C convention: a column C holding only 'C' (row commented out)
    or a missing value ('.'); such rows and the column are dropped, row numbers kept."""
    mapped = set(layout.columns.values()) if layout else set()
    col = next((c for c in raw.cells.columns if c.strip().upper() == "C" and c not in mapped), None)
    if col is None:
        return raw
    marks = raw.cells[col]
    commented = np.array([isinstance(v, str) and v.strip().upper() == "C" for v in marks])
    if not commented.any() or not (commented | C.is_missing(marks)).all():
        return raw
    cells = raw.cells.loc[~commented].drop(columns=[col]).reset_index(drop=True)
    return RawTable(cells, raw.rows[~commented], raw.source)


def _duplicates(raw: RawTable) -> list[Violation]:
    """Rows identical, cell for cell, to an earlier row."""
    cells = raw.cells.astype(str)
    dup = cells.duplicated(keep="first").to_numpy()
    if not dup.any():
        return []
    group = cells.groupby(list(cells.columns), sort=False).ngroup().to_numpy()
    first = pd.Series(raw.rows).groupby(group, sort=False).transform("first").to_numpy()
    return [Violation(int(raw.rows[i]), None, (
        f"repeats row {int(first[i])} exactly; delete one copy (if both records are real, "
        "they must differ, e.g. in TIME)")) for i in np.flatnonzero(dup)]


def _required(roles: dict[str, str], available: list[str]) -> list[Violation]:
    missing = [r for r in C.REQUIRED_ROLES if r not in roles]
    if not missing:
        return []
    guesses = {C.guess_role(col): col for col in reversed(available) if C.guess_role(col)}
    fits = [name for name, lay in LAYOUTS.items()
            if all(col in available for col in list(lay.columns.values()) + list(lay.levels))]
    out = []
    for role in missing:
        msg = f"missing required column {role} ({C.ROLES[role]}); the table has {', '.join(available)}"
        if role in guesses:
            msg += (f". If {guesses[role]!r} is the {role}, read with a mapping, e.g. "
                    f"mapping={{'{role}': '{guesses[role]}'}} or a popkin.data.Layout")
        if fits:
            msg += f"; the ready layout {fits[0]!r} fits this table (popkin check --layout {fits[0]})"
        out.append(Violation(None, role, msg))
    return out


class _Parser:
    """Parse every column of a raw table into numbers (or codes), collecting violations."""

    def __init__(self, raw: RawTable, roles, others, layout: Layout | None, cmt_names):
        self.raw, self.roles, self.others = raw, roles, others
        self.layout, self.cmt_names = layout, cmt_names
        self.violations: list[Violation] = []
        self.levels: dict[str, dict[str, float]] = {}

    def run(self):
        raw, n = self.raw, len(self.raw.cells)
        frame = pd.DataFrame(index=pd.RangeIndex(n))
        bad: dict[str, np.ndarray] = {}
        user = {role: col for role, col in self.roles.items()}
        user.update({c: c for c in self.others})
        rows = raw.rows
        explicit = self.layout.levels if self.layout else {}
        for role, col in self.roles.items():
            series = raw.cells[col]
            if role == "ID":
                frame["ID"], bad["ID"] = self._ids(series, rows, col)
            elif col in explicit:
                frame[role], bad[role] = self._coded(series, rows, col, explicit[col], key=role)
            elif role == "CMT" and self.cmt_names:
                frame[role], bad[role] = self._coded(series, rows, col, self._cmt_codes(), key=role)
            elif role == "DVID":
                frame[role], bad[role] = self._maybe_text(series, rows, col, start=1, key=role)
            else:
                frame[role], bad[role] = self._numbers(series, rows, col)
        for col in self.others:
            series = raw.cells[col]
            if col in explicit:
                frame[col], bad[col] = self._coded(series, rows, col, explicit[col])
            else:
                frame[col], bad[col] = self._maybe_text(series, rows, col, start=0)
        frame["ROW"] = rows.astype(np.int64)
        frame["_SRC"] = rows.astype(np.int64)
        frame["_POS"] = np.arange(n, dtype=float)
        return frame, bad, self.levels, user, self.violations

    def _numbers(self, series, rows, col):
        p = C.parse_numbers(series)
        for i in np.flatnonzero(p.bad):
            self.violations.append(C.not_a_number(int(rows[i]), col, series.iloc[i]))
        return p.values, p.bad

    def _ids(self, series, rows, col):
        p = C.parse_numbers(series)
        if p.bad.any():  # text IDs (e.g. "S001") are fine: keep them as text
            values = series.astype(object).map(lambda v: str(v).strip() if not pd.isna(v) else None)
            values = values.where(~p.missing, None)
            return values.astype(object).to_numpy(), np.zeros(len(series), bool)
        vals = p.values
        finite = vals[np.isfinite(vals)]
        if finite.size and np.all(finite == np.round(finite)) and not np.isnan(vals).any():
            return vals.astype(np.int64), p.bad
        return vals, p.bad

    def _coded(self, series, rows, col, codes: dict[str, float], key: str | None = None):
        """Text levels -> codes (numbers pass through); ``levels`` is keyed by the frame column."""
        lookup = {str(k).strip().lower(): float(v) for k, v in codes.items()}
        missing = C.is_missing(series)
        values = np.full(len(series), np.nan)
        bad = np.zeros(len(series), bool)
        for i, v in enumerate(series.astype(object)):
            if missing[i]:
                continue
            text = str(v).strip().lower()
            if text in lookup:
                values[i] = lookup[text]
            else:
                try:
                    values[i] = float(text)
                except ValueError:
                    bad[i] = True
                    self.violations.append(Violation(int(rows[i]), col, (
                        f"{str(v).strip()!r} is not one of the levels of {col} "
                        f"({', '.join(map(str, codes))}); fix the value or add it to the layout's levels")))
        self.levels[key or col] = {str(k): float(v) for k, v in codes.items()}
        return values, bad

    def _cmt_codes(self) -> dict[str, float]:
        return {name: float(k) for k, name in enumerate(self.cmt_names, start=1)}

    def _maybe_text(self, series, rows, col, start: int, key: str | None = None):
        """A column of text levels is coded start, start+1, ... in sorted order."""
        p = C.parse_numbers(series)
        if p.bad.any() and not (~p.missing & ~p.bad).any():
            levels = sorted({str(v).strip() for v, b in zip(series, p.bad) if b})
            codes = {lev: float(k) for k, lev in enumerate(levels, start=start)}
            values, _ = self._coded(series, rows, col, codes, key=key)
            self.violations.append(Violation(None, col, (
                f"text column coded as numbers: {', '.join(f'{k}={v:g}' for k, v in codes.items())} "
                "(sorted); give a Layout with levels= to choose the codes"), "warning"))
            return values, np.zeros(len(series), bool)
        return self._numbers(series, rows, col)


def _apply_layout(frame, layout, user, violations):
    if layout is None or layout.dose is None:
        return frame, violations
    frame = frame.copy()
    frame["EVID"] = 0.0
    frame["AMT"] = 0.0
    usable = frame["ID"].notna() & frame["TIME"].notna() if "TIME" in frame else frame["ID"].notna()
    doses, problems = dose_records(layout, frame[usable], user)
    frame = pd.concat([frame, doses], ignore_index=True)
    return frame, violations + problems


def _defaults(frame, given, roles, layout: Layout | None) -> pd.DataFrame:
    """NM-TRAN defaults for absent columns and missing cells."""
    f = frame.copy()
    for col in ("AMT", "RATE", "II", "ADDL", "SS"):
        f[col] = f[col].fillna(0.0) if col in f else 0.0
    if "EVID" not in f:
        dose_like = (f["AMT"] > 0) | ((f["AMT"] == 0) & (f["RATE"] > 0) & (f["SS"] > 0))
        mdv1 = (f["MDV"] == 1) if "MDV" in f else False
        f["EVID"] = np.where(dose_like, 1.0, np.where(mdv1, 2.0, 0.0))
    else:
        f["EVID"] = f["EVID"].fillna(0.0)
    if "MDV" not in f:
        f["MDV"] = np.where(f["EVID"] != 0, 1.0, 0.0)
    else:
        f["MDV"] = f["MDV"].fillna(pd.Series(np.where(f["EVID"] != 0, 1.0, 0.0), index=f.index))
    if "CMT" not in given or "CMT" not in f:
        dose_cmt = (layout.dose_cmt if layout and layout.dose_cmt else 1)
        obs_cmt = (layout.obs_cmt if layout and layout.obs_cmt else 1)
        default = np.where(np.isin(f["EVID"], (1, 4)), dose_cmt, obs_cmt).astype(float)
        f["CMT"] = f["CMT"].fillna(pd.Series(default, index=f.index)) if "CMT" in f else default
    else:
        f["CMT"] = f["CMT"].where(~((f["CMT"] == 0) | f["CMT"].isna()), 1.0)
    f["BLQ"] = f["BLQ"].fillna(0.0) if "BLQ" in f else 0.0
    if "LLOQ" not in f:
        f["LLOQ"] = np.nan
        if roles.get("BLQ", "").strip().upper() == "CENS" and "DV" in f:
            f["LLOQ"] = f["DV"].where(f["BLQ"] == 1)  # Monolix/nlmixr2: DV holds the limit
    if "DV" not in f:
        f["DV"] = np.nan
    return f


def _limit_note(frame, user):
    lim = frame["LIMIT"].to_numpy(float)
    censored = frame["BLQ"].to_numpy(float) == 1
    used = censored & np.isfinite(lim) & (lim != 0)
    if not used.any():
        return []
    return [Violation(None, user.get("LIMIT", "LIMIT"), (
        f"{int(used.sum())} censored record(s) give a lower LIMIT; popkin censors BLQ "
        "observations below LLOQ (from 0 on the log scale, from -inf otherwise) and does "
        "not use LIMIT"), "warning")]


def _canonical(frame, covariates, keep_limit) -> pd.DataFrame:
    out = frame.copy()
    # an observation without a value is not fitted (unless it is censored: BLQ uses LLOQ)
    no_dv = (out["EVID"] == 0) & out["DV"].isna() & (out["BLQ"] != 1)
    out.loc[no_dv, "MDV"] = 1.0
    for col in INTEGER:
        out[col] = out[col].astype(np.int64)
    extra = (["LIMIT"] if keep_limit else []) + list(covariates)
    out = out[list(CANONICAL) + extra]
    return out.reset_index(drop=True)

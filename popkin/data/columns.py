"""Column roles and cell parsing.

A column's *role* is its NONMEM meaning (ID, TIME, AMT, ...). Roles are found by
name, case-insensitively; every other column is a covariate candidate. Cells are
parsed the way NM-TRAN reads them: numbers, with ``.`` (and an empty cell) meaning
missing; popkin also accepts ``NA``/``NaN`` as missing because R writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from popkin.errors import Violation

# Canonical role -> what it is, for messages and docs.
ROLES = {
    "ID": "subject identifier",
    "TIME": "time of the record (h)",
    "EVID": "event type (0 observation, 1 dose, 2 other, 3 reset, 4 reset and dose)",
    "AMT": "dose amount",
    "CMT": "compartment number (1-based)",
    "RATE": "infusion rate (amount/h); -1/-2 modelled rate/duration",
    "II": "interdose interval (h)",
    "ADDL": "number of additional doses",
    "SS": "steady-state flag (0, 1, 2)",
    "DV": "observed value",
    "MDV": "missing-DV flag (1 = not an observation to fit)",
    "BLQ": "below-limit-of-quantification flag (1 = censored)",
    "LLOQ": "lower limit of quantification",
    "DVID": "kind of observation (1, 2, ...), e.g. concentration or effect",
    "LIMIT": "lower bound of a censored observation (Monolix/nlmixr2)",
}
# Other spellings people use for a role. CENS (Monolix, nlmixr2) is BLQ with their
# convention that DV holds the limit on censored rows.
ALIASES = {"CENS": "BLQ"}
# Roles whose values must be integers from a fixed set.
CODES = {"EVID": (0, 1, 2, 3, 4), "MDV": (0, 1), "SS": (0, 1, 2), "BLQ": (0, 1)}
REQUIRED_ROLES = ("ID", "TIME")

MISSING_TOKENS = frozenset({"", ".", "na", "nan", "n/a"})
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


@dataclass(frozen=True)
class Parsed:
    """One column parsed to numbers.

    values: float array (NaN where missing or unreadable); missing: the cell was
    empty or a missing token; bad: the cell holds text that is not a number.
    """

    values: np.ndarray
    missing: np.ndarray
    bad: np.ndarray


def _text_cells(series: pd.Series) -> tuple[list, np.ndarray]:
    """Cells as stripped text (None where missing) and the missing mask."""
    cells, missing = [], []
    for v in series.to_numpy(dtype=object):
        if isinstance(v, str):
            t = v.strip()
            gone = t.lower() in MISSING_TOKENS
        else:
            gone = v is None or (np.ndim(v) == 0 and bool(pd.isna(v)))
            t = None if gone else str(v)
        cells.append(None if gone else t)
        missing.append(gone)
    return cells, np.asarray(missing, dtype=bool)


def is_missing(series: pd.Series) -> np.ndarray:
    """Cells that are empty, '.', NA/NaN (text or value)."""
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series.isna().to_numpy()
    return _text_cells(series)[1]


def parse_numbers(series: pd.Series) -> Parsed:
    """Parse a column to floats, marking missing and non-numeric cells."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return Parsed(series.astype(float).to_numpy(), series.isna().to_numpy(), np.zeros(len(series), bool))
    if pd.api.types.is_numeric_dtype(series.dtype):
        missing = series.isna().to_numpy()
        values = series.to_numpy(dtype=float, na_value=np.nan)
    else:
        cells, missing = _text_cells(series)
        values = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~missing & ~np.isfinite(values)
    return Parsed(np.where(bad, np.nan, values), missing, bad)


def not_a_number(row: int, column: str, value) -> Violation:
    """The violation for a cell that should hold a number."""
    text = str(value).strip()
    hint = "write a number, or '.' for a missing value"
    if _DECIMAL_COMMA.match(text):
        hint = "use '.' as the decimal mark"
    return Violation(row, column, f"{text!r} is not a number; {hint}")


def resolve_roles(columns: list[str], renames: dict[str, str]) -> tuple[dict[str, str], list[str], list[Violation]]:
    """Find each role's column.

    ``renames`` maps role -> user column (from a layout); the rest is matched by
    name, case-insensitively, including aliases (CENS -> BLQ). Returns
    ``(role -> user column, other columns, violations)``.
    """
    violations: list[Violation] = []
    roles: dict[str, str] = {}
    taken: set[str] = set()
    for role, col in renames.items():
        roles[role] = col
        taken.add(col)
    for col in columns:
        if col in taken:
            continue
        key = col.strip().upper()
        role = ALIASES.get(key, key)
        if role not in ROLES:
            continue
        if role in roles:
            violations.append(Violation(None, col, (
                f"column {col!r} is a second {role} column (already {roles[role]!r}); "
                "keep one, or rename the other")))
            continue
        roles[role] = col
        taken.add(col)
    others = [c for c in columns if c not in taken]
    return roles, others, violations


def guess_role(column: str) -> str | None:
    """A role that a non-NONMEM column name probably means (for hints only)."""
    key = column.strip().lower()
    guesses = {
        "ID": ("subject", "subj", "patient", "usubjid", "subjid", "id"),
        "TIME": ("time", "t", "tad", "hours", "hour"),
        "DV": ("conc", "concentration", "cp", "y", "value", "obs"),
        "AMT": ("dose", "amount"),
    }
    for role, names in guesses.items():
        if key in names:
            return role
    return None

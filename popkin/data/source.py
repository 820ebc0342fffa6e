"""Loading a table from a CSV file or a DataFrame, without ever raising on bad data.

A CSV is split by hand (the ``csv`` module) so that every data row keeps its number
in the file: row 1 is the first line after the header, and a row's number is its
line number minus the header's line number. Comment lines (starting with ``#``, as
NM-TRAN's default IGNORE=#) are skipped but still counted, so numbers match what a
text editor shows (line = row + 1 when the header is on line 1).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from popkin.errors import Violation

DATAFRAME_SOURCE = "<DataFrame>"


@dataclass(frozen=True)
class RawTable:
    """A table as the user wrote it.

    cells: one column per file column (names as written); CSV cells are text.
    rows: the file row number of each table row (1 = first data row).
    source: the path as given, or "<DataFrame>".
    """

    cells: pd.DataFrame
    rows: np.ndarray
    source: str


def load(source) -> tuple[RawTable | None, list[Violation]]:
    """Read ``source`` (a path or a DataFrame) into a ``RawTable``.

    Returns ``(None, violations)`` when nothing usable could be read.
    """
    if isinstance(source, pd.DataFrame):
        return _from_frame(source)
    if isinstance(source, (str, os.PathLike)):
        return _from_file(Path(source))
    return None, [Violation(None, None, (
        f"cannot read a dataset from a {type(source).__name__}; give a path to a CSV "
        "file or a pandas DataFrame"))]


def _from_frame(df: pd.DataFrame) -> tuple[RawTable | None, list[Violation]]:
    names = [str(c).strip() for c in df.columns]
    problems = _check_names(names)
    if len(df) == 0:
        problems.append(Violation(None, None, "the DataFrame has no rows"))
    if problems:
        return None, problems
    cells = df.reset_index(drop=True).copy()
    cells.columns = names
    return RawTable(cells, np.arange(1, len(df) + 1), DATAFRAME_SOURCE), []


def _from_file(path: Path) -> tuple[RawTable | None, list[Violation]]:
    label = str(path)
    if not path.exists():
        return None, [Violation(None, None, f"file {label} not found; check the path")]
    if path.is_dir():
        return None, [Violation(None, None, f"{label} is a folder; give the path of a CSV file")]
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Violation(None, None, f"cannot read {label}: {exc.strerror or exc}")]
    text, problem = _decode(data, label)
    if problem:
        return None, [problem]
    table, problems = _parse_text(text, label)
    return table, problems


def _decode(data: bytes, label: str) -> tuple[str, Violation | None]:
    if not data.strip():
        return "", Violation(None, None, (
            f"{label} is empty; a dataset needs a header line (e.g. ID,TIME,AMT,DV,EVID) "
            "and one line per record"))
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "", Violation(None, None, (
            f"{label} looks like an Excel workbook, not a CSV file; save the sheet as CSV "
            "(comma-separated) and check that file"))
    head = data[:65536]
    controls = sum(b < 9 or 13 < b < 32 for b in head)
    if b"\x00" in head or controls > 0.01 * len(head):
        return "", Violation(None, None, (
            f"{label} is not a text file (it holds binary data); give a CSV file with a "
            "header line and one record per line"))
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return data.decode("latin-1"), None


def _parse_text(text: str, label: str) -> tuple[RawTable | None, list[Violation]]:
    # split on line ends only (str.splitlines would also split on characters such as
    # \x0b or \u2028 inside a cell, shifting every row number after it)
    newline = "\n" if "\n" in text or "\r" not in text else "\r"
    lines = [line.rstrip("\r") for line in text.split(newline)]
    header_at = _header_line(lines)
    header_line = lines[header_at].strip().lstrip("#@").strip()
    delimiter, problem = _delimiter(header_line, label)
    if problem:
        return None, [problem]
    names = _split(header_line, delimiter)
    if names and all(_looks_numeric(n) for n in names if n):
        return None, [Violation(None, None, (
            f"the first line of {label} looks like data, not a header; add a header line "
            "naming the columns (e.g. ID,TIME,AMT,DV,EVID)"))]
    # a trailing delimiter on the header gives an empty last name: drop it
    while names and names[-1] == "":
        names.pop()
    problems = _check_names(names)
    if problems:
        return None, problems

    numbered = [(offset, line) for offset, line in enumerate(lines[header_at + 1:], start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    records, rows, problems = [], [], []
    for offset, line in numbered:
        # quoting is rare: the csv module only for lines that have quotes, each on its own
        # (an unbalanced quote must not swallow the next lines)
        fields = _split(line, delimiter) if '"' in line or delimiter is None else line.split(delimiter)
        while len(fields) > len(names) and fields[-1].strip() == "":
            fields.pop()
        if len(fields) != len(names):
            problems.append(Violation(offset, None, (
                f"has {len(fields)} values but the header names {len(names)} columns; "
                "check the delimiter and quoting, and write '.' for a missing value")))
            continue
        records.append(fields)
        rows.append(offset)
    if not records and not problems:
        problems.append(Violation(None, None, f"{label} has a header but no data rows"))
    if problems:
        return None, problems
    cells = pd.DataFrame(records, columns=names, dtype=object)
    return RawTable(cells, np.asarray(rows), label), []


def _header_line(lines: list[str]) -> int:
    """The header: the first line that is not blank or a '#' comment, unless that line
    is data and the comment just above it names the columns (``#ID,TIME,DV``)."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    first = next((i for i in filled if not lines[i].lstrip().startswith("#")), filled[0])
    above = [i for i in filled if i < first]
    if above and _is_data(lines[first]) and not _is_data(lines[above[-1]].strip().lstrip("#")):
        return above[-1]
    return first


def _is_data(line: str) -> bool:
    fields = [f for f in re.split(r"[,\t; ]+", line.strip()) if f]
    return bool(fields) and all(_looks_numeric(f) or f == "." for f in fields)


def _delimiter(header: str, label: str) -> tuple[str | None, Violation | None]:
    if "," in header:
        return ",", None
    if "\t" in header:
        return "\t", None
    if ";" in header:
        return None, Violation(None, None, (
            f"{label} seems to use ';' as the delimiter; popkin reads comma-, tab- or "
            "space-separated files: save it as comma-separated with '.' as the decimal mark"))
    if len(header.split()) > 1:
        return None, None  # whitespace-separated, as NM-TRAN allows
    return None, Violation(None, None, (
        f"the header of {label} names a single column ({header[:60]!r}); popkin reads "
        "comma-, tab- or space-separated files with a header such as ID,TIME,AMT,DV,EVID"))


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    fields = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    return [f.strip() for f in fields]


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_names(names: list[str]) -> list[Violation]:
    problems = []
    seen: dict[str, str] = {}
    for k, name in enumerate(names, start=1):
        if not name:
            problems.append(Violation(None, None, f"column {k} has no name in the header; name it or delete it"))
            continue
        key = name.upper()
        if key in seen:
            problems.append(Violation(None, name, (
                f"the header names column {name!r} twice (also {seen[key]!r}; names are "
                "case-insensitive); rename or delete one")))
        seen[key] = name
    return problems

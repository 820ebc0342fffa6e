"""popkin's exceptions. Every error a user can cause is a ``PopkinError`` with a
message that says what is wrong and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


class PopkinError(Exception):
    """Base class of all popkin errors."""


@dataclass(frozen=True)
class Violation:
    """One problem found in a dataset.

    row: the row as numbered in the file (1 = first data row after the header),
    or None when the problem concerns the whole file; column: the column name as
    the user wrote it, or None; message: what is wrong and how to fix it;
    severity: "error" (the data cannot be used) or "warning" (suspicious but legal).
    """

    row: int | None
    column: str | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        prefix = ", ".join(where) if where else "dataset"
        tag = "" if self.severity == "error" else "warning: "
        return f"{prefix}: {tag}{self.message}"


class DatasetError(PopkinError):
    """A dataset failed validation. ``violations`` lists every problem found."""

    def __init__(self, violations: list[Violation]):
        self.violations = list(violations)
        errors = [v for v in self.violations if v.severity == "error"]
        lines = "\n".join(str(v) for v in errors)
        super().__init__(f"{len(errors)} problem(s) in the dataset:\n{lines}")


class ModelError(PopkinError):
    """A model is mis-specified (unknown parameter, compartment, bad value)."""


class FitError(PopkinError):
    """Inference could not run or failed."""


class OutputExistsError(PopkinError):
    """An output file or folder already exists and overwriting was not asked for."""

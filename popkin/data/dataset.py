"""``read`` and ``validate``: a NONMEM-style table -> a validated ``Dataset``."""

from __future__ import annotations

import pandas as pd

from popkin.data.build import Built, build
from popkin.data.events import EventArrays, pack
from popkin.data.summary import Summary, summarize
from popkin.errors import DatasetError, Violation


class Dataset:
    """A validated dataset: the canonical event frame and what was learnt reading it.

    Attributes (read-only):
        frame: the canonical event frame (columns of ``popkin.data.events``: ID, TIME,
            EVID, AMT, CMT, RATE, II, ADDL, SS, DV, MDV, BLQ, LLOQ, ROW, then DVID and
            covariates); ROW is the row in the user's file (1 = first data row), -1 for
            records a layout built. A copy: changing it does not change the dataset.
        covariates: names of the covariate columns (numeric, not NONMEM roles; DVID
            first when present, so models see it per record).
        levels: {frame column: {text: code}} for text columns coded as numbers (e.g.
            DVID, sex, or CMT given as names).
        translations: {name: records changed} for the translations applied.
        warnings: suspicious but legal findings (``Violation`` with severity "warning").
        source: the path as given, or "<DataFrame>".
        layout: the name of the layout used, or None.
    """

    __slots__ = ("_frame", "_covariates", "_levels", "_translations", "_warnings", "_source", "_layout")

    def __init__(self, built: Built):
        self._frame = built.frame
        self._covariates = tuple(built.covariates)
        self._levels = {k: dict(v) for k, v in built.levels.items()}
        self._translations = dict(built.translations)
        self._warnings = [v for v in built.violations if v.severity != "error"]
        self._source = built.source
        self._layout = built.layout.name if built.layout else None

    @property
    def frame(self) -> pd.DataFrame:
        return self._frame.copy(deep=False)  # copy-on-write: edits do not reach the dataset

    @property
    def covariates(self) -> tuple[str, ...]:
        return self._covariates

    @property
    def levels(self) -> dict[str, dict[str, float]]:
        return {k: dict(v) for k, v in self._levels.items()}

    @property
    def translations(self) -> dict[str, int]:
        return dict(self._translations)

    @property
    def warnings(self) -> list[Violation]:
        return list(self._warnings)

    @property
    def source(self) -> str:
        return self._source

    @property
    def layout(self) -> str | None:
        return self._layout

    @property
    def n_subjects(self) -> int:
        return int(self._frame["ID"].nunique())

    def pack(self) -> EventArrays:
        """The records as padded per-subject arrays (``popkin.data.events.pack``)."""
        return pack(self._frame, self._covariates)

    def summary(self) -> Summary:
        """Subjects, doses, observations, BLQ, covariates, dosing intervals (a dict that prints as text)."""
        return summarize(self._frame, self._covariates, self._levels, source=self._source,
                         layout=self._layout, translations=self._translations,
                         n_warnings=len(self._warnings))

    def __len__(self) -> int:
        return len(self._frame)

    def __repr__(self) -> str:
        return (f"Dataset({self._source!r}: {self.n_subjects} subjects, {len(self._frame)} records, "
                f"{len(self._warnings)} warnings)")


def read(source, *, mapping=None, translate=(), compartments=None, log_dv=False) -> Dataset:
    """Read and validate a NONMEM-style dataset.

    source: a CSV path (comma-, tab- or space-separated; '.' is missing, as in NM-TRAN)
        or a pandas DataFrame. Column names are matched case-insensitively.
    mapping: a ``Layout`` (or a dict {role: column}) for tables that are not in NONMEM
        layout, e.g. ``THEOPH_LAYOUT``.
    translate: names of documented translations of non-NONMEM codes
        (``"rxode2-evid"``, ``"acop-ss99"``, ``"occasion-reset"``; see TRANSLATIONS).
    compartments: the model's compartments, as a count or names in CMT order; a CMT
        outside them is an error, and CMT given as names is numbered from them.
    log_dv: the residual error is on the log scale, so fitted DV must be > 0.

    Raises ``DatasetError`` listing every violation (errors and warnings) when there is
    any error; returns a ``Dataset`` whose ``warnings`` hold the rest otherwise.
    """
    built = build(source, mapping, translate, compartments, log_dv)
    if built.errors:
        raise DatasetError(built.violations)
    return Dataset(built)


def validate(source, *, mapping=None, translate=(), compartments=None, log_dv=False) -> list[Violation]:
    """Every violation (errors and warnings) of ``source``, without raising.

    Same arguments as ``read``. Violations are ordered by row (file-level ones first).
    """
    return build(source, mapping, translate, compartments, log_dv).violations

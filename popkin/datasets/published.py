"""The published LXI-15029 summary tables (Wang et al., BMC Cancer 2023;23:1200), as
bundled copies of /work/shared/data/lxi15029/*.csv: never retyped.

Layout of the tables (wide): parameter, unit, statistic, then one column per dose group
in mg BID ("10" ... "150"). Statistics follow the paper: geomean and geocv_pct for
exposure, median/min/max for Tmax, mean and sd for t1/2, V/F, CL/F and accumulation
ratios; the N row has statistic "count". CMIN_SS at 10 mg was not reported (missing).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from popkin.datasets.bundled import path

DOSE_GROUPS = (10, 20, 40, 60, 80, 110, 150)
"""Dose groups of the trial, mg BID."""


@dataclass(frozen=True)
class PublishedTables:
    """The paper's tables: ``single_dose`` (Table 3, day 1), ``steady_state`` (Table 4,
    cycle 1 day 28), ``adverse_events`` (Table 2), each a DataFrame as bundled."""

    single_dose: pd.DataFrame
    steady_state: pd.DataFrame
    adverse_events: pd.DataFrame

    def value(self, table: str, parameter: str, statistic: str) -> pd.Series:
        """One row of Table 3 (``table="single_dose"``) or 4 as a Series indexed by
        dose group (mg, int), floats (NaN where not reported)."""
        frame = getattr(self, table)
        row = frame[(frame["parameter"] == parameter) & (frame["statistic"] == statistic)]
        if len(row) != 1:
            known = sorted(set(zip(frame["parameter"], frame["statistic"])))
            raise KeyError(f"{table} has no row ({parameter!r}, {statistic!r}); rows: {known}")
        values = row.iloc[0][[str(d) for d in DOSE_GROUPS]].astype(float)
        values.index = list(DOSE_GROUPS)
        return values


def lxi15029_published() -> PublishedTables:
    """The published LXI-15029 Tables 2, 3 and 4 (bundled copies of the shared files)."""
    return PublishedTables(
        single_dose=pd.read_csv(path("lxi15029_table3_single_dose.csv")),
        steady_state=pd.read_csv(path("lxi15029_table4_steady_state.csv")),
        adverse_events=pd.read_csv(path("lxi15029_table2_adverse_events.csv")),
    )

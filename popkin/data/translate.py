"""Documented translations of non-NONMEM codings, applied only when asked for.

Each translation rewrites some records of the parsed event frame into NONMEM coding
and says how many it changed. They run after defaults (EVID, MDV) are filled and
before validation, so what they produce is checked like any other record.

- ``rxode2-evid``: rxode2's classic compound EVIDs (e.g. 101 in nlmixr2data's
  theo_md/theo_sd) -> NONMEM EVID/CMT/SS. The classic code is ``I*10000 + C*100 + X``:
  I the infusion flag (0 bolus), C the compartment (1-99), X the event
  (01 dose, 10 steady state like SS=1, 20 steady state like SS=2). Bolus doses
  (I = 0; X = 01, 10, 20) become EVID 1 with CMT = C and SS = 0/1/2. The other classic
  codes (infusion on/off pairs I = 1/2, modelled rate/duration switches I = 6-9,
  replace/multiply I = 4/5, compartment switch-off X = 30) have no one-record NONMEM
  equivalent; they are left as they are and reported as bad EVIDs.
- ``acop-ss99``: SS = 99 -> 0 in the ACOP 2016 simulated sets (Oral_1CPT, Bolus_2CPT,
  ...). Those files are single-dose, multiple-dose and steady-state parts stacked into
  one table; 99 marks the records of the parts that had no SS column (it is on
  observations as well as doses, always with II = 0, and the one real steady-state
  dose of each subject is coded SS = 1, II = 24). 99 therefore means "not given",
  which in NONMEM is SS = 0.
- ``occasion-reset``: a dose record whose TIME is earlier than the subject's previous
  record (time restarting at a new occasion, as in nlmixr2data's mavoglurant, a
  crossover whose periods each start at TIME 0) becomes EVID 4 (reset and dose), the
  NONMEM coding of "a new period starts from zero". Only correct when the washout
  empties the system, which is what restarting the clock assumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Translation:
    """A named rewrite of non-NONMEM codes; ``apply`` returns (frame, records changed)."""

    name: str
    summary: str
    apply: Callable[[pd.DataFrame], tuple[pd.DataFrame, int]]


def _rxode2_evid(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    evid = frame["EVID"].to_numpy(float)
    code = np.where(np.isfinite(evid), evid, -1).astype(np.int64)
    infusion, cmt, event = code // 10000, (code // 100) % 100, code % 100
    ok = (code >= 100) & (infusion == 0) & (cmt >= 1) & np.isin(event, (1, 10, 20))
    if not ok.any():
        return frame, 0
    out = frame.copy()
    out.loc[ok, "EVID"] = 1
    out.loc[ok, "CMT"] = cmt[ok].astype(float)
    out.loc[ok, "SS"] = np.select([event[ok] == 10, event[ok] == 20], [1.0, 2.0], 0.0)
    return out, int(ok.sum())


def _acop_ss99(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    hit = frame["SS"].to_numpy(float) == 99
    if not hit.any():
        return frame, 0
    out = frame.copy()
    out.loc[hit, "SS"] = 0.0
    return out, int(hit.sum())


def _occasion_reset(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    data = frame["ROW"].to_numpy() >= 0  # the file's own records, in file order
    prev = frame.loc[data, "TIME"].groupby(frame.loc[data, "ID"], sort=False).shift(1).reindex(frame.index)
    hit = data & (frame["TIME"] < prev).to_numpy() & (frame["EVID"].to_numpy(float) == 1)
    if not hit.any():
        return frame, 0
    out = frame.copy()
    out.loc[hit, "EVID"] = 4
    return out, int(hit.sum())


TRANSLATIONS = {t.name: t for t in (
    Translation("rxode2-evid", "rxode2 classic EVID (e.g. 101) -> NONMEM EVID 1 with CMT and SS", _rxode2_evid),
    Translation("acop-ss99", "SS = 99 ('not given' in the ACOP 2016 sets) -> SS = 0", _acop_ss99),
    Translation("occasion-reset", "a dose where TIME restarts (new occasion) -> EVID 4, reset and dose", _occasion_reset),
)}

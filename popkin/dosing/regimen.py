"""Dosing regimens that build the same canonical event frame as the reader.

A ``Regimen`` is a set of dose blocks (``n`` doses every ``ii`` hours from ``start``,
each one NONMEM record with ADDL = n - 1) plus observation times. Regimens compose:
``a.then(b, gap=...)`` runs ``b`` after ``a``; ``a + b`` runs them side by side.
``to_frame(ids=...)`` gives the canonical event frame of ``popkin.data.events`` for
any number of virtual subjects, so simulation and fitting share one packing path.

Times are in hours, amounts in the regimen's unit (mg by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from popkin.data.events import EventArrays, expand_addl, pack

DAY = 24.0  # h
WEEK = 7 * DAY
CANONICAL = ("ID", "TIME", "EVID", "AMT", "CMT", "RATE", "II", "ADDL", "SS", "DV", "MDV", "BLQ", "LLOQ", "ROW")
_FREQ = {24.0: "QD", 12.0: "BID", 8.0: "TID", 6.0: "QID", WEEK: "QW"}


@dataclass(frozen=True)
class Block:
    """``n`` doses of ``amt`` at ``start``, ``start + ii``, ... (one record, ADDL = n - 1).

    start, ii, duration in h (duration 0: bolus, otherwise RATE = amt/duration);
    cmt: 1-based compartment; ss: the first dose is at steady state (SS = 1).
    """

    start: float
    amt: float
    n: int
    ii: float
    cmt: int = 1
    duration: float = 0.0
    ss: bool = False

    def record(self) -> dict:
        """The NONMEM dose record of this block."""
        repeat = self.n > 1 or self.ss
        return dict(TIME=self.start, EVID=1, AMT=self.amt, CMT=self.cmt,
                    RATE=self.amt / self.duration if self.duration else 0.0,
                    II=self.ii if repeat else 0.0, ADDL=self.n - 1, SS=int(self.ss),
                    DV=np.nan, MDV=1, BLQ=0, LLOQ=np.nan, ROW=-1)


@dataclass(frozen=True)
class Regimen:
    """A dosing schedule with optional observation times (build with qd, bid, every, ...).

    blocks: the dose blocks; label: readable description ("110 mg BID x 28 d");
    end: when the schedule is over (h), i.e. when the next dose would be due, or None
    for a loading dose (what follows starts one of its own intervals later);
    observations: sampling times (h) with their CMT.
    """

    blocks: tuple[Block, ...]
    label: str
    end: float | None
    observations: tuple[tuple[float, int], ...] = ()

    def __repr__(self) -> str:
        return f"Regimen({self.label!r})"

    def __str__(self) -> str:
        return self.label

    @property
    def start(self) -> float:
        """Time of the first dose (h)."""
        return min(b.start for b in self.blocks)

    @property
    def n_doses(self) -> int:
        return sum(b.n for b in self.blocks)

    @property
    def total_amount(self) -> float:
        return float(sum(b.n * b.amt for b in self.blocks))

    def shift(self, hours: float) -> "Regimen":
        """The same regimen (and observations) ``hours`` later; the label is kept."""
        blocks = tuple(replace(b, start=b.start + hours) for b in self.blocks)
        obs = tuple((t + hours, c) for t, c in self.observations)
        return Regimen(blocks, self.label, None if self.end is None else self.end + hours, obs)

    def then(self, other: "Regimen", gap: float = 0.0) -> "Regimen":
        """``other`` after this regimen, ``gap`` hours (a washout) after it ends.

        This regimen ends when its next dose would be due (a single dose from ``once``
        occupies one day; a ``loading`` dose is followed after one interval of ``other``).
        """
        _check(gap >= 0 and math.isfinite(gap), f"gap must be >= 0 h, not {gap!r}")
        end = self.end
        if end is None:
            last = max(b.start + (b.n - 1) * b.ii for b in self.blocks)
            first = min(other.blocks, key=lambda b: b.start)
            end = last + (first.ii if first.ii > 0 else DAY)
        moved = other.shift(end + gap - other.start)
        sep = f", {_span(gap)} washout, then " if gap else ", then "
        return Regimen(self.blocks + moved.blocks, self.label + sep + moved.label, moved.end,
                       self.observations + moved.observations)

    def __add__(self, other: "Regimen") -> "Regimen":
        """Both regimens side by side (e.g. an IV and an oral schedule)."""
        if not isinstance(other, Regimen):
            return NotImplemented
        ends = [e for e in (self.end, other.end) if e is not None]
        return Regimen(self.blocks + other.blocks, f"{self.label} + {other.label}",
                       max(ends) if ends else None, self.observations + other.observations)

    def with_observations(self, times: Iterable[float], cmt: int = 1) -> "Regimen":
        """The regimen with observation (sampling) records at ``times`` (h) in ``cmt``.

        A sample at the time of a dose is taken just before it (a trough), as NONMEM
        does for implied (ADDL) doses.
        """
        times = tuple(float(t) for t in times)
        _check(all(math.isfinite(t) for t in times), "observation times must be finite numbers (h)")
        _check_cmt(cmt)
        return replace(self, observations=self.observations + tuple((t, int(cmt)) for t in times))

    def to_frame(self, ids: int | Sequence = 1, covariates: Mapping[str, object] | None = None) -> pd.DataFrame:
        """The canonical event frame for virtual subjects ``ids`` (a count: 1..n, or IDs).

        Dose blocks become NONMEM dose records (ADDL/II), observations EVID 0 records
        with DV missing (MDV 1, nothing observed yet), ROW -1 (generated). Within a
        subject records are in time order, samples before doses at the same time.
        covariates: name -> one value for all subjects, or one value per subject.
        """
        id_list = list(range(1, ids + 1)) if isinstance(ids, (int, np.integer)) else list(ids)
        _check(len(id_list) > 0, "ids must be a positive count or a non-empty list of IDs")
        _check(len(set(id_list)) == len(id_list), "ids must be distinct")
        records = [(b.start, 1, k, b.record()) for k, b in enumerate(self.blocks)]
        records += [(t, 0, k, dict(TIME=t, EVID=0, AMT=0.0, CMT=c, RATE=0.0, II=0.0, ADDL=0, SS=0,
                                   DV=np.nan, MDV=1, BLQ=0, LLOQ=np.nan, ROW=-1))
                    for k, (t, c) in enumerate(self.observations)]
        records.sort(key=lambda r: (r[0], r[1], r[2]))  # time; samples before doses
        one = pd.DataFrame([r[3] for r in records])
        frame = pd.concat([one.assign(ID=sid) for sid in id_list], ignore_index=True)
        frame = frame[list(CANONICAL)]
        for name, value in (covariates or {}).items():
            values = np.broadcast_to(np.asarray(value, dtype=float), (len(id_list),)) if np.ndim(value) == 0 \
                else np.asarray(value, dtype=float)
            _check(values.shape == (len(id_list),),
                   f"covariate {name!r} needs one value, or one per subject ({len(id_list)})")
            frame[name] = np.repeat(values, len(one))
        return frame

    def pack(self, ids: int | Sequence = 1, covariates: Mapping[str, object] | None = None) -> EventArrays:
        """``popkin.data.events.pack`` of ``to_frame(ids, covariates)``."""
        frame = self.to_frame(ids, covariates)
        return pack(frame, tuple(covariates or ()))

    def doses(self) -> pd.DataFrame:
        """Every dose given (ADDL expanded): TIME, AMT, CMT, RATE, SS, one row per dose."""
        frame = expand_addl(replace(self, observations=()).to_frame(1))
        return frame.loc[frame["EVID"] == 1, ["TIME", "AMT", "CMT", "RATE", "SS"]].reset_index(drop=True)


def every(ii: float, n: int, amt: float, *, cmt: int = 1, duration: float = 0.0, ss: bool = False,
          unit: str = "mg") -> Regimen:
    """``n`` doses of ``amt`` every ``ii`` hours from time 0.

    cmt: compartment (1-based; e.g. 1 depot for oral, the central one for IV);
    duration: infusion duration (h), 0 for a bolus; ss: the first dose is at steady
    state (SS = 1 with II = ii), as if the regimen had been given for ever before.
    """
    _check(isinstance(n, (int, np.integer)) and n >= 1, f"n must be a whole number of doses >= 1, not {n!r}")
    _check(math.isfinite(ii) and (ii > 0 or n == 1), f"ii must be > 0 h when there are several doses, not {ii!r}")
    _check(not ss or ii > 0, "ss=True needs a dosing interval ii > 0")
    _dose_args(amt, cmt, duration)
    block = Block(0.0, float(amt), int(n), float(ii), int(cmt), float(duration), bool(ss))
    return Regimen((block,), _label(block, unit), n * ii if ii > 0 else DAY)


def qd(amt: float, days: int = 1, **options) -> Regimen:
    """Once daily (every 24 h) for ``days`` days; options as for ``every``."""
    return every(DAY, _count(days, 1, "days"), amt, **options)


def bid(amt: float, days: int = 1, **options) -> Regimen:
    """Twice daily (every 12 h) for ``days`` days; options as for ``every``."""
    return every(12.0, _count(days, 2, "days"), amt, **options)


def tid(amt: float, days: int = 1, **options) -> Regimen:
    """Three times daily (every 8 h) for ``days`` days; options as for ``every``."""
    return every(8.0, _count(days, 3, "days"), amt, **options)


def weekly(amt: float, weeks: int = 1, **options) -> Regimen:
    """Once a week (every 168 h) for ``weeks`` weeks; options as for ``every``."""
    return every(WEEK, _count(weeks, 1, "weeks"), amt, **options)


def once(amt: float, *, cmt: int = 1, duration: float = 0.0, unit: str = "mg") -> Regimen:
    """A single dose at time 0; followed by ``then``, it occupies one day."""
    _dose_args(amt, cmt, duration)
    block = Block(0.0, float(amt), 1, 0.0, int(cmt), float(duration))
    return Regimen((block,), f"{amt:g} {unit} single dose{_route(block)}", DAY)


def loading(amt: float, *, cmt: int = 1, duration: float = 0.0, unit: str = "mg") -> Regimen:
    """A loading dose at time 0: ``loading(300).then(qd(100, days=7))`` gives the first
    maintenance dose one maintenance interval (here 24 h) after it."""
    _dose_args(amt, cmt, duration)
    block = Block(0.0, float(amt), 1, 0.0, int(cmt), float(duration))
    return Regimen((block,), f"{amt:g} {unit} loading dose{_route(block)}", None)


def _count(value, per_unit: int, name: str) -> int:
    _check(isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()),
           f"{name} must be a whole number, not {value!r}")
    _check(value >= 1, f"{name} must be >= 1, not {value!r}")
    return int(value) * per_unit


def _dose_args(amt, cmt, duration):
    _check(isinstance(amt, (int, float, np.integer, np.floating)) and math.isfinite(amt) and amt > 0,
           f"amt must be a dose amount > 0, not {amt!r}")
    _check_cmt(cmt)
    _check(math.isfinite(duration) and duration >= 0, f"duration must be >= 0 h (0 for a bolus), not {duration!r}")


def _check_cmt(cmt):
    _check(isinstance(cmt, (int, np.integer)) and cmt >= 1, f"cmt must be a compartment number >= 1, not {cmt!r}")


def _check(ok: bool, message: str):
    if not ok:
        raise ValueError(message)


def _span(hours: float) -> str:
    if hours % WEEK == 0 and hours >= 2 * WEEK:
        return f"{hours / WEEK:g} wk"
    if hours % DAY == 0:
        return f"{hours / DAY:g} d"
    return f"{hours:g} h"


def _route(block: Block) -> str:
    parts = []
    if block.duration:
        parts.append(f"{block.duration:g}-h infusion")
    if block.cmt != 1:
        parts.append(f"CMT {block.cmt}")
    if block.ss:
        parts.append("at steady state")
    return (", " + ", ".join(parts)) if parts else ""


def _label(block: Block, unit: str) -> str:
    if block.n == 1 and not block.ss:
        return f"{block.amt:g} {unit} single dose{_route(block)}"
    freq = _FREQ.get(block.ii, f"q{block.ii:g}h")
    total = block.n * block.ii
    if block.ii == WEEK:
        length = f"{block.n} wk"
    elif total % DAY == 0:
        length = f"{total / DAY:g} d"
    else:
        length = f"{block.n} doses"
    return f"{block.amt:g} {unit} {freq} x {length}{_route(block)}"

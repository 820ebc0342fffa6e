"""From regimens to the packed arrays one compiled simulation reuses for every arm.

An *arm* is a regimen plus the window in which its exposure is read:

``SteadyState()``
    the regimen's maintenance dose (its last dose block: amount, interval, compartment,
    infusion duration) as ONE NONMEM record with SS = 1 at time 0, and the window
    [0, II]. The event engine solves the steady state exactly for linear models (linear
    algebra) and by Newton iteration on the one-interval map for nonlinear ones
    (Michaelis-Menten), so no long run-in is simulated.
``LastInterval()``
    the regimen exactly as given (loading doses, washouts, 28 days of BID dosing) and
    its last dosing interval: [last dose, last dose + II]. For nonlinear models this is
    "steady state by long repeated dosing"; with a finite schedule it is the exposure
    actually reached (e.g. cycle 1 day 28).
``Window(start, length)``
    the regimen as given and any window [start, start + length] (h), e.g. day 1.

The window is sampled on a grid built from the regimen's *breakpoints* (dose times and
infusion ends inside the window): each gap between breakpoints is split into
``Quadrature.segments`` geometric segments (widths w, w, 2w, 4w, ... from the gap's
start, where absorption is fastest), each with ``4 * Quadrature.panels`` equal steps.
AUC is integrated with the composite Boole (5-point Newton-Cotes) rule on every
segment: error O(h^6) for a smooth profile, exact for polynomials of degree 5. At a
breakpoint the grid holds two points: the value just before the dose (closing the
previous gap, and the trough at the window's end) and the value just after it (opening
the next gap; a bolus into the observed compartment jumps there). Kinks the regimen
does not know about (a lag time ALAG, an infusion duration changed by F) fall inside a
segment and reduce the local order to O(h^2).

All arms are packed together, as the "subjects" of one ``pack`` call, so their event
arrays have the same number of records and one compiled function serves every arm;
grids are padded to a common length with zero-weight points.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence, Union

import jax
import numpy as np
import pandas as pd

from popkin.data.events import EventArrays, expand_addl, pack
from popkin.dosing import Regimen, every
from popkin.errors import ModelError

__all__ = ["SteadyState", "LastInterval", "Window", "Exposure", "Quadrature", "Arm", "ArmArrays",
           "arm_design", "pack_arms"]

_PRE, _DOSE, _POST = 0, 1, 2   # order of records at equal times
_PROBE_ROW = 1_000_000         # ROW of probe records (grid records use ROW = grid index)


@dataclass(frozen=True)
class SteadyState:
    """Exposure over one dosing interval at steady state (SS = 1 record of the maintenance dose)."""


@dataclass(frozen=True)
class LastInterval:
    """Exposure over the regimen's last dosing interval, the regimen simulated as given."""


@dataclass(frozen=True)
class Window:
    """Exposure over [start, start + length] (h) of the regimen simulated as given."""

    start: float
    length: float

    def __post_init__(self):
        if not (np.isfinite(self.start) and self.length > 0):
            raise ValueError(f"Window needs a finite start and a length > 0 h, got {self.start}, {self.length}")


Exposure = Union[SteadyState, LastInterval, Window]


@dataclass(frozen=True)
class Quadrature:
    """The grid of one window and the refinement of its extrema.

    segments: geometric segments per gap between breakpoints (the first is 2^-(segments-1)
    of the gap: 1/2048 of it by default, so fast absorption right after a dose is
    resolved); panels: Boole panels (4 steps each) per segment. The default (12, 3)
    gives 145 points per dosing interval; against the exact AUCtau of a one-compartment
    oral model at steady state the rule's relative error is below 1e-7 for QD and BID
    dosing with KA from 0.5 to 200 /h and k from 0.1 to 0.45 /h, and for weekly dosing
    with KA up to 25 /h (1.4e-5 at KA = 200 /h); tests/simulate check 1e-6.
    probes: points per refinement step, for Cmax and for Cmin each (one engine call
    evaluates both); refine: refinement steps. Each step shrinks the bracket by
    (probes + 1) / 2: 6 steps of 8 probes, 4.5^6 ~ 8300-fold, place the extremum's time
    within ~1e-5 of a grid step, so its value is exact to ~1e-10 relative.
    """

    segments: int = 12
    panels: int = 3
    probes: int = 8
    refine: int = 6

    def __post_init__(self):
        if min(self.segments, self.panels, self.probes) < 1 or self.refine < 0:
            raise ValueError("Quadrature: segments, panels, probes must be >= 1 and refine >= 0")


@dataclass(frozen=True)
class Arm:
    """One regimen with its exposure window, ready to pack (numpy/pandas, host side).

    label: the arm's name; regimen: what the patient receives; exposure: how it is read;
    frame: canonical event frame of the simulation (doses + grid records, ROW = grid
    index); probe_frame: doses + ``2 * probes`` probe records; t0, tau: window start and
    length (h); times, weights: grid times (h) and AUC quadrature weights (h); dose:
    the maintenance dose amount (regimen units) and ii its interval (h).
    """

    label: str
    regimen: Regimen
    exposure: Exposure
    frame: pd.DataFrame
    probe_frame: pd.DataFrame
    t0: float
    tau: float
    times: np.ndarray
    weights: np.ndarray
    dose: float
    ii: float


def _maintenance(regimen: Regimen):
    last = max(regimen.blocks, key=lambda b: (b.start + (b.n - 1) * b.ii, b.start))
    return last


def steady_state_regimen(regimen: Regimen) -> Regimen:
    """The regimen's maintenance dose at steady state: one SS = 1 record at time 0."""
    b = _maintenance(regimen)
    parallel = [o for o in regimen.blocks if o is not b and o.ii > 0
                and o.start + (o.n - 1) * o.ii >= b.start + (b.n - 1) * b.ii - b.ii]
    if parallel:
        raise ModelError(f"{regimen.label}: several dose blocks run side by side at the end; SteadyState() "
                         "covers one maintenance dose. Use LastInterval() to simulate the schedule as given.")
    if not b.ii > 0:
        raise ModelError(f"{regimen.label}: the last dose block has no dosing interval (a single dose); "
                         "steady state needs repeated dosing. Use Window(start, length) for single doses.")
    return every(b.ii, 1, b.amt, cmt=b.cmt, duration=b.duration, ss=True)


def _gap_grid(a: float, b: float, q: Quadrature) -> tuple[np.ndarray, np.ndarray]:
    """Points and Boole weights on [a, b] (geometric segments from a)."""
    s = q.segments
    w = (b - a) / 2 ** (s - 1)
    edges = np.concatenate([[0.0], w * 2.0 ** np.arange(s)]) if s > 1 else np.array([0.0, b - a])
    edges = a + edges
    edges[-1] = b
    boole = np.array([7.0, 32.0, 12.0, 32.0, 7.0]) * 2.0 / 45.0
    ts, ws = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = 4 * q.panels
        t = np.linspace(lo, hi, m + 1)
        h = (hi - lo) / m
        wt = np.zeros(m + 1)
        for p in range(q.panels):
            wt[4 * p:4 * p + 5] += boole * h
        if ts:  # shared edge with the previous segment: merge the point
            ws[-1][-1] += wt[0]
            t, wt = t[1:], wt[1:]
        ts.append(t)
        ws.append(wt)
    return np.concatenate(ts), np.concatenate(ws)


def _window_grid(doses: pd.DataFrame, t0: float, tau: float, q: Quadrature):
    """Grid (times, weights, order flag) over [t0, t0 + tau] split at breakpoints."""
    t1 = t0 + tau
    inside = doses[(doses["TIME"] >= t0) & (doses["TIME"] < t1)]
    bps = set(inside["TIME"].tolist())
    infusions = inside[inside["RATE"] > 0]
    bps |= {t for t in (infusions["TIME"] + infusions["AMT"] / infusions["RATE"]).tolist() if t0 < t < t1}
    # an infusion started before the window and still running at t0 ends inside it
    before = doses[(doses["TIME"] < t0) & (doses["RATE"] > 0)]
    bps |= {t for t in (before["TIME"] + before["AMT"] / before["RATE"]).tolist() if t0 < t < t1}
    bps = sorted(bps | {t0, t1})
    times, weights, flags = [], [], []
    for a, b in zip(bps[:-1], bps[1:]):
        t, w = _gap_grid(a, b, q)
        flag = np.full(t.shape, _POST)
        flag[-1] = _PRE  # the end of a gap is read before a dose there
        times.append(t)
        weights.append(w)
        flags.append(flag)
    return np.concatenate(times), np.concatenate(weights), np.concatenate(flags)


def _records(times, flags, rows) -> pd.DataFrame:
    return pd.DataFrame(dict(TIME=times, EVID=0, AMT=0.0, CMT=1, RATE=0.0, II=0.0, ADDL=0, SS=0, DV=np.nan,
                             MDV=0, BLQ=0, LLOQ=np.nan, ROW=rows, _ORDER=flags))


def arm_design(label: str, regimen: Regimen, exposure: Exposure, quadrature: Quadrature,
               observe_cmt: int = 1) -> Arm:
    """Build one arm (see the module docstring). ``observe_cmt``: the CMT written on the
    grid records (PK models predict the concentration whatever the CMT)."""
    if isinstance(exposure, SteadyState):
        sim = steady_state_regimen(regimen)
        b = _maintenance(regimen)
        t0, tau, dose, ii = 0.0, b.ii, b.amt, b.ii
    else:
        sim = regimen
        b = _maintenance(regimen)
        dose, ii = b.amt, b.ii
        if isinstance(exposure, LastInterval):
            if not b.ii > 0:
                raise ModelError(f"{regimen.label}: the last dose has no interval; use Window(start, length)")
            t0, tau = b.start + (b.n - 1) * b.ii, b.ii
        elif isinstance(exposure, Window):
            t0, tau = float(exposure.start), float(exposure.length)
        else:
            raise TypeError(f"exposure must be SteadyState(), LastInterval() or Window(...), not {exposure!r}")
    doses = expand_addl(replace(sim, observations=()).to_frame(1))
    doses = doses[doses["TIME"] <= t0 + tau].assign(_ORDER=_DOSE)
    all_doses = doses
    times, weights, flags = _window_grid(all_doses, t0, tau, quadrature)
    grid = _records(times, flags, np.arange(len(times)))
    grid["CMT"] = observe_cmt
    frame = _sorted(pd.concat([doses, grid], ignore_index=True))
    probes = _records(np.full(2 * quadrature.probes, t0), _POST, _PROBE_ROW + np.arange(2 * quadrature.probes))
    probes["CMT"] = observe_cmt
    probe_frame = _sorted(pd.concat([doses, probes], ignore_index=True))
    return Arm(label, regimen, exposure, frame, probe_frame, t0, tau, times, weights, float(dose), float(ii))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(["TIME", "_ORDER"], kind="stable").drop(columns="_ORDER")
    return frame.assign(ID=1, ADDL=0).reset_index(drop=True)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ArmArrays:
    """Packed arms (leading axis: arm), the traced inputs of the compiled simulation.

    events / probe_events: event arrays of the grid and probe simulations [A, E];
    grid_pos: record index of each grid point [A, T]; state_pos: for each grid point,
    the last grid point at the same time (after any dose there) [A, T]; times, weights:
    grid times and AUC weights [A, T] (padding: last time, weight 0); probe_pos: record
    index of each probe [A, 2P]; t0, tau: window start and length [A].
    """

    events: EventArrays
    probe_events: EventArrays
    grid_pos: jax.Array
    state_pos: jax.Array
    times: jax.Array
    weights: jax.Array
    probe_pos: jax.Array
    t0: jax.Array
    tau: jax.Array

    def arm(self, a: int) -> "ArmArrays":
        """The arrays of arm ``a`` (no arm axis)."""
        return jax.tree_util.tree_map(lambda x: x[a], self)


def _positions(events: EventArrays, rows: Sequence[int], width: int) -> np.ndarray:
    row = np.asarray(events.row)
    out = np.zeros((row.shape[0], width), dtype=np.int32)
    for a in range(row.shape[0]):
        where = {int(r): j for j, r in enumerate(row[a]) if r >= 0}
        pos = [where[r] for r in rows[a]]
        out[a, :len(pos)] = pos
        out[a, len(pos):] = pos[-1]
    return out


def pack_arms(arms: Sequence[Arm]) -> ArmArrays:
    """Pack arms as the subjects of one ``pack`` call each (grid and probes)."""
    ids = list(range(1, len(arms) + 1))
    grid = pack(pd.concat([a.frame.assign(ID=i) for i, a in zip(ids, arms)], ignore_index=True))
    probe = pack(pd.concat([a.probe_frame.assign(ID=i) for i, a in zip(ids, arms)], ignore_index=True))
    t = max(len(a.times) for a in arms)
    p = int(max((a.probe_frame["ROW"] >= _PROBE_ROW).sum() for a in arms))
    grid_pos = _positions(grid, [list(range(len(a.times))) for a in arms], t)
    probe_pos = _positions(probe, [list(range(_PROBE_ROW, _PROBE_ROW + p)) for _ in arms], p)
    times = np.stack([np.pad(a.times, (0, t - len(a.times)), mode="edge") for a in arms])
    weights = np.stack([np.pad(a.weights, (0, t - len(a.weights))) for a in arms])
    state_pos = np.stack([_last_same_time(row) for row in times])
    return ArmArrays(_strip(grid), _strip(probe), np.asarray(grid_pos), state_pos, times, weights,
                     np.asarray(probe_pos),
                     np.asarray([a.t0 for a in arms]), np.asarray([a.tau for a in arms]))


def _last_same_time(times: np.ndarray) -> np.ndarray:
    """Index of the last point with the same time as each point (times sorted)."""
    return (np.searchsorted(times, times, side="right") - 1).astype(np.int32)


def _strip(events: EventArrays) -> EventArrays:
    """IDs are metadata that would make every arm a different pytree: drop them."""
    return replace(events, ids=())


def as_arms(regimens: Mapping[str, Regimen] | Sequence[Regimen] | Regimen, exposure: Exposure,
            quadrature: Quadrature) -> list[Arm]:
    """Arms from a regimen, a list (labels from the regimens) or a mapping label -> regimen."""
    if isinstance(regimens, Regimen):
        regimens = [regimens]
    items = list(regimens.items()) if isinstance(regimens, Mapping) else [(r.label, r) for r in regimens]
    labels = [k for k, _ in items]
    if len(set(labels)) != len(labels):
        raise ValueError(f"arm labels must be distinct, got {labels}; pass a mapping label -> regimen")
    return [arm_design(str(k), r, exposure, quadrature) for k, r in items]

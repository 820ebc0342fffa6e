"""One concentration-time profile made ready for NCA: BLQ rules applied, missing
samples dropped, the concentration at dose time imputed where absent."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from popkin.nca.options import NCAOptions


class NotComputable(Exception):
    """Internal: a parameter cannot be computed; the message is the reason.
    Caught by the engine and turned into NaN + reason, never raised to users."""


@dataclass
class Profile:
    """Samples of one subject after one dose (times relative to that dose).

    t, c: sorted times and concentrations used for AUC (may include an imputed
    point at t = 0); observed: False for the imputed point; dose: amount;
    ss: True for a dosing-interval profile at steady state; notes: what was done.
    """

    t: np.ndarray
    c: np.ndarray
    observed: np.ndarray
    dose: float
    ss: bool
    options: NCAOptions
    notes: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict)

    @property
    def tau(self) -> float | None:
        return self.options.tau

    @property
    def t_obs(self) -> np.ndarray:
        return self.t[self.observed]

    @property
    def c_obs(self) -> np.ndarray:
        return self.c[self.observed]


def prepare(
    time: np.ndarray, conc: np.ndarray, blq: np.ndarray, dose: float, ss: bool, options: NCAOptions
) -> Profile:
    """Apply the BLQ rule and C0 imputation to raw samples of one profile.

    time (h after dose, sorted, unique), conc (NaN = missing sample), blq (bool).
    A concentration of 0 counts as BLQ (as in PKNCA).
    """
    time = np.asarray(time, float)
    conc = np.asarray(conc, float)
    blq = np.asarray(blq, bool) | (conc == 0)
    notes = []
    missing = np.isnan(conc) & ~blq
    if missing.any():
        notes.append(f"{int(missing.sum())} missing concentration(s) ignored")
    keep = ~missing
    time, conc, blq = time[keep], conc[keep], blq[keep]

    measurable = np.flatnonzero(~blq)
    position = np.full(len(time), "first", dtype=object)
    if measurable.size:
        first, last = measurable[0], measurable[-1]
        position[first:last + 1] = "middle"
        position[last + 1:] = "last"
    rule = options.blq
    action = np.array([getattr(rule, p) for p in position], dtype=object)
    drop = blq & (action == "drop")
    if drop.any():
        notes.append(f"{int(drop.sum())} BLQ sample(s) dropped")
    zeroed = blq & (action == "zero")
    time, conc = time[~drop], np.where(zeroed, 0.0, conc)[~drop]
    observed = np.ones(len(time), bool)

    if options.impute_c0 and (len(time) == 0 or time[0] > 0):
        if ss:
            window = conc if options.tau is None else conc[time <= options.tau]
            c0 = float(np.min(window)) if len(window) else np.nan
            how = "minimum concentration of the dosing interval (steady state)"
        else:
            c0, how = 0.0, "0 (single dose)"
        if not np.isnan(c0):
            time = np.concatenate([[0.0], time])
            conc = np.concatenate([[c0], conc])
            observed = np.concatenate([[False], observed])
            notes.append(f"no sample at dose time: C0 imputed as {how}")
    return Profile(time, conc, observed, float(dose), bool(ss), options, notes)

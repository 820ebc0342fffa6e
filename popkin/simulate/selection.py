"""The dose-selection table: exposure, target attainment and toxicity risk per candidate
regimen side by side, and the regimen a stated rule picks.

Columns of ``selection_table`` (one row per arm, in the simulation's order):

* ``arm``, ``dose`` (maintenance dose, regimen units), ``interval_h``, ``daily_dose``;
* per exposure metric m and percentile q: ``m p<q>`` (median across population draws of
  the q-th percentile between patients) and, with parameter uncertainty,
  ``m p<q> lower`` / ``upper``;
* per target: ``P(<target>)`` with ``P(<target>) lower`` / ``upper``;
* per toxicity endpoint e: ``P(e)`` with ``P(e) lower`` / ``upper`` (posterior interval);
* ``eligible`` (meets every constraint of the rule), ``selected`` (the rule's choice).

A ``SelectionRule`` names columns of that table: maximise ``objective`` among the arms
that meet every ``Limit``; ties (within ``tie_tolerance``) go to the lowest daily dose.
The default rule of the LXI-15029 scenario is "highest P(target) with an upper 90%
bound of P(ALT increase) below 0.25": ``SelectionRule("P(ctrough>=...)",
(Limit("P(alt_increased) upper", upper=0.25),))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from popkin.simulate.run import Simulation
from popkin.simulate.summary import Target, attainment, summarise
from popkin.simulate.toxicity import ToxicityFit, risk

__all__ = ["Limit", "SelectionRule", "selection_table", "apply_rule"]


@dataclass(frozen=True)
class Limit:
    """A constraint on a column of the selection table: ``lower <= value <= upper``
    (either may be None); a strict ``<`` is the same up to ties, which do not occur with
    continuous probabilities."""

    column: str
    upper: float | None = None
    lower: float | None = None

    def ok(self, values: pd.Series) -> pd.Series:
        good = pd.Series(True, index=values.index)
        if self.upper is not None:
            good &= values <= self.upper
        if self.lower is not None:
            good &= values >= self.lower
        return good & values.notna()

    def __str__(self) -> str:
        parts = []
        if self.lower is not None:
            parts.append(f"{self.column} >= {self.lower:g}")
        if self.upper is not None:
            parts.append(f"{self.column} <= {self.upper:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class SelectionRule:
    """Pick the arm with the highest (or lowest) ``objective`` among those meeting every
    constraint; ties within ``tie_tolerance`` go to the lowest daily dose."""

    objective: str
    constraints: tuple[Limit, ...] = ()
    maximize: bool = True
    tie_tolerance: float = 0.0

    def __str__(self) -> str:
        goal = "highest" if self.maximize else "lowest"
        cons = " and ".join(str(c) for c in self.constraints) or "no constraint"
        return f"{goal} {self.objective} subject to {cons}"


def apply_rule(table: pd.DataFrame, rule: SelectionRule) -> pd.DataFrame:
    """The table with ``eligible`` and ``selected`` columns set by ``rule``."""
    missing = [c for c in [rule.objective] + [lim.column for lim in rule.constraints] if c not in table.columns]
    if missing:
        raise KeyError(f"the rule names column(s) {missing} that the table lacks; columns: {list(table.columns)}")
    out = table.copy()
    eligible = pd.Series(True, index=out.index)
    for lim in rule.constraints:
        eligible &= lim.ok(out[lim.column])
    out["eligible"] = eligible
    out["selected"] = False
    pool = out[eligible & out[rule.objective].notna()]
    if len(pool):
        score = pool[rule.objective] if rule.maximize else -pool[rule.objective]
        best = score.max()
        tied = pool[score >= best - rule.tie_tolerance]
        out.loc[tied["daily_dose"].idxmin(), "selected"] = True
    return out


def selection_table(sim: Simulation, targets: Sequence[Target] = (),
                    toxicity: Mapping[str, ToxicityFit] | Sequence[ToxicityFit] = (),
                    metrics: Sequence[str] = ("auc", "cmax", "ctrough"), percentiles: Sequence[float] = (5, 50, 95),
                    rule: SelectionRule | None = None, interval: float = 0.9) -> pd.DataFrame:
    """The dose-selection table (module docstring), with the rule applied if given."""
    rows = {a.label: dict(arm=a.label, dose=a.dose, interval_h=a.ii,
                          daily_dose=a.dose * 24.0 / a.ii if a.ii > 0 else a.dose) for a in sim.arms}
    ex = summarise(sim, metrics, percentiles, interval)
    for r in ex.itertuples():
        col = f"{r.metric} p{r.percentile:g}"
        rows[r.arm][col] = r.value
        if np.isfinite(r.lower):
            rows[r.arm][f"{col} lower"], rows[r.arm][f"{col} upper"] = r.lower, r.upper
    if targets:
        for r in attainment(sim, targets, interval).itertuples():
            col = f"P({r.target})"
            rows[r.arm][col] = r.probability
            rows[r.arm][f"{col} lower"], rows[r.arm][f"{col} upper"] = r.lower, r.upper
    if toxicity:
        for r in risk(toxicity, sim, interval).itertuples():
            col = f"P({r.endpoint})"
            rows[r.arm][col] = r.probability
            rows[r.arm][f"{col} lower"], rows[r.arm][f"{col} upper"] = r.lower, r.upper
    table = pd.DataFrame(list(rows.values()))
    if rule is not None:
        table = apply_rule(table, rule)
    return table


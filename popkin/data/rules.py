"""Validation rules on the parsed event frame.

Every rule looks at the whole frame and returns all its violations, so one pass
lists every problem. A rule skips cells that another rule already reported (a cell
that is not a number, an EVID that is not a NONMEM code), so each problem is
reported once, at the row and column where it is fixed.

The frame here is numeric (floats, NaN where missing or unreadable), in file order,
with ``_SRC`` the file row to report (generated dose records report the row they
were built from) and ``ROW`` = -1 on generated records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from popkin.errors import Violation

DOSE_EVIDS = (1, 4)
LARGE_GAP_H = 672.0  # 4 weeks: a longer silence within a subject is worth a look


@dataclass(frozen=True)
class Context:
    """What the rules need besides the frame.

    user: canonical column -> the user's column name (for messages); given: roles
    present in the file (as opposed to defaulted); bad: canonical column -> cells
    already reported as not numbers; n_cmt / cmt_names: the model's compartments
    (``compartments=``), or None; log_dv: the error model is on the log scale.
    """

    user: dict[str, str]
    given: frozenset[str]
    bad: dict[str, np.ndarray]
    n_cmt: int | None
    cmt_names: tuple[str, ...] | None
    log_dv: bool
    covariates: tuple[str, ...] = ()


def _fmt(x) -> str:
    return f"{x:g}" if isinstance(x, (float, np.floating)) else str(x)


class _Collector:
    def __init__(self, frame: pd.DataFrame, ctx: Context):
        self.src = frame["_SRC"].to_numpy()
        self.ctx = ctx
        self.out: list[Violation] = []

    def add(self, mask, column: str | None, message, severity: str = "error"):
        """One violation per True in ``mask``; ``message(i)`` builds the text."""
        name = self.ctx.user.get(column, column) if column else None
        for i in np.flatnonzero(mask):
            self.out.append(Violation(int(self.src[i]), name, message(i), severity))


def check(frame: pd.DataFrame, ctx: Context) -> list[Violation]:
    """All violations (errors and warnings) of the parsed frame."""
    c = _Collector(frame, ctx)
    f = {col: frame[col].to_numpy() for col in frame.columns}
    ok = {col: ~ctx.bad.get(col, np.zeros(len(frame), bool)) for col in frame.columns}
    ev = f["EVID"].astype(float)
    ev_ok = ok["EVID"] & np.isin(ev, (0, 1, 2, 3, 4))
    dose = ev_ok & np.isin(ev, DOSE_EVIDS)
    nondose = ev_ok & ~dose
    obs = ev_ok & (ev == 0)
    amt, rate, ss = (f[k].astype(float) for k in ("AMT", "RATE", "SS"))
    ss_ok = ok["SS"] & np.isin(ss, (0, 1, 2))
    const_inf = dose & (amt == 0) & (rate > 0) & ss_ok & (ss > 0)

    _codes(c, f, ok, ctx)
    _amounts(c, f, ok, dose, nondose, const_inf, ctx)
    _intervals(c, f, ok, dose, nondose, ss_ok, const_inf)
    _compartments(c, f, ok, ctx)
    _observations(c, f, ok, obs, ctx)
    _order(c, frame, f, ok, ev_ok)
    _subjects(c, frame, f, ok, obs, dose, ctx)
    _covariates(c, frame, ctx)
    return c.out


def _codes(c, f, ok, ctx):
    """EVID, MDV, SS, BLQ must be NONMEM codes."""
    hint = {
        "EVID": lambda v: (
            "it looks like rxode2's classic coding (a dose into CMT "
            f"{int(v) // 100 % 100}): read with translate=('rxode2-evid',) "
            "(popkin check --translate rxode2-evid)" if v >= 100 else
            "rxode2's replace/multiply/phantom events have no NONMEM equivalent" if v in (5, 6, 7) else
            "use one of these codes"),
        "SS": lambda v: (
            "in the ACOP 2016 sets 99 means 'not given': read with translate=('acop-ss99',) "
            "(popkin check --translate acop-ss99)" if v == 99 else "use one of these codes"),
        "MDV": lambda v: "use 1 for a record whose DV is not fitted, 0 otherwise",
        "BLQ": lambda v: (
            "right-censored observations (above a limit) are not supported; drop them or "
            "set MDV 1" if v == -1 else "use 1 for an observation below the LLOQ, 0 otherwise"),
    }
    meaning = {
        "EVID": "0 observation, 1 dose, 2 other, 3 reset, 4 reset and dose",
        "SS": "0 none, 1 steady state, 2 steady state added to the current state",
        "MDV": "0 or 1", "BLQ": "0 or 1",
    }
    allowed = {"EVID": (0, 1, 2, 3, 4), "MDV": (0, 1), "SS": (0, 1, 2), "BLQ": (0, 1)}
    for col, codes in allowed.items():
        v = f[col].astype(float)
        wrong = ok[col] & np.isfinite(v) & ~np.isin(v, codes)
        label = ctx.user.get(col, col)
        c.add(wrong, col, lambda i, v=v, col=col, label=label: (
            f"{label} {_fmt(v[i])} is not a NONMEM code ({meaning[col]}); {hint[col](v[i])}"))


def _amounts(c, f, ok, dose, nondose, const_inf, ctx):
    """AMT and RATE against the record type."""
    amt, rate, ii, mdv, dv = (f[k].astype(float) for k in ("AMT", "RATE", "II", "MDV", "DV"))
    ev = f["EVID"].astype(float)
    a_ok, r_ok = ok["AMT"], ok["RATE"]
    c.add(a_ok & (amt < 0), "AMT", lambda i: f"AMT {_fmt(amt[i])} is negative; a dose amount is positive")
    # a dose without an amount; RATE without AMT is legal only as a steady-state constant infusion
    zero = dose & a_ok & r_ok & (amt == 0) & ~const_inf
    c.add(zero & (rate != 0), "RATE", lambda i: (
        f"RATE {_fmt(rate[i])} on a dose with AMT 0: an infusion needs its AMT; only a "
        "steady-state constant infusion is coded AMT 0, RATE > 0, SS 1, II 0"))
    c.add(zero & (rate == 0), "AMT", lambda i: (
        f"a dose record (EVID {int(ev[i])}) with AMT 0; give the amount, or make it an "
        "observation (EVID 0) or other record (EVID 2)"))
    c.add(const_inf & ok["II"] & (ii > 0), "II", lambda i: (
        f"a steady-state constant infusion (AMT 0, RATE {_fmt(rate[i])}) takes II 0, not "
        f"{_fmt(ii[i])}; set II to 0, or give the AMT of each infused dose"))
    kind = {0: "an observation record (EVID 0)", 2: "an other-type record (EVID 2)", 3: "a reset record (EVID 3)"}
    c.add(nondose & a_ok & (amt > 0), "AMT", lambda i: (
        f"{kind[int(ev[i])]} carries AMT {_fmt(amt[i])}; a dose needs its own record with "
        "EVID 1 (MDV 1), otherwise set AMT to 0 or '.'"))
    c.add(ok["RATE"] & (rate < 0) & ~np.isin(rate, (-1, -2)), "RATE", lambda i: (
        f"RATE {_fmt(rate[i])} is not valid: RATE is 0 (bolus), > 0 (infusion), -1 (rate "
        "modelled) or -2 (duration modelled)"))
    c.add(nondose & r_ok & (rate != 0) & ~(ok["RATE"] & (rate < 0) & ~np.isin(rate, (-1, -2))), "RATE",
          lambda i: f"{kind[int(ev[i])]} carries RATE {_fmt(rate[i])}; set RATE to 0 (RATE applies to doses)")
    if "MDV" in ctx.given:
        c.add(dose & ok["MDV"] & (mdv == 0), "MDV", lambda i: (
            f"a dose record has MDV 0; NONMEM requires MDV 1 on doses: set MDV 1 and put any "
            "measurement on its own EVID 0 record" if "EVID" in ctx.given else
            f"AMT {_fmt(amt[i])} makes this a dose but MDV 0 makes it an observation; a "
            "record cannot be both: split it into a dose (MDV 1) and an observation record"))
    elif "DV" in ctx.given:
        c.add(dose & ok["DV"] & np.isfinite(dv) & (dv != 0), "DV", lambda i: (
            f"a dose record (AMT {_fmt(amt[i])}) carries DV {_fmt(dv[i])}, which is ignored; "
            "if it is a measurement, put it on its own record"), "warning")


def _intervals(c, f, ok, dose, nondose, ss_ok, const_inf):
    """II, ADDL, SS against each other."""
    ii, addl, ss = (f[k].astype(float) for k in ("II", "ADDL", "SS"))
    ev = f["EVID"].astype(float)
    c.add(ok["II"] & (ii < 0), "II", lambda i: f"II {_fmt(ii[i])} is negative; II is the dosing interval (h)")
    bad_addl = ok["ADDL"] & ((addl < 0) | (addl != np.round(addl)))
    c.add(bad_addl, "ADDL", lambda i: f"ADDL {_fmt(addl[i])} is not a whole number >= 0 (the count of additional doses)")
    good_addl = ok["ADDL"] & ~bad_addl
    c.add(dose & good_addl & (addl > 0) & ok["II"] & (ii <= 0), "II", lambda i: (
        f"ADDL {_fmt(addl[i])} needs II > 0, the interval between the additional doses (h); give II"))
    c.add(dose & ss_ok & (ss > 0) & ok["II"] & (ii <= 0) & ~const_inf, "II", lambda i: (
        f"SS {int(ss[i])} needs II > 0, the dosing interval at steady state (h); only a "
        "constant infusion (AMT 0, RATE > 0) takes II 0"))
    what = {0: "an observation (EVID 0)", 2: "an other-type record (EVID 2)", 3: "a reset record (EVID 3)"}
    c.add(nondose & good_addl & (addl > 0), "ADDL", lambda i: (
        f"ADDL {_fmt(addl[i])} on {what[int(ev[i])]}; ADDL repeats a dose: set it to 0 or make the record a dose"))
    c.add(nondose & ss_ok & (ss > 0), "SS", lambda i: (
        f"SS {int(ss[i])} on {what[int(ev[i])]}; SS applies to doses: set it to 0"))
    c.add(nondose & ok["II"] & (ii > 0), "II", lambda i: (
        f"II {_fmt(ii[i])} on {what[int(ev[i])]} is ignored (II applies to doses)"), "warning")


def _compartments(c, f, ok, ctx):
    """CMT: whole, non-negative, within the model's compartments when given."""
    cmt = f["CMT"].astype(float)
    bad = ok["CMT"] & np.isfinite(cmt) & ((cmt < 0) | (cmt != np.round(cmt)))
    c.add(bad & (cmt < 0), "CMT", lambda i: (
        f"CMT {_fmt(cmt[i])}: negative compartments (switching a compartment off) are not "
        "supported; use a compartment number 1, 2, ..."))
    c.add(bad & (cmt >= 0), "CMT", lambda i: f"CMT {_fmt(cmt[i])} is not a whole number; compartments are numbered 1, 2, ...")
    if ctx.n_cmt is not None:
        names = (" (" + ", ".join(f"{k} {n}" for k, n in enumerate(ctx.cmt_names, 1)) + ")") if ctx.cmt_names else ""
        c.add(ok["CMT"] & ~bad & (cmt > ctx.n_cmt), "CMT", lambda i: (
            f"CMT {int(cmt[i])} but the model has {ctx.n_cmt} compartment(s){names}; use 1-{ctx.n_cmt}"))


def _observations(c, f, ok, obs, ctx):
    """Missing DV, BLQ without LLOQ, DV below LLOQ, DV <= 0 on the log scale."""
    dv, mdv, blq, lloq = (f[k].astype(float) for k in ("DV", "MDV", "BLQ", "LLOQ"))
    is_blq = ok["BLQ"] & (blq == 1)
    if "DV" in ctx.given:
        # bad DV cells are reported as not numbers; here: genuinely empty ones
        empty = obs & ok["DV"] & np.isnan(dv) & ~is_blq
        if "MDV" in ctx.given:
            c.add(empty & ok["MDV"] & (mdv == 0), "DV", lambda i: (
                "an observation with MDV 0 has no DV; NONMEM would read '.' as DV 0, popkin "
                "does not fit it (MDV taken as 1): give the value, or set MDV 1"), "warning")
        else:
            c.add(empty, "DV", lambda i: "an observation record has no DV; it is not fitted (MDV taken as 1)", "warning")
    c.add(obs & is_blq & ok["LLOQ"] & np.isnan(lloq), "BLQ", lambda i: (
        "a BLQ observation without an LLOQ; give the limit of quantification in an LLOQ "
        "column (or code it as Monolix/nlmixr2 do: CENS 1 with the limit in DV)"), "warning")
    c.add(ok["LLOQ"] & (lloq < 0), "LLOQ", lambda i: f"LLOQ {_fmt(lloq[i])} is negative; an LLOQ is >= 0")
    fitted = obs & ~is_blq & ok["MDV"] & (mdv == 0) & np.isfinite(dv)
    c.add(fitted & ok["LLOQ"] & np.isfinite(lloq) & (dv < lloq), "DV", lambda i: (
        f"DV {_fmt(dv[i])} is below the LLOQ {_fmt(lloq[i])} but the record is not flagged "
        "BLQ; set BLQ 1 if it is censored"), "warning")
    if ctx.log_dv:
        c.add(fitted & (dv <= 0), "DV", lambda i: (
            f"DV {_fmt(dv[i])} cannot be fitted with a log-scale error model (log_dv); set "
            "MDV 1 to leave it out, or code it BLQ 1 with its LLOQ"))


def _order(c, frame, f, ok, ev_ok):
    """TIME missing, TIME going backwards within a subject, large gaps."""
    time = f["TIME"].astype(float)
    c.add(ok["TIME"] & np.isnan(time), "TIME", lambda i: "TIME is missing; every record needs a time (h)")
    usable = (frame["ROW"].to_numpy() >= 0) & ok["TIME"] & np.isfinite(time) & ok["ID"] & ~frame["ID"].isna().to_numpy()
    sub = frame.loc[usable, ["ID", "TIME", "_SRC"]]
    # within each run of one subject's records (a split subject is reported by ID)
    run = (sub["ID"] != sub["ID"].shift(1)).cumsum()
    prev_t = sub.groupby(run, sort=False)["TIME"].shift(1).reindex(frame.index).to_numpy(float)
    prev_row = sub.groupby(run, sort=False)["_SRC"].shift(1).reindex(frame.index).to_numpy(float)
    ev = f["EVID"].astype(float)
    reset = ev_ok & np.isin(ev, (3, 4))
    back = usable & (time < prev_t)
    ids = frame["ID"].to_numpy()
    c.add(back & ~reset, "TIME", lambda i: (
        f"TIME {_fmt(time[i])} is earlier than the previous record of subject {ids[i]} "
        f"(TIME {_fmt(prev_t[i])}, row {int(prev_row[i])}); sort the records by TIME within "
        "each ID, or start a new period with EVID 4 (reset and dose) or EVID 3 (reset)"
        + (" (translate 'occasion-reset' recodes such doses as EVID 4)" if ev[i] == 1 else "")))
    gap = time - prev_t
    c.add(usable & (gap > LARGE_GAP_H), "TIME", lambda i: (
        f"TIME jumps by {_fmt(gap[i])} h since the previous record (row {int(prev_row[i])}); "
        "check the time unit (popkin expects hours) and for a typing error"), "warning")


def _subjects(c, frame, f, ok, obs, dose, ctx):
    """ID missing or split, subjects without doses/observations, dose-time samples."""
    ids = frame["ID"]
    c.add(ids.isna().to_numpy() & ok["ID"], "ID", lambda i: "ID is missing; every record needs its subject's ID")
    has = ~ids.isna().to_numpy() & ok["ID"]
    data = frame["ROW"].to_numpy() >= 0
    _split_subjects(c, frame, has & data)
    if has.any():
        _empty_subjects(c, frame, f, has, obs, dose, ctx)
        _samples_at_dose_time(c, frame, f, has, obs, dose & data)


def _split_subjects(c, frame, sel):
    """A subject whose records are interrupted by another subject's."""
    ids = frame["ID"]
    seq = ids[sel]
    run_start = np.flatnonzero((seq != seq.shift(1)).to_numpy())
    positions = np.flatnonzero(sel)
    src = frame["_SRC"].to_numpy()
    first_row, again = {}, np.zeros(len(frame), bool)
    for k in run_start:
        sid = seq.iloc[k]
        if sid in first_row:
            again[positions[k]] = True
        else:
            first_row[sid] = int(src[positions[k]])
    c.add(again, "ID", lambda i: (
        f"subject {ids.iloc[i]} appears again after other subjects (its records start at "
        f"row {first_row[ids.iloc[i]]}); NONMEM would read this as a new individual with the "
        "same ID: keep each subject's records together (sort by ID, then TIME), or give the "
        "new individual another ID"))


def _empty_subjects(c, frame, f, has, obs, dose, ctx):
    """Subjects without observations or without doses (warnings at their first row)."""
    ids = frame["ID"]
    key = ids[has].to_numpy()
    first = np.zeros(len(frame), bool)
    first[frame.index.get_indexer(frame.loc[has].groupby("ID", sort=False).head(1).index)] = True

    def per_subject(values):
        return ids.map(pd.Series(values[has]).groupby(key, sort=False).any()).fillna(False).to_numpy(bool)

    if "DV" in ctx.given:
        c.add(first & ~per_subject(obs), "ID", lambda i: (
            f"subject {ids.iloc[i]} has no observations (EVID 0 records); it adds nothing to "
            "a fit (fine for simulation)"), "warning")
    # a subject with an EVID that is not a code may well have doses: say nothing then
    unknown = per_subject(~np.isin(f["EVID"].astype(float), (0, 1, 2, 3, 4)))
    c.add(first & ~per_subject(dose) & ~unknown, "ID", lambda i: (
        f"subject {ids.iloc[i]} has no dose records (EVID 1 or 4); its predictions stay at "
        "the model's baseline"), "warning")


def _samples_at_dose_time(c, frame, f, has, obs, file_dose):
    """Observations listed after one of the file's doses with the same TIME."""
    time = f["TIME"].astype(float)
    key = pd.DataFrame({"ID": frame["ID"], "T": time, "d": file_dose.astype(int)})[has]
    groups = [key["ID"], key["T"]]
    seen = (key.groupby(groups, sort=False)["d"].cumsum() - key["d"]).to_numpy()
    dose_row = pd.Series(np.where(file_dose, frame["_SRC"], np.nan))[has].groupby(groups, sort=False).transform("first")
    after, fd = np.zeros(len(frame), bool), np.full(len(frame), np.nan)
    after[has], fd[has] = seen > 0, dose_row.to_numpy()
    c.add(obs & after, "TIME", lambda i: (
        f"an observation at TIME {_fmt(time[i])}, listed after the dose at the same time "
        f"(row {int(fd[i])}): it is predicted just after that dose; if it is a pre-dose "
        "sample, put it before the dose record"), "warning")


def _covariates(c, frame, ctx):
    """A covariate missing on every record of a subject stays NaN after packing."""
    if not ctx.covariates or frame["ID"].isna().all():
        return
    grouped = frame.groupby("ID", sort=False)
    firsts = grouped.head(1).index
    for cov in ctx.covariates:
        bad = ctx.bad.get(cov)
        values = frame[cov] if bad is None else frame[cov].where(~bad, 0.0)
        all_missing = values.isna().groupby(frame["ID"], sort=False).all()
        mask = np.zeros(len(frame), bool)
        mask[frame.index.get_indexer(firsts)] = frame.loc[firsts, "ID"].map(all_missing).to_numpy(bool)
        c.add(mask, cov, lambda i, cov=cov: (
            f"{ctx.user.get(cov, cov)} is missing on every record of subject {frame['ID'].iloc[i]}; "
            "a model using it gets NaN: fill it in"), "warning")

"""From a NONMEM-style dataset (ID, TIME, AMT, DV, EVID, MDV, ...) to the
concentration frame that ``nca()`` reads: one row per observation with the time
after its dose and that dose's amount.

Self-contained on purpose (plain pandas, upper-case NONMEM column names), so that
NCA does not depend on the full dataset reader of ``popkin.data``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from popkin.errors import DatasetError, Violation

NUMERIC = ("TIME", "AMT", "DV", "EVID", "MDV", "BLQ", "SS", "II", "ADDL")
NOT_CARRIED = {"TIME", "DV", "AMT", "EVID", "MDV", "II", "ADDL", "SS", "RATE"}


def read_nonmem_csv(path: str | Path) -> pd.DataFrame:
    """Read a NONMEM-style CSV: '.' or an empty field is missing, column names
    are case-insensitive (returned upper-case), columns whose values are all
    numbers become numeric. Adds ROW, the data row number in the file (1 = the
    first row after the header), for error messages."""
    path = Path(path)
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[".", ""], skip_blank_lines=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as why:
        first_line = str(why).splitlines()[0] if str(why) else type(why).__name__
        raise DatasetError([Violation(None, None, f"{path.name} is not a readable CSV file ({first_line}); "
                                      "save it as comma-separated text with one header row")]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.insert(0, "ROW", np.arange(1, len(frame) + 1))
    frame = frame[frame.drop(columns="ROW").notna().any(axis=1)]
    frame = _upper_columns(frame)
    for col in frame.columns:
        if col == "ROW":
            continue
        values = frame[col].str.strip() if frame[col].dtype != float else frame[col]
        num = pd.to_numeric(values, errors="coerce").astype(float)
        if not (num.isna() & values.notna()).any():
            integral = num.notna().all() and bool((num == np.round(num)).all())
            frame[col] = num.astype("int64") if integral else num  # IDs and labels stay 1, 2, ...
    return frame.reset_index(drop=True)


def _upper_columns(frame: pd.DataFrame) -> pd.DataFrame:
    upper = [str(c).upper() for c in frame.columns]
    seen: dict[str, str] = {}
    problems = []
    for original, name in zip(frame.columns, upper):
        if name in seen:
            problems.append(Violation(None, str(original), f"column names are case-insensitive and {seen[name]!r} "
                                      f"and {original!r} are the same column; rename one"))
        seen[name] = str(original)
    if problems:
        raise DatasetError(problems)
    out = frame.copy()
    out.columns = upper
    return out


def from_nonmem(frame: pd.DataFrame, *, occasion: str | None = None, tau: float | None = None) -> pd.DataFrame:
    """Concentration frame for ``nca()`` from a NONMEM-style frame.

    Columns (case-insensitive): ID, TIME, DV, and AMT and/or EVID; optional MDV,
    BLQ (1 = below the limit of quantification; kept even with MDV = 1), SS, II,
    ADDL (additional doses every II are expanded), ROW; any other columns (group,
    occasion, covariates) are carried from the observation rows.
    Doses: EVID 1 or 4 (or AMT > 0 without EVID); EVID 3 and 4 reset.
    Observations: EVID 0 with MDV 0, or BLQ 1.

    TIME of the result is the time after the reference dose of the observation:
    without ``occasion``, the most recent dose at or before it (a sample taken at
    the time of a dose is the pre-dose sample of that dose, TIME 0, and also
    closes the previous dose's profile when that one has other samples); with
    ``occasion``, the most recent dose at or before the occasion's first sample,
    and no other dose may fall inside the occasion's samples.
    DOSE is the reference dose amount (doses at the same time are summed);
    DOSENO its number in the subject's dosing history; ATIME the original TIME.
    These generated columns (and CONC) replace input columns of the same name.
    SS is 1 when the reference dose carries NONMEM SS > 0, or when another dose
    was given within one dosing interval before it (``tau``, else the dose
    record's II): a dosing-interval profile after repeated dosing.
    Raises ``DatasetError`` listing every problem with row and column.
    """
    df = _upper_columns(frame)
    if occasion is not None:
        occasion = occasion.upper()
    rownum = df["ROW"].to_numpy() if "ROW" in df.columns else np.arange(1, len(df) + 1)
    df = df.reset_index(drop=True)
    df["ROW"] = rownum
    problems = _check(df, occasion)
    if problems:
        raise DatasetError(problems)
    for col in NUMERIC:
        if col in df.columns:
            df[col] = _numeric(df[col])[0]
    if "EVID" not in df.columns:
        df["EVID"] = np.where(df["AMT"].fillna(0) > 0, 1.0, 0.0)
    if "MDV" not in df.columns:
        df["MDV"] = np.where((df["EVID"] != 0) | df["DV"].isna(), 1.0, 0.0)
    blq = df["BLQ"].fillna(0) > 0 if "BLQ" in df.columns else pd.Series(False, index=df.index)
    df["_OBS"] = (df["EVID"] == 0) & ((df["MDV"] == 0) | blq)

    out, problems, n_before = [], [], 0
    for _, sub in df.groupby("ID", sort=True, dropna=False):
        sub = sub.sort_values("TIME", kind="stable")
        doses = _dose_events(sub, problems)
        if doses is None:
            continue
        rows, before = _assign(sub, doses, occasion, tau, problems)
        n_before += before
        out.append(rows)
    if problems:
        raise DatasetError(problems)
    if n_before:
        warnings.warn(f"{n_before} observation(s) before the first dose (or after a reset with no dose since) "
                      "were left out of the NCA", stacklevel=2)
    made = ["ID", "TIME", "CONC", "DOSE", "SS", "DOSENO", "ATIME", "ROW"] + (["BLQ"] if "BLQ" in df.columns else [])
    carried = [c for c in df.columns if c not in NOT_CARRIED and not c.startswith("_") and c not in made]
    columns = made + carried
    if not out:
        return pd.DataFrame(columns=columns)
    result = pd.concat(out, ignore_index=True)
    return result[columns]


def _numeric(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numbers, bad): '.' and blank text are missing (NM-TRAN), other text is bad."""
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        text = raw.astype("string").str.strip()
        raw = raw.mask(text.isin([".", ""]).fillna(False).astype(bool))
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    return num, num.isna() & raw.notna()


def _check(df: pd.DataFrame, occasion: str | None) -> list[Violation]:
    problems = []
    for col in ("ID", "TIME", "DV"):
        if col not in df.columns:
            problems.append(Violation(None, col, f"required column {col} is missing"))
    if "AMT" not in df.columns and "EVID" not in df.columns:
        problems.append(Violation(None, "AMT", "the dataset needs AMT (dose amounts) or EVID to tell doses from observations"))
    if occasion is not None and occasion not in df.columns:
        problems.append(Violation(None, occasion, f"occasion column {occasion} is missing; columns present: {', '.join(df.columns)}"))
    if problems:
        return problems
    for col in NUMERIC:
        if col not in df.columns:
            continue
        raw = df[col]
        _, bad = _numeric(raw)
        for i in np.flatnonzero(bad.to_numpy())[:20]:
            problems.append(Violation(int(df["ROW"].iloc[i]), col, f"{raw.iloc[i]!r} is not a number; "
                                      "use a number, or '.' for a missing value"))
    if problems:
        return problems
    time = _numeric(df["TIME"])[0]
    for i in np.flatnonzero(time.isna().to_numpy())[:20]:
        problems.append(Violation(int(df["ROW"].iloc[i]), "TIME", "TIME is missing; every record needs a time"))
    for i in np.flatnonzero(df["ID"].isna().to_numpy())[:20]:
        problems.append(Violation(int(df["ROW"].iloc[i]), "ID", "ID is missing; every record needs a subject ID"))
    amt = _numeric(df["AMT"])[0] if "AMT" in df.columns else pd.Series(np.nan, index=df.index)
    evid = _numeric(df["EVID"])[0] if "EVID" in df.columns else pd.Series(np.where(amt.fillna(0) > 0, 1, 0), index=df.index)
    bad_evid = ~evid.isin([0, 1, 2, 3, 4])
    for i in np.flatnonzero(bad_evid.to_numpy())[:20]:
        problems.append(Violation(int(df["ROW"].iloc[i]), "EVID", f"EVID {evid.iloc[i]!r} is not one of 0, 1, 2, 3, 4"))
    dose_rows = evid.isin([1, 4]) & (amt.isna() | (amt < 0))
    for i in np.flatnonzero(dose_rows.to_numpy())[:20]:
        problems.append(Violation(int(df["ROW"].iloc[i]), "AMT", "a dose record (EVID 1 or 4) needs a non-negative AMT"))
    return problems


def _dose_events(sub: pd.DataFrame, problems: list) -> dict | None:
    """Dose times (ADDL/II expanded, same-time doses merged), amounts, SS flags,
    intervals, source rows, and reset times of one subject."""
    d = sub[sub["EVID"].isin([1, 4])]
    times, amts, ss, ii, rows = [], [], [], [], []
    for _, r in d.iterrows():
        addl = int(r["ADDL"]) if "ADDL" in d.columns and pd.notna(r["ADDL"]) else 0
        interval = float(r["II"]) if "II" in d.columns and pd.notna(r["II"]) else 0.0
        if addl > 0 and interval <= 0:
            problems.append(Violation(int(r["ROW"]), "II", f"ADDL = {addl} needs II > 0 (the interval between the additional doses)"))
            return None
        flag = bool("SS" in d.columns and pd.notna(r["SS"]) and r["SS"] > 0)
        for k in range(addl + 1):
            times.append(float(r["TIME"]) + k * interval)
            amts.append(float(r["AMT"]))
            ss.append(flag)
            ii.append(interval)
            rows.append(int(r["ROW"]))
    ev = pd.DataFrame({"t": times, "amt": amts, "ss": ss, "ii": ii, "row": rows}, columns=["t", "amt", "ss", "ii", "row"])
    ev = ev.groupby("t", sort=True).agg(amt=("amt", "sum"), ss=("ss", "any"), ii=("ii", "max"), row=("row", "first")).reset_index()
    resets = np.sort(sub.loc[sub["EVID"].isin([3, 4]), "TIME"].to_numpy(float))
    return {"t": ev["t"].to_numpy(float), "amt": ev["amt"].to_numpy(float), "ss": ev["ss"].to_numpy(bool),
            "ii": ev["ii"].to_numpy(float), "row": ev["row"].to_numpy(int), "resets": resets}


def _last_reset(resets: np.ndarray, t: float) -> float:
    i = int(np.searchsorted(resets, t, side="right")) - 1
    return resets[i] if i >= 0 else -np.inf


def _assign(sub, doses, occasion, tau, problems) -> tuple[pd.DataFrame, int]:
    obs = sub[sub["_OBS"]].copy()
    dt = doses["t"]
    ref = np.searchsorted(dt, obs["TIME"].to_numpy(float), side="right") - 1
    if occasion is not None:
        for _, grp in obs.groupby(occasion, sort=False, dropna=False):
            pos = obs.index.get_indexer(grp.index)
            t_first, t_last = grp["TIME"].min(), grp["TIME"].max()
            r = int(np.searchsorted(dt, t_first, side="right")) - 1
            ref[pos] = r
            inside = np.flatnonzero((dt > (dt[r] if r >= 0 else -np.inf)) & (dt < t_last))
            if inside.size:
                k = inside[0]
                problems.append(Violation(int(doses["row"][k]), "TIME", (
                    f"subject {sub['ID'].iloc[0]}, {occasion} {grp[occasion].iloc[0]}: the dose at TIME {dt[k]:g} falls "
                    f"inside the occasion's samples (TIME {t_first:g} to {t_last:g}); an NCA profile follows one dose: "
                    f"give the later samples another {occasion} value, or leave out the occasion to analyse each "
                    "dosing interval separately")))
    valid = ref >= 0
    for j in np.flatnonzero(valid):
        if _last_reset(doses["resets"], obs["TIME"].iloc[j]) > dt[ref[j]]:
            valid[j] = False
    before = int((~valid).sum())
    obs, ref = obs[valid], ref[valid]
    if occasion is None:
        obs, ref = _share_predose(obs, ref, doses)
    ss = np.array([_steady(doses, r, tau) for r in ref], bool)
    out = obs.drop(columns=[c for c in obs.columns if c in NOT_CARRIED and c != "TIME" or c.startswith("_")])
    out = out.assign(
        ATIME=obs["TIME"].to_numpy(float), TIME=obs["TIME"].to_numpy(float) - dt[ref],
        CONC=obs["DV"].to_numpy(float), DOSE=doses["amt"][ref], SS=ss.astype(int), DOSENO=ref + 1,
    )
    if "BLQ" in obs.columns:
        out["BLQ"] = (obs["BLQ"].fillna(0) > 0).astype(int).to_numpy()
    return out, before


def _share_predose(obs: pd.DataFrame, ref: np.ndarray, doses: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """A sample taken at the time of a dose is the pre-dose sample (TIME 0) of that
    dose and also the end (TIME = interval) of the previous dose's profile when that
    profile has other samples, as in PKNCA and WinNonlin, where a trough closes one
    dosing interval and opens the next."""
    t = obs["TIME"].to_numpy(float)
    at_dose = np.flatnonzero((ref >= 1) & (t == doses["t"][np.clip(ref, 0, None)]))
    has_samples = set(ref[t > doses["t"][np.clip(ref, 0, None)]].tolist())
    share = [j for j in at_dose if ref[j] - 1 in has_samples
             and _last_reset(doses["resets"], t[j]) <= doses["t"][ref[j] - 1]]
    if not share:
        return obs, ref
    obs = pd.concat([obs, obs.iloc[share]])
    ref = np.concatenate([ref, ref[share] - 1])
    order = np.lexsort((obs["TIME"].to_numpy(float), ref))
    return obs.iloc[order], ref[order]


def _steady(doses: dict, r: int, tau: float | None) -> bool:
    if doses["ss"][r]:
        return True
    interval = tau if tau is not None else (doses["ii"][r] if doses["ii"][r] > 0 else None)
    if interval is None or r == 0:
        return False
    previous = doses["t"][r - 1]
    if previous < _last_reset(doses["resets"], doses["t"][r]):
        return False  # a reset (EVID 3 or 4) since the previous dose
    return previous >= doses["t"][r] - interval * (1 + 1e-9)

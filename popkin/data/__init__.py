"""Data: the NONMEM-style reader, validation, layouts and event packing.

    ds = popkin.data.read("trial.csv")          # raises DatasetError listing every problem
    problems = popkin.data.validate("trial.csv")  # the same checks, returned as a list
    arrays = ds.pack()                           # padded per-subject arrays for the models
"""

from popkin.data.dataset import Dataset, read, validate
from popkin.data.events import EventArrays, pack, unpack
from popkin.data.layout import (
    INDOMETH_LAYOUT,
    LAYOUTS,
    THEOPH_LAYOUT,
    WARFARIN_LAYOUT,
    Layout,
    SingleDose,
)
from popkin.data.summary import Summary
from popkin.data.translate import TRANSLATIONS

__all__ = [
    "read", "validate", "Dataset", "Summary",
    "Layout", "SingleDose", "THEOPH_LAYOUT", "INDOMETH_LAYOUT", "WARFARIN_LAYOUT", "LAYOUTS",
    "TRANSLATIONS", "EventArrays", "pack", "unpack",
]

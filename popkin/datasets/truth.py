"""``DatasetWithTruth``: a validated ``Dataset`` of simulated data that also carries the
parameters it was simulated with, for parameter-recovery checks."""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import pandas as pd

from popkin.data import Dataset


class DatasetWithTruth(Dataset):
    """A ``popkin.data.Dataset`` plus the true parameters behind the simulated data.

    truth: one row per subject, ``ID`` then the true individual parameters (columns
        named as the structural model names them: CL, V, KA, VM, KM, ...; units in the
        loader's docstring).
    population: the true population parameters (typical values, IIV, residual error)
        when the simulation published them, else an empty mapping.

    Everything else (``frame``, ``pack()``, ``summary()``, ``warnings``) is the
    ``Dataset`` that ``popkin.data.read`` returned, unchanged.
    """

    __slots__ = ("_truth", "_population")

    @classmethod
    def adopt(cls, dataset: Dataset, truth: pd.DataFrame, population: Mapping | None = None) -> "DatasetWithTruth":
        """Wrap the validated ``dataset`` (from ``popkin.data.read``) with its truth.

        The dataset's state is shared, not copied: Dataset is read-only.
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(f"adopt needs a popkin.data.Dataset, got {type(dataset).__name__}")
        ids = list(pd.unique(dataset.frame["ID"]))
        if "ID" not in truth.columns or sorted(map(float, truth["ID"])) != sorted(map(float, ids)):
            raise ValueError("truth must have one row per subject of the dataset, keyed by ID")
        new = cls.__new__(cls)
        for klass in type(dataset).__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if hasattr(dataset, slot):
                    object.__setattr__(new, slot, getattr(dataset, slot))
        if hasattr(dataset, "__dict__"):
            new.__dict__.update(dataset.__dict__)  # pragma: no cover - if Dataset drops __slots__
        object.__setattr__(new, "_truth", truth.reset_index(drop=True).copy())
        object.__setattr__(new, "_population", MappingProxyType(dict(population or {})))
        return new

    @property
    def truth(self) -> pd.DataFrame:
        """True individual parameters, one row per subject (a copy)."""
        return self._truth.copy()

    @property
    def population(self) -> Mapping:
        """True population parameters (read-only mapping; empty when unpublished)."""
        return self._population

    def __repr__(self) -> str:
        names = ", ".join(c for c in self._truth.columns if c != "ID")
        return super().__repr__()[:-1] + f", truth: {names})"

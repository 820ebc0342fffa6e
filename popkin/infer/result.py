"""``FitResult``: what every inference method returns, and its netCDF round trip.

This object is the contract with diagnostics, simulation and dosing; keep it stable.

Attributes
----------
idata : arviz.InferenceData
    The groups of ``popkin.infer.convert`` (posterior, sample_stats, log_likelihood,
    posterior_predictive, observed_data, constant_data, point_predictions). A MAP fit
    has one chain with one draw (the mode) and no posterior_predictive.
table : pandas.DataFrame
    The parameter table of ``popkin.infer.table`` (index = parameter name).
method : str
    "nuts", "map" (or "laplace", from ``popkin.infer.laplace``).
warnings : tuple[str, ...]
    Convergence warnings (divergences, R-hat, ESS, tree depth, MAP not converged).
model : PopulationModel | None
    The model fitted (None after ``load`` unless given to it).
problem : Problem | None
    The model bound to its data (None after ``load`` unless model and data are given).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import pandas as pd
import xarray as xr

from popkin.errors import OutputExistsError


TABLE_GROUP = "parameter_table"  # the netCDF group holding the table (exact float64)


def _table_to_dataset(table: pd.DataFrame) -> xr.Dataset:
    ds = xr.Dataset.from_dataframe(table)
    for col in table.columns:
        if table[col].dtype == object or pd.api.types.is_string_dtype(table[col].dtype):
            ds[col] = ds[col].astype(str)
    ds.attrs["method"] = table.attrs.get("method", "")
    return ds


def _dataset_to_table(ds) -> pd.DataFrame:
    table = ds.to_dataframe()
    table.index.name = "parameter"
    table.attrs["method"] = ds.attrs.get("method", "")
    return table


@dataclass
class FitResult:
    """The result of ``popkin.fit`` (see the module docstring)."""

    idata: az.InferenceData
    table: pd.DataFrame
    method: str
    warnings: tuple[str, ...] = ()
    model: object | None = None
    problem: object | None = field(default=None, repr=False)

    @property
    def posterior(self):
        """The posterior group (an xarray Dataset)."""
        return self.idata.posterior

    @property
    def observations(self) -> pd.DataFrame:
        """One row per fitted observation: ID, ROW, TIME, DV, BLQ, LLOQ, OUTPUT and, when
        computed, IPRED and PRED (posterior medians; values at the mode for MAP)."""
        c = self.idata.constant_data
        frame = pd.DataFrame({k: c[k].values for k in ("ID", "ROW", "TIME", "BLQ", "LLOQ", "OUTPUT")})
        frame.insert(3, "DV", self.idata.observed_data["y"].values)
        if "point_predictions" in self.idata.groups():
            for k in ("IPRED", "PRED"):
                frame[k] = self.idata.point_predictions[k].values
        return frame

    def summary(self) -> str:
        """The table and warnings as text."""
        with pd.option_context("display.width", 160, "display.max_columns", 20,
                               "display.float_format", "{:.4g}".format):
            text = f"popkin fit ({self.method})\n{self.table}"
        if self.warnings:
            text += "\nWarnings:\n" + "\n".join(f"- {w}" for w in self.warnings)
        return text

    def __str__(self) -> str:
        return self.summary()

    def save(self, path) -> Path:
        """Write the InferenceData (with the table and warnings in its attributes) to a
        new netCDF file; an existing file is never overwritten (``OutputExistsError``)."""
        path = Path(path)
        if path.exists():
            raise OutputExistsError(f"{path} already exists; choose a new file name")
        idata = self.idata.copy()
        idata.posterior.attrs.update({"popkin_method": self.method,
                                      "popkin_warnings": json.dumps(list(self.warnings))})
        idata.add_groups({TABLE_GROUP: _table_to_dataset(self.table)})
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        idata.to_netcdf(str(tmp), engine="h5netcdf")
        try:
            os.link(tmp, path)  # fails if ``path`` appeared meanwhile: never overwrite
        except FileExistsError:
            raise OutputExistsError(f"{path} already exists; choose a new file name") from None
        finally:
            tmp.unlink()
        return path


def load(path, model=None, data=None) -> FitResult:
    """Read a ``FitResult`` written by ``FitResult.save``.

    model, data: optionally the ``PopulationModel`` and dataset of the fit, to attach
    (needed by functions that re-run the model, e.g. new predictions).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    idata = az.from_netcdf(str(path), engine="h5netcdf")
    attrs = idata.posterior.attrs
    if TABLE_GROUP not in idata.groups():
        raise ValueError(f"{path} was not written by popkin (FitResult.save): it has no parameter table")
    table = _dataset_to_table(idata[TABLE_GROUP])
    del idata[TABLE_GROUP]
    problem = None
    if model is not None and data is not None:
        from popkin.infer.problem import bind

        problem = bind(model, data)
    return FitResult(idata, table, str(attrs["popkin_method"]), tuple(json.loads(attrs["popkin_warnings"])),
                     model, problem)

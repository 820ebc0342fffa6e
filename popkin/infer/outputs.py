"""``write_outputs(result, directory)``: what ``popkin fit --out DIR`` writes.

The directory must not exist; it is created and receives:

* ``parameters.csv``: the parameter table (``popkin.infer.table``);
* ``posterior.nc``: the InferenceData (netCDF, ``popkin.infer.load`` reads it back);
* ``summary.txt``: the table, the convergence warnings and the model as text;
* whatever the extension hook writes: when a module ``popkin.diagnostics.outputs``
  exists, its ``write_outputs(result, directory) -> list[pathlib.Path]`` is called
  after the files above (GOF plots, VPC, ...). That module is the place to extend the
  outputs; this one stays about the fit itself.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from popkin.errors import OutputExistsError

EXTENSION = "popkin.diagnostics.outputs"


def write_outputs(result, directory) -> list[Path]:
    """Write the fit's outputs into the NEW folder ``directory``; returns the paths."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise OutputExistsError(f"{directory} already exists; give a new folder for the outputs") from None
    written = []
    table = directory / "parameters.csv"
    result.table.to_csv(table, float_format="%.6g")
    written.append(table)
    written.append(result.save(directory / "posterior.nc"))
    summary = directory / "summary.txt"
    text = result.summary()
    if result.model is not None:
        text += "\n\n" + str(result.model)
    summary.write_text(text + "\n")
    written.append(summary)
    if importlib.util.find_spec(EXTENSION) is not None:
        written += list(importlib.import_module(EXTENSION).write_outputs(result, directory) or [])
    return written

"""Loading a model file of the catalogue (``models/*.py``) or a user's own.

A model file is a Python file that defines ``model`` (a ``PopulationModel``) and may
define ``read`` (keyword arguments for ``popkin.data.read``, e.g.
``dict(mapping=THEOPH_LAYOUT)`` or ``dict(translate=("acop-ss99",))``: how the data
the model was written for is read). The ``popkin fit`` command uses both.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from popkin.errors import ModelError
from popkin.model import PopulationModel


@dataclass(frozen=True)
class ModelFile:
    """A loaded model file: ``model``, ``read`` (dict for ``popkin.data.read``), ``path``
    and the module docstring ``doc``."""

    model: PopulationModel
    read: dict = field(default_factory=dict)
    path: str = ""
    doc: str = ""


def load_catalogue_model(path) -> ModelFile:
    """Import the model file at ``path`` (see the module docstring)."""
    path = Path(path)
    if path.suffix != ".py" or not path.is_file():
        raise ModelError(f"model file {path} not found; give the path of a .py file that defines `model` "
                         "(e.g. models/theoph.py)")
    spec = importlib.util.spec_from_file_location(f"popkin_model_file_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: report, do not crash with a traceback
        raise ModelError(f"could not import model file {path}: {type(exc).__name__}: {exc}") from exc
    model = getattr(module, "model", None)
    if not isinstance(model, PopulationModel):
        raise ModelError(f"model file {path} must define `model = PopulationModel(...)`"
                         + ("" if model is None else f", not a {type(model).__name__}"))
    read = dict(getattr(module, "read", {}) or {})
    return ModelFile(model, read, str(path), (module.__doc__ or "").strip())

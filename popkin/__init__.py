"""popkin: population pharmacokinetic/pharmacodynamic modelling on JAX.

The public API is re-exported here; everything else is private.
"""

from popkin.errors import DatasetError, FitError, ModelError, PopkinError, Violation

__all__ = ["PopkinError", "DatasetError", "ModelError", "FitError", "Violation"]
__version__ = "0.1.0"

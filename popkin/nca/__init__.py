"""Non-compartmental analysis (NCA): per-profile parameters with CDISC/PKNCA-like
codes, summary tables in clinical-report conventions, and power-model dose
proportionality.

    from popkin.nca import nca, NCAOptions, summarise, dose_proportionality, from_nonmem

    conc = from_nonmem(nonmem_frame, occasion="OCC", tau=12)
    result = nca(conc, NCAOptions(tau=12), group="DOSEGRP", occasion="OCC")
    result.wide                      # one row per profile, one column per parameter
    summarise(result, SINGLE_DOSE)   # parameter, unit, statistic, one column per group
    dose_proportionality(result)     # power-model slope, 90% CI and verdict
"""

from popkin.nca.calc import LambdaZFit, fit_lambda_z
from popkin.nca.engine import NCAResult, nca
from popkin.nca.nonmem import from_nonmem, read_nonmem_csv
from popkin.nca.options import BLQRule, LambdaZRule, NCAOptions, NCAOptionsError
from popkin.nca.proportionality import PowerModel, acceptance_interval, dose_proportionality, power_model
from popkin.nca.registry import PARAMETERS, Parameter, parameter_table
from popkin.nca.summary import SINGLE_DOSE, STEADY_STATE, Layout, format_summary, statistics, summarise
from popkin.nca.units import Units

__all__ = [
    "nca", "NCAResult", "NCAOptions", "LambdaZRule", "BLQRule", "NCAOptionsError", "Units",
    "from_nonmem", "read_nonmem_csv",
    "summarise", "format_summary", "statistics", "Layout", "SINGLE_DOSE", "STEADY_STATE",
    "dose_proportionality", "power_model", "PowerModel", "acceptance_interval",
    "PARAMETERS", "Parameter", "parameter_table", "fit_lambda_z", "LambdaZFit",
]

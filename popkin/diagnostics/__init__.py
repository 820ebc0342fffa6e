"""Diagnostics of population fits: predictions and residuals (PRED, IPRED, IWRES, CWRES),
NPDE, (prediction-corrected) VPCs, individual fits, LOO model comparison, and plots.

Every diagnostic is a function returning a pandas DataFrame (tested numbers); the
``plot_*`` functions draw those frames.

    from popkin import diagnostics as dx
    est = dx.Estimates.from_fit(result)          # point values and draws of a fit
    table = dx.residual_table(est)               # DV, PRED, IPRED, RES, IWRES, CWRES
    summary, points = dx.vpc(est)                # pcVPC summary and observations
    dx.plot_vpc(summary, points).savefig("vpc.png")
    dx.loo_table({"1cmt": fit1, "2cmt": fit2})   # PSIS-LOO comparison of NUTS fits
"""

from popkin.diagnostics.estimates import Estimates
from popkin.diagnostics.individual import individual_curves
from popkin.diagnostics.loo import loo_table, pareto_k_warnings
from popkin.diagnostics.npde import npde_summary, npde_table, npde_values
from popkin.diagnostics.outputs import write_plots
from popkin.diagnostics.plots import plot_gof, plot_individuals, plot_npde, plot_vpc
from popkin.diagnostics.replicates import simulate_replicates
from popkin.diagnostics.residuals import cwres, residual_table
from popkin.diagnostics.vpc import assign_bins, prediction_corrected, time_bins, vpc, vpc_frame

__all__ = [
    "Estimates", "residual_table", "cwres", "npde_table", "npde_values", "npde_summary", "simulate_replicates",
    "time_bins", "assign_bins", "prediction_corrected", "vpc_frame", "vpc", "individual_curves",
    "loo_table", "pareto_k_warnings", "plot_gof", "plot_vpc", "plot_individuals", "plot_npde", "write_plots",
]

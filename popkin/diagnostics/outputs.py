"""``write_outputs(result, directory)``: the diagnostics ``popkin fit --out DIR`` writes.

``popkin.infer.outputs.write_outputs`` calls this module's ``write_outputs`` after the
fit's own files (hook ``popkin.diagnostics.outputs``). ``write_plots`` writes:

* ``residuals.csv`` (PRED, IPRED, RES, IWRES, CWRES per observation) and ``gof.png``;
* ``individual_fits.png`` (IPRED/PRED curves, observations; first 24 subjects);
* ``vpc.csv`` and ``vpc.png`` (pcVPC, 200 replicates, 8 bins); a model with several
  outputs (PK/PD) gets one per output, ``vpc_<output>.csv`` / ``.png``;
* ``npde.csv`` and ``npde.png`` (500 replicates).
A fit without its model and data (a bare ``load``) gets none of these.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from popkin.diagnostics.estimates import Estimates
from popkin.diagnostics.individual import individual_curves
from popkin.diagnostics.npde import npde_table
from popkin.diagnostics.plots import plot_gof, plot_individuals, plot_npde, plot_vpc
from popkin.diagnostics.residuals import residual_table
from popkin.diagnostics.vpc import vpc

VPC_REPLICATES = 200
NPDE_REPLICATES = 500


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(result, directory, seed: int = 0) -> list[Path]:
    """Write the diagnostics of ``result`` into the existing folder ``directory``."""
    directory = Path(directory)
    if getattr(result, "problem", None) is None:
        return []
    est = Estimates.from_fit(result)
    written = []
    table = residual_table(est)
    table.to_csv(directory / "residuals.csv", index=False, float_format="%.6g")
    written += [directory / "residuals.csv", _save(plot_gof(table), directory / "gof.png")]
    curves = individual_curves(est, result.problem.ids)
    written.append(_save(plot_individuals(curves, table), directory / "individual_fits.png"))
    outputs = sorted(set(result.problem.observations["OUTPUT"]))
    for output in outputs if len(outputs) > 1 else [None]:     # one VPC per output (PK/PD)
        stem = "vpc" if output is None else f"vpc_{output}"
        summary, points = vpc(est, n_replicates=VPC_REPLICATES, seed=seed, output=output)
        summary.to_csv(directory / f"{stem}.csv", index=False, float_format="%.6g")
        written += [directory / f"{stem}.csv", _save(plot_vpc(summary, points), directory / f"{stem}.png")]
    npde = npde_table(est, n_replicates=NPDE_REPLICATES, seed=seed + 1)
    npde.to_csv(directory / "npde.csv", index=False, float_format="%.6g")
    written += [directory / "npde.csv", _save(plot_npde(npde["NPDE"]), directory / "npde.png")]
    return written


def write_outputs(result, directory) -> list[Path]:
    """The hook ``popkin.infer.outputs`` calls (see the module docstring)."""
    return write_plots(result, directory)

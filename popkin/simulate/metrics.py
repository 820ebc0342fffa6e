"""Exposure metrics of one patient over one window, from the grid and probe simulations.

Definitions (window [t0, t0 + tau], concentrations in the model's units, times in h):

=============  =============================================================================
metric         meaning
=============  =============================================================================
``auc``        AUC over the window (AUCtau at steady state), Boole's rule on the grid
``cav``        average concentration ``auc / tau``
``cmax``       maximum concentration in the window (grid maximum refined by zooming)
``tmax``       its time after the window start
``cmin``       minimum concentration in the window (refined likewise)
``tmin``       its time after the window start
``ctrough``    concentration at the end of the window, before a dose there (Ctrough, Cmin,ss
               of a sample taken pre-dose)
``tat_<k>``    hours in the window with concentration above threshold ``k`` (linear
               interpolation between grid points; error O(h^2) at each crossing)
=============  =============================================================================

Refinement ("zoom"): start from the grid extremum and its neighbours as a bracket; each
step evaluates ``probes`` equally spaced interior points, keeps the best value seen and
shrinks the bracket to the two probe spacings around it. No derivative is needed, so it
works for ODE models and for extrema at a breakpoint (a bolus peak at the window start
stays the grid value). The caller supplies the evaluation (``popkin.simulate.run``:
the structural model's ``advance`` from the grid state at the bracket start when no
dose can land inside a bracket, the event engine otherwise).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

METRICS = ("auc", "cav", "cmax", "tmax", "cmin", "tmin", "ctrough")


def extrema(conc_at, times, values, probes: int, steps: int):
    """(cmax, tmax, cmin, tmin): grid extrema refined by zooming (module docstring).

    conc_at(t [2, P], k0 [2]) -> values [2, P] evaluates ``probes`` points in the
    maximum's bracket (row 0) and in the minimum's (row 1) in one call per step; k0 are
    the grid indices where the two initial brackets start (every later bracket lies
    inside its initial one), so a caller can advance from the state there."""
    sign = jnp.array([1.0, -1.0], dtype=times.dtype)
    t = times.shape[0]
    k = jnp.stack([jnp.argmax(values), jnp.argmin(values)])
    k0 = jnp.maximum(k - 1, 0)
    v, tb = values[k], times[k]
    lo, hi = times[k0], times[jnp.minimum(k + 1, t - 1)]
    frac = jnp.arange(1, probes + 1, dtype=times.dtype) / (probes + 1)

    def step(state, _):
        v, tb, a, b = state                                   # each [2]: (max, min)
        pt = a[:, None] + (b - a)[:, None] * frac             # [2, P]
        pv = conc_at(pt, k0)
        j = jnp.argmax(sign[:, None] * pv, axis=1)
        cand_v = jnp.take_along_axis(pv, j[:, None], 1)[:, 0]
        cand_t = jnp.take_along_axis(pt, j[:, None], 1)[:, 0]
        better = sign * cand_v > sign * v
        v = jnp.where(better, cand_v, v)
        tb = jnp.where(better, cand_t, tb)
        d = (b - a) / (probes + 1)
        return (v, tb, jnp.maximum(tb - d, a), jnp.minimum(tb + d, b)), None

    (v, tb, _, _), _ = jax.lax.scan(step, (v, tb, lo, hi), None, length=steps)
    return v[0], tb[0], v[1], tb[1]


def time_above(times, values, threshold):
    """Hours with ``values > threshold`` between consecutive grid points, values linear
    in between (zero-length steps at breakpoints count nothing)."""
    t0, t1 = times[:-1], times[1:]
    c0, c1 = values[:-1], values[1:]
    dt = t1 - t0
    above0, above1 = c0 > threshold, c1 > threshold
    diff = jnp.abs(c1 - c0)
    safe = jnp.where(diff > 0, diff, 1.0)
    part = dt * (jnp.maximum(c0, c1) - threshold) / safe
    both = above0 & above1
    one = above0 ^ above1
    return jnp.sum(jnp.where(both, dt, jnp.where(one, part, 0.0)))


def window_metrics(grid_conc, conc_at, times, weights, t0, tau, thresholds, probes: int, steps: int) -> dict:
    """All metrics of one patient (see the module docstring).

    grid_conc: concentrations at the grid [T]; conc_at: see ``extrema``;
    times, weights: grid times and Boole weights [T]; thresholds [H]."""
    auc = jnp.dot(weights, grid_conc)
    cmax, tmax, cmin, tmin = extrema(conc_at, times, grid_conc, probes, steps)
    # the trough is the last real grid point (padding repeats it)
    out = dict(auc=auc, cav=auc / tau, cmax=cmax, tmax=tmax - t0, cmin=cmin, tmin=tmin - t0,
               ctrough=grid_conc[-1])
    tat = jax.vmap(lambda c: time_above(times, grid_conc, c))(thresholds)
    out["tat"] = tat
    return out

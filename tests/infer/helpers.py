"""Checks shared by the NUTS tests of tests/infer."""

import numpy as np


def assert_same_medians(a, b, sites=("CL", "V", "KA", "omega"), k: float = 4.0) -> None:
    """Posterior medians of ``sites`` in the fits ``a`` and ``b`` (``FitResult``) agree
    within ``k`` Monte Carlo SEs of their difference (median MCSE from arviz)."""
    import arviz as az

    for site in sites:
        m = [np.atleast_1d(r.idata.posterior[site].median(("chain", "draw")).values) for r in (a, b)]
        se = [np.atleast_1d(az.mcse(r.idata, var_names=[site], method="median")[site].values) for r in (a, b)]
        assert np.all(np.abs(m[0] - m[1]) < k * np.hypot(*se)), (site, m, se)

"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788) of the NUTS pipeline.

Each replicate draws every population parameter from the prior, simulates a data set
from the same ``population_model`` (the prior predictive), fits it with NUTS and records
the rank of the true value among thinned posterior draws. If MAP start, sampler,
likelihood and conversion are right, ranks are uniform. The model is a one-compartment
oral model (8 subjects, 7 samples each, proportional error) with priors tight enough
that every prior draw is a plausible drug (CL, V, KA log-SD 0.3; omega ~ HalfNormal(0.3)).
The sampler is built once: every replicate reuses its compiled program (data traced).
"""

import dataclasses

import jax
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from numpyro.infer import Predictive
from scipy import stats

from popkin.data import read
from popkin.infer import NUTSOptions, Sampler, bind
from popkin.infer.numpyro_model import population_model
from popkin.model import IIV, PopulationModel, ProportionalError, Theta

CHECKED = [("CL", None), ("V", None), ("KA", None), ("omega", 0), ("omega", 1), ("sigma_prop", None)]


def _model():
    return PopulationModel(
        structure="1cmt-oral",
        parameters={"CL": Theta(3.0, "L/h", prior=dist.LogNormal(np.log(3.0), 0.3)),
                    "V": Theta(30.0, "L", prior=dist.LogNormal(np.log(30.0), 0.3)),
                    "KA": Theta(1.2, "1/h", prior=dist.LogNormal(np.log(1.2), 0.3))},
        iiv=IIV(("CL", "V"), sd_prior=0.3),
        error=ProportionalError(0.1),        # sigma_prop ~ HalfNormal(0.2)
    )


def _design(n_subjects=8, times=(0.5, 1, 2, 4, 8, 12, 24)):
    rows = []
    for i in range(1, n_subjects + 1):
        rows.append(dict(ID=i, TIME=0.0, AMT=100.0, EVID=1, CMT=1, DV=np.nan, MDV=1))
        rows += [dict(ID=i, TIME=float(t), AMT=0.0, EVID=0, CMT=2, DV=1.0, MDV=0) for t in times]
    return read(pd.DataFrame(rows))


def _ranks(n_replicates, options, thin, seed):
    model = _model()
    problem = bind(model, _design())
    prior = Predictive(lambda data: population_model(model, data), num_samples=n_replicates)(
        jax.random.PRNGKey(seed), problem.data)
    sampler = Sampler(problem, options)
    obs = np.asarray(problem.data.observed)
    ranks, covered = [], []
    for r in range(n_replicates):
        y = np.where(obs, np.asarray(prior["y"][r]), np.nan)
        data = dataclasses.replace(problem.data, events=dataclasses.replace(problem.data.events, dv=y))
        draws = sampler.run(dataclasses.replace(problem, data=data), seed=seed + 1 + r)
        row_r, row_c = [], []
        for name, index in CHECKED:
            post = draws.samples[name].reshape((-1,) + draws.samples[name].shape[2:])
            truth = np.asarray(prior[name][r])
            if index is not None:
                post, truth = post[:, index], truth[index]
            row_r.append(int(np.sum(post[::thin] < truth)))
            lo, hi = np.quantile(post, [0.05, 0.95])
            row_c.append(lo <= truth <= hi)
        ranks.append(row_r)
        covered.append(row_c)
    return np.asarray(ranks), np.asarray(covered)


def test_sbc_tiny_coverage():
    """Fast version: 8 replicates, 1 chain x 150 x 150. Checks that the 90% posterior
    intervals contain the truth in at least 75% of the 48 (replicate, parameter) pairs.
    A calibrated pipeline fails this with probability ~0.1% (Binomial(48, 0.9) < 36); a
    biased one (e.g. a wrong likelihood scale or a sampler stuck at its start) fails."""
    from popkin.infer.map import _objective

    compiled_before = _objective._cache_size()
    _, covered = _ranks(8, NUTSOptions(chains=1, warmup=150, draws=150, progress=False), thin=3, seed=100)
    assert covered.mean() >= 0.75, covered.mean()
    # 8 data sets, one compilation of the MAP objective: the data are traced, not constants
    assert _objective._cache_size() == compiled_before + 1


@pytest.mark.slow
def test_sbc_ranks_are_uniform():
    """100 replicates, 2 chains x 200 warm-up x 250 draws, ranks among 100 thinned draws
    (every 5th), 10 bins of 10 ranks: chi-square test (9 df) per parameter, each at
    level 0.01/6 (Bonferroni over the 6 parameters, family-wise 1%).
    Run with ``scripts/test.sh -m slow tests/infer/test_sbc.py``."""
    ranks, covered = _ranks(100, NUTSOptions(chains=2, warmup=200, draws=250, progress=False), thin=5, seed=7)
    counts = [np.histogram(ranks[:, j], bins=10, range=(0, 100))[0] for j in range(len(CHECKED))]
    p = [stats.chisquare(c).pvalue for c in counts]
    print({f"{n}{'' if i is None else i}": (c.tolist(), round(pv, 3)) for (n, i), c, pv in zip(CHECKED, counts, p)})
    print("90% interval coverage", covered.mean(0).round(2).tolist())
    assert min(p) > 0.01 / len(CHECKED), p


def test_sampler_reruns_reuse_one_compiled_program_and_give_the_same_draws():
    """A Sampler with chains run one after the other (no progress bar) compiles its
    sampling loop once: a second run on new data of the same shapes reuses it (numpyro's
    own "sequential" re-jitted on every run, which leaked ~1,600 memory maps a run and
    ended a 100-replicate SBC after ~40 runs), and the same seed gives the same draws."""
    from popkin.infer.nuts import SequentialChains

    model = _model()
    problem = bind(model, _design())
    sampler = Sampler(problem, NUTSOptions(chains=2, warmup=30, draws=30, progress=False))
    method = sampler._mcmc.chain_method
    assert isinstance(method, SequentialChains) or sampler.chain_method == "parallel"
    first = sampler.run(problem, seed=3)
    obs = np.asarray(problem.data.observed)
    y = np.where(obs, 2.0 * np.asarray(problem.data.events.dv), np.nan)      # new data values
    other = dataclasses.replace(problem, data=dataclasses.replace(
        problem.data, events=dataclasses.replace(problem.data.events, dv=y)))
    sampler.run(other, seed=4)
    compiled = method._compiled._cache_size()   # the first call may leave a second entry
    assert compiled <= 2                       # (its arguments' types can differ): at most 2
    again = sampler.run(problem, seed=3)
    sampler.run(other, seed=5)
    assert method._compiled._cache_size() == compiled      # no new program after that
    np.testing.assert_array_equal(first.samples["CL"], again.samples["CL"])
    assert first.samples["CL"].shape == (2, 30)

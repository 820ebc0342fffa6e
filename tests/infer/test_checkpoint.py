"""A NUTS chain run in checkpointed segments (``popkin.infer.checkpoint.run_chain``)
gives the chain of ``Sampler.run`` and resumes after an interruption."""

import numpy as np
import pytest

from popkin import datasets
from popkin.errors import FitError
from popkin.infer import NUTSOptions, bind
from popkin.infer.catalogue import load_catalogue_model
from popkin.infer.checkpoint import run_chain
from popkin.infer.nuts import Sampler

OPTIONS = NUTSOptions(chains=1, warmup=12, draws=15, seed=3, progress=False)


@pytest.fixture(scope="module")
def problem():
    return bind(load_catalogue_model("models/theoph.py").model, datasets.theoph())


class Interrupt(Exception):
    """Raised from the log callback after a segment's checkpoint is written: a kill."""


def test_segments_give_the_samplers_chain(problem, tmp_path):
    """Same start, random stream and kernel as ``Sampler.run``; only XLA's compilation of
    the loop differs, so the draws differ by rounding that grows along the trajectory,
    by an amount that depends on the machine's code generation (measured on one AMD EPYC
    instance: 7e-12 at the first draw, 8e-10 after 27 iterations of 255 leapfrogs; on
    another, 2.4e-7 from the 9th draw, the same at an earlier commit). 1e-5 absolute on
    the unconstrained z and identical tree sizes: a wrong key, start or adaptation
    schedule would differ at order one."""
    ref = Sampler(problem, OPTIONS).run(problem)
    got = run_chain(problem, OPTIONS, tmp_path / "chain.npz", segment=5, log=lambda s: None)
    assert set(got.samples) == set(ref.samples)
    for k, v in ref.samples.items():
        assert got.samples[k].shape == v.shape, k
    np.testing.assert_allclose(got.samples["z_iiv"], ref.samples["z_iiv"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(got.samples["CL"], ref.samples["CL"], rtol=1e-5)
    np.testing.assert_array_equal(got.stats["num_steps"], ref.stats["num_steps"])
    assert (tmp_path / "chain.npz").exists()


def test_interrupted_chain_resumes_where_it_stopped(problem, tmp_path):
    """Killed after 10 of 27 iterations (inside warm-up), then rerun: the same draws as an
    uninterrupted run (the state is saved whole, the compiled segment is the same), and
    the rerun starts at iteration 10."""
    whole = run_chain(problem, OPTIONS, tmp_path / "whole.npz", segment=5, log=lambda s: None)
    lines = []

    def stop_after_two(line):
        lines.append(line)
        if len(lines) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_chain(problem, OPTIONS, tmp_path / "cut.npz", segment=5, log=stop_after_two)
    assert int(np.load(tmp_path / "cut.npz")["done"]) == 10
    lines.clear()
    resumed = run_chain(problem, OPTIONS, tmp_path / "cut.npz", segment=5, log=lines.append)
    assert lines[0].startswith("resumed") and "iteration 10/27" in lines[0]
    assert lines[1].startswith("iteration 15/27")
    for k, v in whole.samples.items():
        np.testing.assert_array_equal(resumed.samples[k], v, err_msg=k)
    np.testing.assert_array_equal(resumed.stats["num_steps"], whole.stats["num_steps"])


def test_checkpoint_of_other_settings_is_refused(problem, tmp_path):
    path = tmp_path / "chain.npz"
    run_chain(problem, NUTSOptions(chains=1, warmup=2, draws=2, seed=1, progress=False), path, log=lambda s: None)
    before = path.read_bytes()
    with pytest.raises(FitError, match="checkpoint of another run"):
        run_chain(problem, NUTSOptions(chains=1, warmup=2, draws=2, seed=2, progress=False), path, log=lambda s: None)
    assert path.read_bytes() == before
    with pytest.raises(FitError, match="one chain"):
        run_chain(problem, NUTSOptions(chains=2, warmup=2, draws=2, progress=False), tmp_path / "x.npz")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_combine_stacks_chains_into_a_fit_result(problem, tmp_path):
    """Two chains run apart (seeds 3 and 4) become chains 0 and 1 of one FitResult, draw
    for draw, with its table computed from both."""
    import dataclasses

    from popkin.infer.checkpoint import combine

    opts = [dataclasses.replace(OPTIONS, seed=3 + i) for i in range(2)]
    chains = [run_chain(problem, o, tmp_path / f"c{i}.npz", segment=27, log=lambda s: None) for i, o in enumerate(opts)]
    result = combine(problem, OPTIONS, chains)
    post = result.idata.posterior
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == OPTIONS.draws
    for i in range(2):
        np.testing.assert_array_equal(post["CL"].values[i], chains[i].samples["CL"][0])
    both = np.concatenate([c.samples["CL"][0] for c in chains])
    assert result.table.loc["CL", "median"] == pytest.approx(np.median(both), rel=1e-12)
    assert "posterior_predictive" in result.idata.groups() and "log_likelihood" in result.idata.groups()


def test_finished_chain_is_extended_by_asking_for_more_draws(problem, tmp_path):
    """A finished 12 + 15 chain rerun with 25 draws continues from its last state: the
    same 37 iterations as a chain run to 25 draws at once (bit for bit, as a resumed
    chain is), after the 15 it kept. Asking for fewer draws than the file holds is refused
    and leaves the file as it was."""
    import dataclasses

    longer = dataclasses.replace(OPTIONS, draws=25)
    whole = run_chain(problem, longer, tmp_path / "whole.npz", segment=5, log=lambda s: None)
    path = tmp_path / "chain.npz"
    first = run_chain(problem, OPTIONS, path, segment=5, log=lambda s: None)
    lines = []
    extended = run_chain(problem, longer, path, segment=5, log=lines.append)
    assert lines[0].startswith("resumed") and "iteration 27/37" in lines[0]
    for k, v in whole.samples.items():
        np.testing.assert_array_equal(extended.samples[k], v, err_msg=k)
        np.testing.assert_array_equal(extended.samples[k][:, :OPTIONS.draws], first.samples[k], err_msg=k)
    before = path.read_bytes()
    with pytest.raises(FitError, match="holds 37 iterations"):
        run_chain(problem, OPTIONS, path, segment=5, log=lambda s: None)
    assert path.read_bytes() == before


def test_restart_starts_at_the_last_draws_with_their_covariance_as_metric(problem, tmp_path):
    """``restart_point`` on a finished 12 + 15 chain: the new chain starts at its last
    draw (non-centred coordinates: the model's own, so equal to the stored position) and
    its diagonal metric is the variance of the 15 kept draws, regularised as Stan does:
    15/20 var + 1e-3 x 5/20. ``run_chain`` with that start and metric and a fixed metric
    keeps it (the checkpointed kernel state holds it exactly), and a checkpoint of the
    same run with another metric is refused."""
    import dataclasses

    from popkin.infer.checkpoint import restart_point

    earlier = tmp_path / "earlier.npz"
    run_chain(problem, OPTIONS, earlier, segment=5, log=lambda s: None)
    saved = np.load(earlier)
    z = {k.split("/", 2)[2]: saved[k] for k in saved.files if k.startswith("draws/z/")}
    fixed = dataclasses.replace(OPTIONS, warmup=5, draws=5, adapt_mass=False)
    starts, metric = restart_point(problem, fixed, [earlier])
    assert len(starts) == 1 and set(starts[0]) == set(z)
    for k, v in z.items():
        np.testing.assert_array_equal(starts[0][k], v[-1], err_msg=k)
    kept = np.concatenate([z[k][OPTIONS.warmup:].reshape(OPTIONS.draws, -1) for k in sorted(z)], axis=1)
    expected = 15 / 20 * kept.var(axis=0, ddof=1) + 1e-3 * 5 / 20
    np.testing.assert_allclose(np.asarray(metric), expected, rtol=1e-12)

    path = tmp_path / "restart.npz"
    draws = run_chain(problem, fixed, path, segment=5, log=lambda s: None, start=starts[0], inverse_mass=metric)
    assert draws.samples["CL"].shape == (1, 5)
    state = np.load(path)
    assert any(np.array_equal(state[k], np.asarray(metric)) for k in state.files if k.startswith("state/"))
    with pytest.raises(FitError, match="another run"):
        run_chain(problem, fixed, path, segment=5, log=lambda s: None, start=starts[0], inverse_mass=2 * metric)


def test_restart_refuses_other_coordinates_and_a_second_metric(problem, tmp_path):
    """The draws of a non-centred run are no start or metric for a centred one; a restart
    with init_mass="map" would have two metrics."""
    import dataclasses

    from popkin.infer.checkpoint import restart_point

    earlier = tmp_path / "earlier.npz"
    run_chain(problem, dataclasses.replace(OPTIONS, warmup=5, draws=5), earlier, segment=5, log=lambda s: None)
    with pytest.raises(FitError, match="other coordinates"):
        restart_point(problem, dataclasses.replace(OPTIONS, parameterization="centered"), [earlier])
    starts, metric = restart_point(problem, OPTIONS, [earlier])
    with pytest.raises(FitError, match='init_mass="unit"'):
        run_chain(problem, dataclasses.replace(OPTIONS, init_mass="map"), tmp_path / "x.npz",
                  start=starts[0], inverse_mass=metric)

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

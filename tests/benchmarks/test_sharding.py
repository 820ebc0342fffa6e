"""Subject sharding over 4 CPU host devices (``popkin.sharding``) gives the
single-device results to 1e-10 (float64): popkin's log density and gradient
(theophylline; slow: + simulated BID 2-cpt), also with the several-hosts placement
(``shard_local_rows``), and predictions for virtual patients (closed form; slow: + MM
ODE; indivisible count, padded).

The device count is fixed when JAX starts, so the check runs in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (``python -m benchmarks.sharding
--check``, see benchmarks/sharding.py)."""

import os
import subprocess
import sys

import pytest

from benchmarks.common import ROOT, read_json_from_stdout


def _run_check(flag: str) -> dict:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-m", "benchmarks.sharding", flag], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = read_json_from_stdout(done.stdout)
    assert report["devices"] == 4
    return report


def _assert_equal(report):
    for row in report["log_density"]:
        assert row["value_rel_diff"] <= 1e-10 and row["grad_rel_diff"] <= 1e-10
        assert row["local_rows_rel_diff"] <= 1e-10
        assert row["data_shards"] == 4
        assert row["collectives"]["all-gather"] == 0, "the subject axis should stay split (no all-gather)"
    for row in report["predict"]:
        assert row["rel_diff"] <= 1e-10 and row["output_shards"] == 4


def test_sharded_equals_single_device():
    """Theophylline log density + gradient, closed-form predictions."""
    report = _run_check("--check")
    assert len(report["log_density"]) == 1 and len(report["predict"]) == 1
    _assert_equal(report)


@pytest.mark.slow
def test_sharded_equals_single_device_more_models():
    """Adds the simulated BID 2-cpt log density (N = 100) and the MM ODE predictions."""
    report = _run_check("--full-check")
    assert len(report["log_density"]) == 2 and len(report["predict"]) == 2
    _assert_equal(report)


def test_placement_helpers_on_one_device():
    import jax
    import numpy as np

    from popkin.sharding import pad_params, shard_local_rows, shard_subjects, subject_mesh

    mesh = subject_mesh(jax.local_devices()[:1])
    tree = {"a": np.ones((3, 2)), "b": np.ones(3)}
    placed = shard_subjects(tree, mesh)
    assert placed["a"].shape == (3, 2)
    with pytest.raises(ValueError):
        shard_subjects({"a": np.ones((3, 2)), "b": np.ones(4)}, mesh)
    local = shard_local_rows(tree, mesh, 3)          # one process holds every row
    np.testing.assert_array_equal(np.asarray(local["a"]), tree["a"])
    padded = pad_params({"CL": np.arange(3.0), "V": 2.0}, 5)
    assert padded["CL"].tolist() == [0.0, 1.0, 2.0, 0.0, 0.0] and float(padded["V"]) == 2.0

"""``popkin fit`` on theophylline with tiny settings."""

import os

import pandas as pd
import pytest
from click.testing import CliRunner

from popkin.cli import main
from popkin.infer import load



def _theoph_csv():
    from popkin.datasets import path

    return str(path("theoph.csv"))


def _short_nuts_args(out, seed, *extra):
    """``popkin fit`` of theophylline with the fixtures' short NUTS settings (2 x 150 x 150)."""
    return ["fit", _theoph_csv(), "--model", "models/theoph.py", "--method", "nuts", "--chains", "2",
            "--warmup", "150", "--draws", "150", "--seed", str(seed), *extra, "--no-progress", "--out", str(out)]


def test_fit_command_writes_table_and_posterior_and_refuses_existing_folder(tmp_path, monkeypatch,
                                                                            theoph_short_fit):
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))   # the command sets host devices
    out = tmp_path / "theoph-fit"
    args = _short_nuts_args(out, 11)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "parameters.csv", index_col="parameter")
    assert list(table.index[:3]) == ["CL", "V", "KA"]
    assert {"median", "q05", "q95", "rhat", "ess_bulk", "ess_tail", "cv_percent", "shrinkage_percent"} <= set(table)
    assert 2.0 < table.loc["CL", "median"] < 3.6                    # L/h, 70 kg (nlme: 2.81)
    # same model file, data, settings and seed as the fixture's fit: the same draws
    # (parameters.csv holds 6 significant digits: compare to 1e-5)
    assert table.loc["CL", "median"] == pytest.approx(theoph_short_fit.table.loc["CL", "median"], rel=1e-5)
    fitted = load(out / "posterior.nc")
    assert fitted.posterior.sizes["chain"] == 2 and fitted.posterior.sizes["draw"] == 150
    assert (out / "summary.txt").read_text().startswith("popkin fit (nuts)")
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "already exists" in again.output
    assert {"parameters.csv", "posterior.nc", "summary.txt"} <= set(os.listdir(out))  # + diagnostics plots


def test_fit_command_reports_model_file_errors(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("model = 3\n")
    result = CliRunner().invoke(main, ["fit", _theoph_csv(), "--model", str(bad), "--method", "map",
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "PopulationModel" in result.output
    assert not (tmp_path / "o").exists()


def test_fit_command_passes_the_parameterization(tmp_path, monkeypatch, theoph_centred_short_fit):
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    out = tmp_path / "theoph-centred"
    args = _short_nuts_args(out, 5, "--parameterization", "centered")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "parameters.csv", index_col="parameter")
    # the centred fixture's draws (a non-centred run with seed 5 gives other draws)
    assert table.loc["CL", "median"] == pytest.approx(theoph_centred_short_fit.table.loc["CL", "median"], rel=1e-5)
    other = tmp_path / "misspelt"
    wrong = CliRunner().invoke(main, _short_nuts_args(other, 5, "--parameterization", "centred"))
    assert wrong.exit_code != 0 and "centered" in wrong.output and "CL, V, KA" in wrong.output
    assert not other.exists()


def test_parameterization_on_the_command_line():
    """The names, or a comma-separated list of parameters to centre."""
    from popkin.infer.centring import parse_parameterization

    assert parse_parameterization("centered") == "centered"
    assert parse_parameterization(" CL, V,KA ") == ("CL", "V", "KA")
    with pytest.raises(ValueError, match="commas"):
        parse_parameterization("CL;V")

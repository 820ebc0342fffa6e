"""The README's main job (``python -m popkin.scenario``): steps 1-2 on the bundled
virtual trial, written into a new folder, never over an existing one."""

import pandas as pd
import pytest

from popkin.errors import OutputExistsError
from popkin.scenario import Settings, run


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    return run(tmp_path_factory.mktemp("scenario") / "out", Settings())


def test_outputs_written_atomically(output):
    names = {p.name for p in output.iterdir()}
    assert {"check.txt", "trial.csv", "nca_per_subject.csv", "nca_vs_published.csv",
            "dose_proportionality.csv", "nca_auc_vs_dose.png", "report.html"} <= names
    # no partial folder left beside the output
    assert not [p for p in output.parent.iterdir() if p.name.startswith(".")]


def test_check_summary_counts(output):
    text = (output / "check.txt").read_text()
    assert "24 subjects" in text


def test_side_by_side_has_every_published_parameter(output):
    side = pd.read_csv(output / "nca_vs_published.csv")
    from popkin.datasets import lxi15029_published

    tables = lxi15029_published()
    wanted = set(tables.single_dose["parameter"]) | set(tables.steady_state["parameter"])
    wanted.discard("N")
    assert wanted <= set(side["parameter"]), wanted - set(side["parameter"])


def test_report_is_self_contained(output):
    page = (output / "report.html").read_text()
    assert "data:image/png;base64," in page
    assert "Non-compartmental analysis" in page
    assert "src=\"http" not in page and "href=\"http" not in page


def test_refuses_existing_folder(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(OutputExistsError):
        run(tmp_path / "taken", Settings())

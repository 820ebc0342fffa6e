"""Run the python blocks of docs/fitting.md in order, in a fresh folder."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "fitting.md"


def test_fitting_page_examples_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_fitting"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    assert "$PK" in out and "True" in out          # printed model; reloaded table equals the fit's
    assert (tmp_path / "theoph-fit.nc").exists()

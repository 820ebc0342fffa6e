"""The runnable examples of docs/laplace.md and docs/diagnostics.md, run as written except
for smaller simulation and sampling settings (so that they cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
THEOPH = Path("/work/shared/data/rdatasets/theoph.csv")

# documented settings -> tiny ones
TINY = ((r"n_replicates=\d+", "n_replicates=20"), (r"n_points=\d+", "n_points=10"),
        (r"NUTSOptions\(chains=\d+, warmup=\d+, draws=\d+", "NUTSOptions(chains=1, warmup=40, draws=40"))


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def run_doc(path: Path, workdir: Path) -> dict:
    code = "\n".join(python_blocks(path))
    for pattern, repl in TINY:
        code = re.sub(pattern, repl, code)
    namespace: dict = {}
    import os

    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        exec(compile(code, str(path), "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def test_docs_have_examples():
    assert len(python_blocks(DOCS / "laplace.md")) >= 1
    assert len(python_blocks(DOCS / "diagnostics.md")) >= 2


@pytest.mark.slow
@pytest.mark.skipif(not THEOPH.is_file(), reason="shared reference data not found: put it at ../shared/data or set POPKIN_SHARED_DATA")
def test_laplace_doc_runs(tmp_path):
    ns = run_doc(DOCS / "laplace.md", tmp_path)
    result = ns["result"]
    assert result.method == "laplace" and result.ofv > result.ofv_nonmem
    assert list(result.ebes.columns[:3]) == ["ID", "ETA_CL", "ETA_KA"]


@pytest.mark.slow
@pytest.mark.skipif(not THEOPH.is_file(), reason="shared reference data not found: put it at ../shared/data or set POPKIN_SHARED_DATA")
def test_diagnostics_doc_runs(tmp_path):
    ns = run_doc(DOCS / "diagnostics.md", tmp_path)
    for name in ("gof.png", "vpc.png", "individual_fits.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert {"elpd_loo", "warning"} <= set(ns["table"].columns) and len(ns["table"]) == 2

"""The model catalogue: every file loads, is documented, prints, and binds to the data
it was written for (the covariates and outputs it reads exist there)."""

from pathlib import Path

import pytest

from popkin import datasets
from popkin.infer import bind
from popkin.infer.catalogue import load_catalogue_model
from popkin.model import PopulationModel

ROOT = Path(__file__).resolve().parents[2]
DATA = {
    "theoph.py": datasets.theoph,
    "acop_oral_1cpt.py": lambda: datasets.acop("Oral_1CPT"),
    "acop_oral_1cpt_mm.py": lambda: datasets.acop("Oral_1CPTMM"),
    "warfarin_pk.py": datasets.warfarin,
    "warfarin_pkpd.py": datasets.warfarin,
    "lxi_1cpt_autoinh.py": datasets.lxi15029_trial,
    "lxi_1cpt_autoinh_clint.py": datasets.lxi15029_trial,
    "lxi_1cpt_linear.py": datasets.lxi15029_trial,
    "lxi_1cpt_mm.py": datasets.lxi15029_trial,
    "lxi_1cpt_mm_linear.py": datasets.lxi15029_trial,
    "lxi_2cpt_linear.py": datasets.lxi15029_trial,
}
# observations each model fits (warfarin_pk: the 251 concentrations only)
N_OBS = {"theoph.py": 132, "acop_oral_1cpt.py": 6947, "acop_oral_1cpt_mm.py": 6959, "warfarin_pk.py": 251,
         "warfarin_pkpd.py": 483}


def test_every_model_file_is_listed():
    files = sorted(p.name for p in (ROOT / "models").glob("*.py"))
    assert files == sorted(DATA)
    listing = (ROOT / "docs" / "models.md").read_text()
    assert all(f"../models/{name}" in listing for name in files)


@pytest.mark.parametrize("name", sorted(DATA))
def test_model_file_loads_prints_and_binds(name):
    entry = load_catalogue_model(ROOT / "models" / name)
    assert isinstance(entry.model, PopulationModel)
    assert len(entry.doc) > 200                                  # documented: data, units, equations
    text = str(entry.model)
    assert "$PK" in text and "$ERROR" in text and entry.model.name in text
    problem = bind(entry.model, DATA[name]())
    if name in N_OBS:
        assert len(problem.observations) == N_OBS[name]
    assert set(problem.space.transforms) >= set(entry.model.thetas)


def test_read_options_match_the_bundled_loaders():
    """The ``read`` of a model file reads the raw file as the bundled loader does."""
    from popkin.data import read

    for name, source in [("theoph.py", "theoph.csv"), ("acop_oral_1cpt.py", "Oral_1CPT.csv"),
                         ("warfarin_pk.py", "warfarin.csv")]:
        entry = load_catalogue_model(ROOT / "models" / name)
        ds = read(datasets.path(source), **entry.read)
        assert len(bind(entry.model, ds).observations) == N_OBS[name]


def test_lxi_blq_records_are_censored_observations():
    """The virtual trial reports BLQ records (LLOQ 1 ng/mL); they enter as censored."""
    entry = load_catalogue_model(ROOT / "models" / "lxi_1cpt_linear.py")
    problem = bind(entry.model, datasets.lxi15029_trial())
    censored = int(problem.data.censored.sum())
    assert censored > 0 and censored == int(problem.observations["BLQ"].sum())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DATA))
def test_model_file_map_fit_converges(name):
    """Every catalogue model has a finite joint mode on its data (a smoke test of the
    whole path: data, structural model, likelihood, optimiser). Slow: the ODE models
    compile for minutes. ``scripts/test.sh -m slow tests/models``."""
    import numpy as np

    from popkin.infer import fit

    entry = load_catalogue_model(ROOT / "models" / name)
    result = fit(entry.model, DATA[name](), "map")
    print(name, result.table["mode"].round(4).to_dict())
    assert np.isfinite(result.table["mode"]).all()
    assert np.isfinite(result.idata.log_likelihood["y"].values).all()

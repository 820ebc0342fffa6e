import jax
import pytest

jax.config.update("jax_enable_x64", True)
# No persistent (on-disk) XLA cache: tests/conftest.py turns it off suite-wide.

# Short NUTS settings shared by the fast tests: the same settings give the same compiled
# program, so the tests that fit theophylline share its compilation (within a process).
SHORT = dict(chains=2, warmup=150, draws=150, progress=False)


@pytest.fixture(scope="session")
def theoph_short_fit():
    """A short NUTS fit of models/theoph.py to the theophylline data (seed 11)."""
    from popkin import datasets
    from popkin.infer import NUTSOptions, fit
    from popkin.infer.catalogue import load_catalogue_model

    model = load_catalogue_model("models/theoph.py").model
    return fit(model, datasets.theoph(), "nuts", NUTSOptions(seed=11, **SHORT))


@pytest.fixture(scope="session")
def theoph_centred_short_fit():
    """As ``theoph_short_fit`` in the centred parameterisation (seed 5)."""
    from popkin import datasets
    from popkin.infer import NUTSOptions, fit
    from popkin.infer.catalogue import load_catalogue_model

    model = load_catalogue_model("models/theoph.py").model
    return fit(model, datasets.theoph(), "nuts", NUTSOptions(seed=5, parameterization="centered", **SHORT))

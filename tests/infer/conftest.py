import atexit
import shutil
import tempfile

import jax
import pytest

jax.config.update("jax_enable_x64", True)
# Several tests fit the same model with the same settings (the fit fixture, the CLI, the
# docs page): XLA's persistent cache lets them share one compilation per test process.
_XLA_CACHE = tempfile.mkdtemp(prefix="popkin-test-xla-")
jax.config.update("jax_compilation_cache_dir", _XLA_CACHE)
atexit.register(shutil.rmtree, _XLA_CACHE, ignore_errors=True)

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

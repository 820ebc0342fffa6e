"""Suite-wide settings.

Work in progress: the test folders below belong to features whose issues are still
open (fits and diagnostics #6, benchmarks #8; tests/simulate joined the default suite
with issue 7). Their code is in the tree so that work can continue, but
their tests have not yet been run green together on a quiet machine, so the default
suite (the README's test command, and CI) leaves them out. Run them with

    POPKIN_WIP_TESTS=1 bash scripts/test.sh tests/pk

and move a folder out of this list when its issue closes.
"""

import os

WORK_IN_PROGRESS = ["infer", "models", "diagnostics", "benchmarks"]

collect_ignore = [] if os.environ.get("POPKIN_WIP_TESTS") else WORK_IN_PROGRESS


def _shared_data() -> str:
    """The project's reference data: ``shared/data`` beside the repository (as CI lays
    it out), else /work/shared/data; ``POPKIN_SHARED_DATA`` overrides both."""
    here = os.path.dirname(os.path.abspath(__file__))
    beside = os.path.normpath(os.path.join(here, "..", "..", "shared", "data"))
    return beside if os.path.isdir(beside) else "/work/shared/data"


os.environ.setdefault("POPKIN_SHARED_DATA", _shared_data())

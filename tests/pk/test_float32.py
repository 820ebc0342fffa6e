"""float32 (JAX's default, and what GPUs run fastest) against float64 on all 54 nmtest
subjects: within 1e-3 relative at every record (floor: 1e-6 of the subject's largest
concentration, for values that are essentially zero).

x64 is a process-wide JAX switch, so the float32 run happens in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import jax, numpy as np
assert not jax.config.jax_enable_x64
from tests.pk import nmtest
from popkin.pk.closed_form import OneCompartment
from popkin.pk.engine import predict_population
ev = nmtest.packed()
out = jax.jit(lambda e, q: predict_population(OneCompartment(), e, q))(ev, nmtest.params(ev))
assert out.dtype == np.float32, out.dtype
np.save({path!r}, np.asarray(out))
"""


def test_float32_within_1e3_of_float64(tmp_path, nmtest_f64):
    path = tmp_path / "f32.npy"
    code = SCRIPT.format(root=str(ROOT), path=str(path))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "JAX_ENABLE_X64": "0"})
    assert run.returncode == 0, run.stderr[-3000:]
    f32 = np.load(path)
    events, _, f64, _ = nmtest_f64
    mask = np.asarray(events.mask)
    floor = 1e-6 * np.max(np.abs(np.where(mask, f64, 0)), axis=1, keepdims=True)
    rel = np.where(mask, np.abs(f32 - f64) / np.maximum(np.abs(f64), floor), 0)
    print(f"\nfloat32 vs float64 on nmtest: max relative difference {rel.max():.1e} "
          f"over {int(mask.sum())} records")
    assert rel.max() < 1e-3

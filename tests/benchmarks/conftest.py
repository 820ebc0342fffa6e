"""Tests of the benchmark harness's logic (never its timings): float64 JAX and the
repository root on the path so that ``benchmarks`` imports."""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

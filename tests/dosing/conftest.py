"""Fixtures for the regimen tests: float64 JAX."""

import jax

jax.config.update("jax_enable_x64", True)

"""One measured case of the simulation study, run in its own process (peak memory is
that process's): ``python -m benchmarks.simulation.side MODEL N CHUNK``.

MODEL: ``2cmt-oral`` (closed form) or ``1cmt-oral-mm`` (Michaelis-Menten ODE, diffrax).
Simulates N virtual patients (IIV 30% on every parameter, fixed population) on 100 mg
BID to steady state (one SS = 1 record; AUCtau, Cmax, Cmin, Ctrough, Cav per patient,
145-point grid, refined extrema) and prints one JSON line: the time of a first run of
one chunk (trace + compile + that chunk) and of the N-patient run (compiled).
"""

from __future__ import annotations

import json
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

from popkin.dosing import bid  # noqa: E402
from popkin.model import IIV, PopulationModel, ProportionalError, Theta  # noqa: E402
from popkin.simulate import FixedPopulation, Settings, SteadyState, simulate  # noqa: E402

MODELS = {
    "2cmt-oral": {"CL": 5.0, "V1": 30.0, "Q": 8.0, "V2": 80.0, "KA": 1.2},
    # VM well above the dosing rate (100 mg / 12 h = 8.3 mg/h): with 30% IIV a patient's VM
    # falls below it (no steady state exists, the engine's Newton iteration cannot converge
    # and the ODE solve fails) only 6 SD below the mean. With VM = 10 mg/h it was 27% of
    # patients, and every run of 1024 patients failed.
    "1cmt-oral-mm": {"VM": 50.0, "KM": 0.5, "V": 50.0, "KA": 1.5},
}


def population(name: str) -> FixedPopulation:
    params = MODELS[name]
    model = PopulationModel(name, {k: Theta(v) for k, v in params.items()},
                            iiv=IIV(tuple(params), initial=0.3), error=ProportionalError(0.15))
    return FixedPopulation(model)


def main(name: str, n: int, chunk: int) -> dict:
    pop = population(name)
    regimen = {"100 mg BID": bid(100, days=28)}
    t0 = time.perf_counter()
    # warm-up with the chunk size the run uses (N < chunk runs one chunk of the next power of 2)
    simulate(pop, regimen, Settings(n=min(n, chunk), chunk=chunk, seed=0, exposure=SteadyState()))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim = simulate(pop, regimen, Settings(n=n, chunk=chunk, seed=1, exposure=SteadyState()))
    run = time.perf_counter() - t0
    auc = sim.metrics["100 mg BID"]["auc"]
    return {"model": name, "n": n, "chunk": chunk, "first_chunk_s": round(first, 3), "run_s": round(run, 3),
            "patients_per_s": round(n / run, 1), "median_auc": float(sorted(auc)[len(auc) // 2]),
            "device": str(jax.devices()[0].platform)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))), flush=True)

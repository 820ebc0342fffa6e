"""popkin's side of the structural-model benchmark (one subprocess per run).

    python -m benchmarks.structural.popkin_side subjects.csv lin|mm check.csv [--chunk C]

The problem is the one ``desolve_bench.R`` solves: per-subject KA, CL, V, VM, KM from
``subjects.csv``; 100 mg oral BID x 56 doses into the depot (CMT 1); concentrations in
the central compartment at 100 times from 0 to 672 h. ``lin`` is the closed form
(``popkin.pk.get_model("1cmt-oral")``), ``mm`` the Michaelis-Menten ODE
(``"1cmt-oral-mm"``, diffrax Tsit5 by default or the ``--solver`` given, rtol 1e-8,
atol 1e-10: deSolve's tolerances).

The regimen is packed once with ``popkin.dosing`` and broadcast over a chunk of
subjects; one jitted ``predict_population`` serves every chunk (the last one padded).
Times: ``compile_s`` is the first call (trace + XLA compile + one chunk), ``seconds``
the timed pass over all subjects afterwards (what deSolve's ``seconds`` also measures:
the solves, not start-up or compilation).
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import emit, setup_jax

DOSE, II, N_DOSE, N_OBS = 100.0, 12.0, 56, 100


def regimen_events():
    """Packed events of one subject: the doses and the 100 observation records."""
    import numpy as np

    from popkin.dosing import bid

    obs = np.linspace(0.0, N_DOSE * II, N_OBS)
    reg = bid(DOSE, days=N_DOSE // 2, cmt=1).with_observations(obs, cmt=2)
    events = reg.pack(1)
    is_obs = np.asarray(events.evid[0] == 0) & np.asarray(events.mask[0])
    return events, np.flatnonzero(is_obs), obs


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("subjects")
    ap.add_argument("model", choices=("lin", "mm"))
    ap.add_argument("check")
    ap.add_argument("--chunk", type=int, default=0, help="subjects per compiled call (0: automatic)")
    ap.add_argument("--solver", default="Tsit5", help="diffrax solver of the MM ODE (default: the model's, Tsit5)")
    args = ap.parse_args(argv)
    jax = setup_jax()
    import jax.numpy as jnp
    import numpy as np
    import pandas as pd

    from popkin.pk import get_model
    from popkin.pk.engine import bolus_only, generated_slots, predict_population

    subjects = pd.read_csv(args.subjects)
    n = len(subjects)
    name = "1cmt-oral" if args.model == "lin" else "1cmt-oral-mm"
    model = get_model(name)
    if args.model == "mm" and args.solver != "Tsit5":
        import dataclasses

        import diffrax

        model = dataclasses.replace(model, options=dataclasses.replace(model.options, solver=getattr(diffrax, args.solver)()))
    cols = ("KA", "CL", "V") if args.model == "lin" else ("KA", "VM", "KM", "V")
    chunk = args.chunk or (min(n, 10_000) if args.model == "lin" else min(n, 1_000))
    events1, obs_idx, obs_times = regimen_events()
    slots = generated_slots(events1)  # one landing per dose: the scan has E + 56 steps, not 3E
    plain = bolus_only(events1)       # boluses only: the engine's record-order scan (E steps)

    def one_chunk(ev1, params):
        ev = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (chunk,) + a.shape[1:]), ev1)
        pred = predict_population(model, ev, params, steady_state=False, max_generated=slots, bolus_only=plain)
        return pred[:, obs_idx]

    run = jax.jit(one_chunk)
    values = {c: np.asarray(subjects[c], dtype=float) for c in cols}
    n_chunks = -(-n // chunk)
    padded = {c: np.concatenate([v, np.full(n_chunks * chunk - n, v[0])]) for c, v in values.items()}

    def params(k):
        return {c: jnp.asarray(v[k * chunk:(k + 1) * chunk]) for c, v in padded.items()}

    t0 = time.perf_counter()
    first = run(events1, params(0)).block_until_ready()
    compile_s = time.perf_counter() - t0
    out = np.empty((n, len(obs_idx)))
    t0 = time.perf_counter()
    for k in range(n_chunks):
        res = np.asarray(run(events1, params(k)).block_until_ready())
        out[k * chunk:min((k + 1) * chunk, n)] = res[:min(chunk, n - k * chunk)]
    seconds = time.perf_counter() - t0
    del first
    pd.DataFrame(out[:min(n, 5)]).to_csv(args.check, index=False)
    emit({"engine": f"popkin {name} ({'closed form' if args.model == 'lin' else f'diffrax {args.solver} ODE'})",
          "model": args.model, "n_subjects": n, "n_obs": len(obs_times), "chunk": chunk,
          "backend": jax.default_backend(), "x64": bool(jax.config.jax_enable_x64),
          "compile_s": compile_s, "seconds": seconds,
          "subject_timepoints_per_s": n * len(obs_times) / seconds,
          "finite": bool(np.all(np.isfinite(out)))})


if __name__ == "__main__":
    main()

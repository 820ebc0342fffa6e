"""Results JSON -> the tables of docs/benchmarks.md and the plots in benchmarks/results/.

    python -m benchmarks.report [--mode quick|full]

Only the part of docs/benchmarks.md between the markers ``<!-- results:start -->`` and
``<!-- results:end -->`` is rewritten; the prose around it is edited by hand. Plot data
are computed by ``*_series`` functions (testable without drawing); ``plot_*`` draws them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import RESULTS, ROOT

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def load(mode: str, out_dir: Path = RESULTS) -> dict:
    """study -> payload: ``<study>-<mode>.json`` where it exists, else a study's own
    ``<study>.json`` (the structural and simulation studies write those; their JSON
    names its mode)."""
    out = {}
    for path in sorted(Path(out_dir).glob(f"*-{mode}.json")):
        data = json.loads(path.read_text())
        out[data.get("study", path.stem.rsplit("-", 1)[0])] = data
    for path in sorted(Path(out_dir).glob(f"*-{mode}-centred.json")):   # NUTS, centred on both sides
        data = json.loads(path.read_text())
        out[data.get("study", path.stem.split("-", 1)[0]) + "-centred"] = data
    for path in sorted(Path(out_dir).glob("*.json")):
        if "-" in path.stem:
            continue
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        out.setdefault(data.get("study", path.stem), data)
    return out


def _f(x, digits=3):
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int,)) or (isinstance(x, float) and abs(x) >= 100):
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _machine(m: dict) -> list[str]:
    v = m.get("python_versions", {})
    r = m.get("r_versions", {}) or {}
    load = m.get("load_average_1_5_15")
    return [
        f"- Machine: {m.get('cpu_model')}, {m.get('cpus_available')} of {m.get('logical_cpus')} logical CPUs, "
        f"{m.get('memory_gb')} GB; {m.get('os')}",
        f"- Load average when the study started (1/5/15 min): {', '.join(f'{x:.1f}' for x in load) if load else 'n/a'}"
        + (" **(loaded machine: timings are noisy)**" if load and load[0] > 0.5 * (m.get('cpus_available') or 1) else ""),
        f"- popkin {v.get('popkin')}, jax {v.get('jax')} ({m.get('jax_backend')}), numpyro {v.get('numpyro')}, "
        f"diffrax {v.get('diffrax')}, arviz {v.get('arviz')}, Python {v.get('python')}",
        f"- {r.get('R')}, rstan {r.get('rstan')} (StanHeaders {r.get('stan')}), deSolve {r.get('deSolve')}, "
        f"{r.get('cxx')}" if r.get("R") else "- R: not available",
        f"- Measured {m.get('timestamp')}",
    ]


def _converged(d: dict) -> str:
    """A side's "converged" cell; rows judged before the multiplicity-aware rule of
    benchmarks/nuts/convergence.py say that they used the plain 1.01 rule."""
    if "converged_strict" not in d:
        return f"{_f(d['converged'])} (plain rule)"
    ind = d.get("individual")
    if d["converged"] and not d["converged_strict"] and ind:
        return f"yes (max R-hat {ind['max_rhat']:.3f}, p {ind['max_rhat_null_p']:.2f})"
    return _f(d["converged"])


def nuts_table(data: dict) -> list[str]:
    s = data["settings"]
    centred = data.get("parameterization") == "centered"
    where = ", IIV centred on both sides" if centred else ", IIV non-centred on both sides"
    lines = [f"### NUTS: popkin vs Stan ({data['mode']}: {s['chains']} chains x {s['warmup']} warm-up x "
             f"{s['draws']} draws, same seed on both sides{where})", ""] + _machine(data["machine"]) + [
        "",
        "| problem | subjects / obs | log density equal | popkin: min bulk ESS, sampling s, ESS/s | "
        "Stan: min bulk ESS, sampling s (chains' own s), ESS/s | ESS/s ratio (vs Stan chains' clock) | "
        "ESS per gradient ratio | first fit incl. compile, s: popkin / Stan | compile s: popkin JIT / Stan | "
        "one gradient, ms: popkin / Stan via R | peak RSS MB: popkin / Stan | converged: popkin / Stan | "
        "divergences |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        pk = r["popkin"]
        dp = pk["diagnostics"]
        st = r.get("stan")
        chk = r.get("logdensity_check")
        eq = "n/a" if not chk else ("yes, +Jacobian" if chk["same_unconstrained_density"] else
                                    "constrained only" if chk["same_density"] else "**NO**")
        grad = (chk or {}).get("grad_eval_s") or {}
        g = f"{_f(1000 * grad['popkin'])} / {_f(1000 * grad['stan'])}" if grad.get("stan") else "n/a"
        rs = r.get("settings") or s
        if any(rs.get(k) != s.get(k) for k in ("chains", "warmup", "draws")):   # a row run with other settings
            r = dict(r, problem=f"{r['problem']} ({rs['chains']} x {rs['warmup']} x {rs['draws']})")
        star = "*" if pk["warm_s"] is None else ""
        popkin_cell = f"{_f(dp['min_ess_bulk'])}, {_f(pk['warm_s'] or pk['cold_s'])}{star}, **{_f(dp['ess_per_s'])}**"
        if not st:
            lines.append(f"| {r['problem']} | {pk['n_subjects']} / {pk['n_obs']} | {eq} | {popkin_cell} | (no Stan) | "
                         f"| | {_f(pk['total_s'])} / | {_f(pk['jit_s'])} / | {g} | {_f(pk['peak_rss_mb'])} / | "
                         f"{_converged(dp)} / | {pk['divergent']} / |")
            continue
        ds, ra = st["diagnostics"], r["ratios"]
        c = " (cached)" if st.get("compile_cached") else ""
        lines.append(
            f"| {r['problem']} | {pk['n_subjects']} / {pk['n_obs']} | {eq} | {popkin_cell} | "
            f"{_f(ds['min_ess_bulk'])}, {_f(st['sampling_wall_s'])} ({_f(st.get('chain_s'))}), "
            f"**{_f(ds['ess_per_s'])}** | **{_f(ra['ess_per_s'])}** ({_f(ra.get('ess_per_s_vs_stan_chain_time'))}) | "
            f"{_f(ra['ess_per_1k_grad'])} | {_f(pk['total_s'])} / {_f(st['total_s'])}{c} | "
            f"{_f(pk['jit_s'])} / {_f(st['compile_s'])}{c} | {g} | {_f(pk['peak_rss_mb'])} / {_f(st['peak_rss_mb'])} | "
            f"{_converged(dp)} / {_converged(ds)} | {pk['divergent']} / {st['divergent']} |")
    if any(r["popkin"]["warm_s"] is None for r in data["rows"]):
        lines += ["", "\\* popkin's first run, compilation included (the run is not repeated for large N)."]
    if data.get("note"):
        lines += ["", f"_{data['note']}_"]
    for item in data.get("incomplete", []):
        lines += ["", f"- Not completed: {item['problem']}: {item['what']}"]
    if data.get("gpu"):
        lines += ["", f"- GPU: {data['gpu']}"]
    lines += ["", "Targets of the issue (measured, not asserted):", ""]
    any_target = False
    for r in data["rows"]:
        for name, t in (r.get("targets") or {}).items():
            any_target = True
            lines.append(f"- {r['problem']}: {name} {t['want']}: got {_f(t['got'])} -> "
                         f"{'**met**' if t['met'] else '**not met**'}")
    if not any_target:
        lines.append("- (no target problem in this run: the targets concern theoph and the N = 1000 problems)")
    return lines


def structural_table(data: dict) -> list[str]:
    lines = [f"### Structural models: popkin vs deSolve ({data['mode']})", ""] + _machine(data["machine"]) + [
        "", "| N subjects | model | popkin subject-timepoints/s | deSolve subject-timepoints/s | ratio | target | "
            "max rel. diff (first 5 subjects) | popkin compile (s) | peak RSS popkin / deSolve (MB) |",
        "|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        pk, ds = r["popkin"], r.get("desolve")
        if ds is None:
            lines.append(f"| {r['n_subjects']} | {r['model']} | {_f(pk['subject_timepoints_per_s'])} | | | | | "
                         f"{_f(pk['compile_s'])} | {_f(pk['peak_rss_mb'])} / |")
            continue
        ok = "**met**" if r.get("meets_target") else "**not met**"
        label = 'closed form' if r['model'] == 'lin' else 'MM ODE'
        engine = pk.get("engine", "")
        if "(" in engine and r["model"] != "lin":
            label += " " + engine.rsplit("(", 1)[1].rstrip(")").replace(" ODE", "")
        lines.append(f"| {r['n_subjects']:,} | {label} | "
                     f"{_f(pk['subject_timepoints_per_s'])} | {_f(ds['subject_timepoints_per_s'])} | "
                     f"**{_f(r.get('throughput_ratio'))}** | >= {_f(r.get('target_ratio'))}: {ok} | {_f(r.get('max_rel_diff_first5'))} | "
                     f"{_f(pk['compile_s'])} | {_f(pk['peak_rss_mb'])} / {_f(ds['peak_rss_mb'])} |")
    return lines


def sharding_table(data: dict) -> list[str]:
    lines = [f"### Subject sharding over devices ({data['mode']})", ""] + _machine(data["machine"]) + [
        "", f"_{data.get('note', '')}_", "",
        "| devices | subjects | log density + gradient (ms) | virtual patients | patients / s | peak RSS (MB) |",
        "|---|---|---|---|---|---|"]
    for r in data["rows"]:
        lines.append(f"| {r['devices']} | {r['n_subjects']} | {1000 * r['logdensity_grad_s']:.2f} | {r['n_patients']:,} | "
                     f"{_f(r['patients_per_s'])} | {_f(r['peak_rss_mb'])} |")
    chk = data.get("check")
    if chk:
        lines += ["", f"Equality with one device ({chk['devices']} devices, float64):", ""]
        for r in chk["log_density"]:
            lines.append(f"- log density {r['problem']} (N = {r['n_subjects']}): value rel. diff "
                         f"{r['value_rel_diff']:.1e}, gradient {r['grad_rel_diff']:.1e}"
                         + (f", several-hosts placement {r['local_rows_rel_diff']:.1e}" if "local_rows_rel_diff" in r else "")
                         + f"; collectives {r['collectives']}")
        for r in chk["predict"]:
            lines.append(f"- predictions {r['model']} ({r['n_patients']} patients padded to {r['padded_to']}): "
                         f"rel. diff {r['rel_diff']:.1e} over {r['output_shards']} shards")
    return lines


def simulation_table(data: dict) -> list[str]:
    lines = [f"### Simulation throughput ({data.get('mode')})", ""]
    if "machine" in data:
        lines += _machine(data["machine"]) + [""]
    rows = data.get("rows", [])
    if not rows:
        return lines + ["(no rows)"]
    keys = [k for k in rows[0] if not isinstance(rows[0][k], (dict, list))]
    lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_f(r.get(k)) if not isinstance(r.get(k), str) else r.get(k) for k in keys) + " |"
              for r in rows]
    return lines


def _rows_by(rows, *keys) -> dict:
    return {tuple(r.get(k) for k in keys): r for r in rows if "error" not in r}


def gpu_table(gpu: dict, results: dict) -> list[str]:
    """The GPU study (``benchmarks/gpu.py``) beside this CPU's numbers: the gradient cost
    measured the same way here (``gpu-cpu-reference``), the structural, simulation and
    NUTS studies' CPU rows at the same N."""
    m, steps = gpu.get("machine", {}), gpu["steps"]
    env = steps.get("env", {})
    v = env.get("versions", {})
    lines = ["### GPU (`python -m benchmarks.gpu`)", "",
             f"- Device: {env.get('nvidia_smi', env.get('device_kind'))}; host {m.get('cpu_model')}, "
             f"{m.get('logical_cpus')} logical CPUs",
             f"- jax {v.get('jax')}, numpyro {v.get('numpyro')}, diffrax {v.get('diffrax')}, Python "
             f"{m.get('python_versions', {}).get('python')}; float64 unless the row says float32",
             f"- Measured {m.get('timestamp')}; {gpu.get('note', '')}", ""]
    cpu_ref = results.get("gpu-cpu-reference", {}).get("steps", {}).get("gradient", {})
    grad = steps.get("gradient", {})
    if grad.get("rows"):
        cpu = _rows_by(cpu_ref.get("rows", []), "problem")
        lines += ["One value and gradient of the NUTS potential (ms; median of 30 compiled calls). GPU: "
                  f"{grad.get('chains_per_call')} chains in one call, as its vectorised chains run; CPU: one chain "
                  "on one core, as each of popkin's parallel CPU chains runs.", "",
                  "| problem | subjects | GPU ms | CPU ms | CPU / GPU |", "|---|---|---|---|---|"]
        for r in grad["rows"]:
            if "error" in r:
                lines.append(f"| {r.get('problem', '?')} | | failed: {r['error']} | | |")
                continue
            c = cpu.get((r["problem"],))
            lines.append(f"| {r['problem']} | {r['n_subjects']:,} | {1e3 * r['eval_s']:.2f} | "
                         f"{_f(1e3 * c['eval_s']) if c else 'n/a'} | "
                         f"{_f(c['eval_s'] / r['eval_s']) if c else 'n/a'} |")
        lines.append("")
    prec = steps.get("precision", {}).get("rows", [])
    f32 = grad.get("f32_vs_f64")
    if prec or f32:
        lines += ["float32 against float64 on the GPU:", ""]
        for r in prec:
            if "max_rel_diff_f32_vs_f64_first5" in r:
                lines.append(f"- {'closed form' if r['model'] == 'lin' else 'MM ODE'}, 56 BID doses, N = "
                             f"{r['n_subjects']:,}: max relative difference {r['max_rel_diff_f32_vs_f64_first5']:.1e} "
                             f"(first 5 subjects); float32 {r['f64']['seconds'] / r['f32']['seconds']:.1f}x as fast")
        if f32:
            lines.append(f"- NUTS potential, {grad['f32'].get('problem')}: value {f32['value_rel_diff']:.1e}, "
                         f"gradient {f32['grad_max_rel_diff']:.1e} (max relative); float32 "
                         f"{f32['eval_s_ratio_f64_over_f32']:.2f}x as fast")
        lines.append("")
    struct = steps.get("structural", {}).get("rows", []) + [
        dict(r["f64"], model=r["model"], n_subjects=r["n_subjects"]) for r in prec if "error" not in r.get("f64", {})]
    if struct:
        cpu = {(r["n_subjects"], r["model"]): r for r in results.get("structural", {}).get("rows", [])}
        lines += ["Structural models (subject-timepoints per second, solving only; same problem as the structural "
                  "study):", "", "| model | N | GPU | this CPU (structural study) | GPU / CPU | GPU compile s |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(struct, key=lambda r: (r["model"], r["n_subjects"])):
            if "error" in r:
                continue
            c = cpu.get((r["n_subjects"], r["model"]))
            rate = c["popkin"]["subject_timepoints_per_s"] if c else None
            lines.append(f"| {'closed form' if r['model'] == 'lin' else 'MM ODE (Tsit5)'} | {r['n_subjects']:,} | "
                         f"{_f(r['subject_timepoints_per_s'])} | {_f(rate)} | "
                         f"{_f(r['subject_timepoints_per_s'] / rate) if rate else 'n/a'} | {_f(r['compile_s'])} |")
        lines.append("")
    sim = steps.get("simulation", {}).get("rows", [])
    if sim:
        cpu = _rows_by(results.get("simulation", {}).get("rows", []), "model", "n")
        lines += ["Simulation to steady state (virtual patients per second):", "",
                  "| model | N | GPU | CPU (simulation study) | GPU / CPU | GPU first chunk s |",
                  "|---|---|---|---|---|---|"]
        for r in sim:
            if "error" in r:
                lines.append(f"| {r['model']} | {r['n']:,} | failed: {r['error']} | | | |")
                continue
            c = cpu.get((r["model"], r["n"]))
            lines.append(f"| {r['model']} | {r['n']:,} | {_f(r['patients_per_s'])} | "
                         f"{_f(c['patients_per_s']) if c else 'n/a'} | "
                         f"{_f(r['patients_per_s'] / c['patients_per_s']) if c else 'n/a'} | {_f(r['first_chunk_s'])} |")
        lines.append("")
    nuts = steps.get("nuts", {})
    if "diagnostics" in nuts:
        s = nuts["settings"]
        cpu_row = next((r for r in results.get("nuts", {}).get("rows", []) if r["problem"] == s["problem"]), None)
        lines += [f"NUTS on {s['problem']} ({s['chains']} chains x {s['warmup']} x {s['draws']}, seed {s['seed']}, "
                  "same data file, model and settings as the CPU study's row):", "",
                  "| engine | first fit s (compile included) | min bulk ESS | ESS/s | max R-hat (population) | converged |",
                  "|---|---|---|---|---|---|"]
        d = nuts["diagnostics"]
        lines.append(f"| popkin, GPU ({nuts['chain_method']} chains) | {_f(nuts['total_s'])} | "
                     f"{_f(d['min_ess_bulk'])} ({d['min_ess_param']}) | {_f(d['min_ess_bulk'] / nuts['total_s'])} | "
                     f"{d['max_rhat']:.3f} | {_converged(d)} |")
        if cpu_row:
            cpus = results["nuts"].get("machine", {}).get("cpus_available")
            for side, label in (("popkin", f"popkin, CPU ({cpus} cores)"), ("stan", f"Stan, CPU ({cpus} cores)")):
                x = cpu_row.get(side)
                if not x:
                    continue
                dd = x["diagnostics"]
                secs = x["total_s"] if side == "popkin" else x["chain_s"]
                what = "" if side == "popkin" else " (chain clock)"
                lines.append(f"| {label} | {_f(secs)}{what} | {_f(dd['min_ess_bulk'])} ({dd['min_ess_param']}) | "
                             f"{_f(dd['min_ess_bulk'] / secs)} | {dd['max_rhat']:.3f} | {_converged(dd)} |")
        lines.append("")
    return lines


# --------------------------------------------------------------------------- plots

def nuts_series(data: dict) -> dict:
    """problem -> (ESS/s ratio, total-time ratio, memory ratio) for rows with Stan."""
    return {r["problem"]: (r["ratios"]["ess_per_s"], r["ratios"]["total_time"], r["ratios"]["peak_memory"])
            for r in data["rows"] if "ratios" in r}


def structural_series(data: dict) -> dict:
    """(engine, model) -> ([N], [subject-timepoints/s])."""
    out: dict = {}
    for r in data["rows"]:
        for side in ("popkin", "desolve"):
            if side in r:
                xs, ys = out.setdefault((side, r["model"]), ([], []))
                xs.append(r["n_subjects"])
                ys.append(r[side]["subject_timepoints_per_s"])
    return out


def plot_nuts(data: dict, path: Path) -> Path | None:
    series = nuts_series(data)
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(series)
    vals = np.asarray([series[n] for n in names])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names)), 4))
    for k, (label, w) in enumerate((("min bulk-ESS/s", -0.25), ("first-fit wall time", 0.0), ("peak memory", 0.25))):
        ax.bar(x + w, vals[:, k], width=0.25, label=label)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("popkin / Stan")
    ax.set_title(f"NUTS, popkin / Stan ({data['mode']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_structural(data: dict, path: Path) -> Path | None:
    series = structural_series(data)
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (side, model), (xs, ys) in sorted(series.items()):
        ax.plot(xs, ys, marker="o", ls="-" if side == "popkin" else "--",
                label=f"{side} {'closed form' if model == 'lin' and side == 'popkin' else model}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subjects")
    ax.set_ylabel("subject-timepoints / s")
    ax.set_title(f"1-cpt oral BID x 56 doses, 100 times ({data['mode']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- document

def render(results: dict, mode: str) -> str:
    lines = [START, "", f"_Generated by `python -m benchmarks.report --mode {mode}` from benchmarks/results/*-{mode}.json "
                        f"(and the studies' own `<study>.json`)._", ""]
    if mode == "quick":
        lines += ["**These are `--quick` numbers: tiny settings run to validate the harness, on whatever load the "
                  "machine had. They are not the study; run `python -m benchmarks.run --full` on a quiet machine.**", ""]
    builders = (("nuts", nuts_table, plot_nuts, "nuts"), ("nuts-centred", nuts_table, None, None),
                ("structural", structural_table, plot_structural, "structural"),
                ("sharding", sharding_table, None, None), ("simulation", simulation_table, None, None))
    for study, table, plot, stem in builders:
        if study not in results:
            if study != "nuts-centred":   # optional: only when that study was run
                lines += [f"### {study}: no `{study}-{mode}.json` or `{study}.json` yet", ""]
            continue
        lines += table(results[study]) + [""]
        if plot:
            png = plot(results[study], RESULTS / f"{stem}-{mode}.png")
            if png:
                lines += [f"![{study} ({mode})](../benchmarks/results/{png.name})", ""]
    if "gpu" in results:   # optional: only once a GPU was lent
        lines += gpu_table(results["gpu"], results)
    lines.append(END)
    return "\n".join(lines)


def update_doc(mode: str, doc: Path = DOC, out_dir: Path = RESULTS) -> Path:
    block = render(load(mode, out_dir), mode)
    text = doc.read_text() if doc.is_file() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("quick", "full"), default=None,
                    help="which results to show (default: full if present, else quick)")
    args = ap.parse_args(argv)
    mode = args.mode or ("full" if list(RESULTS.glob("*-full.json")) else "quick")
    print(f"[report] updated {update_doc(mode)}")


if __name__ == "__main__":
    main()

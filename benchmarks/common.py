"""Shared pieces of the benchmark harness: the machine description, running one side of
a comparison in its own subprocess with its peak memory measured, and JSON results.

Peak memory. Every measured side runs in a fresh subprocess. A monitor thread samples
``/proc`` every ``MONITOR_INTERVAL`` seconds and records, over the process *tree* rooted at
that subprocess (rstan's parallel chains are separate R processes):

* ``peak_rss_mb``: the largest sum of resident set sizes seen at one sample;
* ``peak_hwm_mb``: the largest ``VmHWM`` (the kernel's exact per-process high-water mark)
  of any one process of the tree;

compilation subtrees (a compiler, a shell, ``R CMD SHLIB``) are left out, so that a compilation
inside a measured side (deSolve's ``R CMD SHLIB``) does not count as its memory; Stan's
model compilation runs in its own subprocess and is timed, not memory-compared.
``ru_maxrss_mb`` (``wait4``) is kept as a cross-check: it is the largest single process,
compilers included.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
CACHE = BENCH / ".cache"
WORK = BENCH / "work"
MONITOR_INTERVAL = 0.02
COMPILERS = {"gcc", "g++", "cc", "c++", "cc1", "cc1plus", "as", "ld", "collect2", "make", "sh", "bash", "x86_64-linux-gnu-g++",
             "x86_64-linux-gnu-gcc", "ld.bfd", "ld.gold"}


# --------------------------------------------------------------------------- machine

def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gb() -> float | None:
    m = re.search(r"MemTotal:\s+(\d+) kB", _read("/proc/meminfo"))
    return round(int(m.group(1)) / 2**20, 2) if m else None


def _python_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("jax", "jaxlib", "numpyro", "diffrax", "arviz", "numpy", "scipy", "pandas"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            out[name] = None
    try:
        import popkin

        out["popkin"] = popkin.__version__
    except Exception:  # noqa: BLE001
        out["popkin"] = None
    return out


_R_VERSIONS = None


def r_versions() -> dict:
    """R, rstan, StanHeaders (the Stan version), deSolve and the C++ compiler (cached)."""
    global _R_VERSIONS
    if _R_VERSIONS is not None:
        return _R_VERSIONS
    if shutil.which("Rscript") is None:
        _R_VERSIONS = {"R": None}
        return _R_VERSIONS
    code = ('v <- function(p) tryCatch(as.character(packageVersion(p)), error = function(e) "none"); '
            'cat(R.version.string, v("rstan"), v("StanHeaders"), v("deSolve"), sep = "\\n")')
    try:
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=120).stdout.split("\n")
    except (OSError, subprocess.TimeoutExpired):
        out = []
    out += [None] * 4
    cxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.split("\n")[0] \
        if shutil.which("g++") else None
    _R_VERSIONS = {"R": out[0], "rstan": out[1], "stan": out[2], "deSolve": out[3], "cxx": cxx}
    return _R_VERSIONS


def machine(with_r: bool = True) -> dict:
    """What the numbers were measured on: CPU, cores, memory, load, versions, devices."""
    info = {
        "hostname": platform.node(),
        "os": platform.platform(),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": memory_gb(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python_versions": _python_versions(),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        import jax

        info["jax_backend"] = jax.default_backend()
        info["jax_devices"] = [str(d) for d in jax.devices()]
    except Exception:  # noqa: BLE001
        pass
    if with_r:
        info["r_versions"] = r_versions()
    return info


# --------------------------------------------------------------------------- processes

def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        kids += [int(k) for k in _read(str(task / "children")).split()]
    return kids


def _excluded(pid: int) -> bool:
    """A compiler, a shell, or an ``R CMD SHLIB`` (these subtrees are compilation)."""
    name = _read(f"/proc/{pid}/comm").strip()
    return name in COMPILERS or "SHLIB" in _read(f"/proc/{pid}/cmdline")


def _tree(pid: int) -> list[int]:
    """The live processes of the tree rooted at ``pid``, compilation subtrees left out."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p != pid and _excluded(p):
            continue
        out.append(p)
        todo += _children(p)
    return out


def _status(pid: int) -> tuple[str, int, int]:
    """(command name, VmRSS kB, VmHWM kB) of a live process; ('', 0, 0) if gone."""
    text = _read(f"/proc/{pid}/status")
    name = re.search(r"^Name:\s+(\S+)", text, re.M)
    rss = re.search(r"^VmRSS:\s+(\d+)", text, re.M)
    hwm = re.search(r"^VmHWM:\s+(\d+)", text, re.M)
    return (name.group(1) if name else "", int(rss.group(1)) if rss else 0, int(hwm.group(1)) if hwm else 0)


@dataclass
class _Monitor:
    pid: int
    peak_rss_kb: int = 0
    hwm_kb: dict = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self):
        while not self.stop.is_set():
            total = 0
            for p in _tree(self.pid):
                name, rss, hwm = _status(p)
                if not name:
                    continue
                total += rss
                self.hwm_kb[p] = max(self.hwm_kb.get(p, 0), hwm)
            self.peak_rss_kb = max(self.peak_rss_kb, total)
            self.stop.wait(MONITOR_INTERVAL)


@dataclass
class Completed:
    """A finished measured subprocess."""

    cmd: list
    returncode: int
    wall_s: float
    peak_rss_mb: float
    peak_hwm_mb: float
    ru_maxrss_mb: float
    stdout: str
    stderr: str

    def memory(self) -> dict:
        return {"peak_rss_mb": round(self.peak_rss_mb, 1), "peak_hwm_mb": round(self.peak_hwm_mb, 1),
                "ru_maxrss_mb": round(self.ru_maxrss_mb, 1)}

    def check(self, what: str) -> "Completed":
        if self.returncode != 0:
            tail = "\n".join((self.stdout + "\n" + self.stderr).strip().splitlines()[-40:])
            raise RuntimeError(f"{what} failed (exit {self.returncode}): {' '.join(map(str, self.cmd))}\n{tail}")
        return self


def run_measured(cmd: list, env: dict | None = None, cwd=None, timeout: float | None = None) -> Completed:
    """Run ``cmd`` in a subprocess; wall time and peak memory (module docstring)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, cwd=cwd)
    mon = _Monitor(proc.pid)
    thread = threading.Thread(target=mon.run, daemon=True)
    thread.start()
    out_chunks, err_chunks = [], []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((proc.stdout, out_chunks), (proc.stderr, err_chunks))]
    for r in readers:
        r.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0) if timeout is None else _wait4_timeout(proc, timeout)
    finally:
        mon.stop.set()
        thread.join()
    wall = time.perf_counter() - t0
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Completed(cmd, proc.returncode, wall, mon.peak_rss_kb / 1024, max(mon.hwm_kb.values(), default=0) / 1024,
                     usage.ru_maxrss / 1024, "".join(out_chunks), "".join(err_chunks))


def _wait4_timeout(proc, timeout):
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return pid, status, usage
        if time.monotonic() > deadline:
            proc.kill()
            return os.wait4(proc.pid, 0)
        time.sleep(0.05)


def python_cmd(module: str, *args) -> list:
    """``python -m module args`` with this interpreter, run from the repository root."""
    return [sys.executable, "-m", module, *map(str, args)]


def python_env(host_devices: int | None = None, x64: bool = True) -> dict:
    """Environment of a popkin-side subprocess: the repository on the path, float64, and
    (CPU) as many XLA host devices as asked (for parallel chains or sharding)."""
    env = {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "POPKIN_BENCH_X64": "1" if x64 else "0"}
    if host_devices and host_devices > 1:
        flags = os.environ.get("XLA_FLAGS", "")
        flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", flags)
        env["XLA_FLAGS"] = (flags + f" --xla_force_host_platform_device_count={int(host_devices)}").strip()
    return env


# --------------------------------------------------------------------------- results

def write_json(path: Path, payload: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_default) + "\n")
    os.replace(tmp, path)
    return path


def _default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


def read_json_from_stdout(text: str, marker: str = "@@RESULT@@") -> dict:
    """The JSON a worker printed on a line starting with ``marker``."""
    for line in reversed(text.splitlines()):
        if line.startswith(marker):
            return json.loads(line[len(marker):])
    raise ValueError(f"no line starting with {marker} in the worker's output")


def emit(payload: dict, marker: str = "@@RESULT@@") -> None:
    """Print a worker's result for ``read_json_from_stdout``."""
    print(marker + json.dumps(payload, default=_default), flush=True)


def setup_jax(x64: bool | None = None):
    """Configure JAX in a worker process (before first use) and return the module."""
    import jax

    if x64 is None:
        x64 = os.environ.get("POPKIN_BENCH_X64", "1") == "1"
    jax.config.update("jax_enable_x64", bool(x64))
    return jax

"""Shared helpers for the benchmarks: timing, subprocess workers, tables, RSS.

Every benchmark runs each library in its own Python subprocess (so DyNet,
dynagraph and PyTorch never share a process, an allocator or a thread pool).
A worker prints one JSON line prefixed with ``RESULT `` on stdout; the parent
collects those lines and prints one table.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parent.parent
LIBS = ("dynagraph", "dynet", "torch")
RESULT_PREFIX = "RESULT "


# ---------------------------------------------------------------- finding dynagraph and the data

def dynagraph_on_path() -> None:
    """Makes ``import dynagraph`` work: the installed package, else this checkout (built in place).

    The checkout goes on sys.path only when nothing is installed: after ``pip install .`` its
    ``dynagraph/`` folder holds no compiled engine and would shadow the installed package."""
    import importlib.util
    if importlib.util.find_spec("dynagraph") is None:
        sys.path.insert(0, str(REPO))


def find_data(name: str, data_dir=None) -> Path:
    """Shared data set ``name`` by the examples' rule (``--data-dir``, ``$DYNAGRAPH_<NAME>_DIR``,
    ``../shared/data/<name>`` beside the checkout); raises DatasetMissing, whose one-line message
    says where to get it."""
    dynagraph_on_path()
    from dynagraph.data.sources import find_dataset
    return find_dataset(name, data_dir, checkout=REPO)


# ---------------------------------------------------------------- library setup (inside a worker)

def import_library(lib: str, mem_mb: int = 512, autobatch: bool = False):
    """Imports one library configured for single-threaded CPU benchmarking
    (DyNet and dynagraph with their autobatching executor when asked)."""
    if lib == "dynagraph":
        dynagraph_on_path()
        import dynagraph as dy
        dy.init(seed=1, autobatch=autobatch)
        return dy
    if lib == "dynet":
        import dynet_config
        dynet_config.set(mem=str(mem_mb), random_seed=1, autobatch=int(autobatch))
        import dynet as dy
        return dy
    if lib == "torch":
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        import torch
        torch.set_num_threads(1)
        torch.manual_seed(1)
        return torch
    raise ValueError(f"unknown library {lib!r}")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(result: dict) -> None:
    """Worker side: hands one result dict back to the parent."""
    result.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# ---------------------------------------------------------------- timing

def time_blocks(step: Callable[[], None], target_s: float = 0.25, repeats: int = 7,
                warmup_s: float = 0.2, max_iters: int = 1 << 20) -> tuple[list[float], int]:
    """Seconds per call of ``step`` for ``repeats`` timed blocks.

    Warms up for ``warmup_s``, calibrates a block length so one block takes
    about ``target_s``, then returns (per-call seconds of each block, calls per block).
    """
    t_end = time.perf_counter() + warmup_s
    n = 0
    while time.perf_counter() < t_end or n < 3:
        step()
        n += 1
    iters = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        dt = time.perf_counter() - t0
        if dt >= target_s / 4 or iters >= max_iters:
            break
        iters *= 2
    iters = max(1, min(max_iters, int(iters * target_s / max(dt, 1e-9))))
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        out.append((time.perf_counter() - t0) / iters)
    return out, iters


def time_passes(step: Callable[[object], object], units: Sequence, repeats: int,
                warmup: int = 1, cpu_secs: list | None = None) -> tuple[list[float], list]:
    """Seconds of each of ``repeats`` timed passes of ``step`` over ``units``.

    Runs ``step`` on the first ``warmup`` units first (untimed). Returns the
    seconds per pass and what ``step`` returned for each unit of the last pass
    (the losses, for the sanity line). When ``cpu_secs`` is a list, the
    process's CPU seconds (all its threads) of each timed pass are appended to
    it: the warm-up's first-touch page faults stay out of them.
    """
    for unit in units[:warmup]:
        step(unit)
    secs, out = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = [step(unit) for unit in units]
        secs.append(time.perf_counter() - t0)
        if cpu_secs is not None:
            cpu_secs.append(time.process_time() - c0)
    return secs, out


def median(xs: Iterable[float]) -> float:
    return statistics.median(list(xs))


# ---------------------------------------------------------------- parent side

def run_worker(script: Path, args: Sequence[str], timeout: float = 900.0) -> list[dict]:
    """Runs ``python script args`` and returns the RESULT dicts it printed.

    A failing worker yields one dict with an ``error`` key (the table shows it)
    instead of aborting the whole benchmark.
    """
    cmd = [sys.executable, str(script), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO))
    except subprocess.TimeoutExpired:
        return [{"error": f"timeout after {timeout:.0f}s: {' '.join(args)}"}]
    results = [json.loads(line[len(RESULT_PREFIX):]) for line in p.stdout.splitlines()
               if line.startswith(RESULT_PREFIX)]
    if p.returncode != 0 or not results:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        results.append({"error": f"worker {' '.join(args)} exited {p.returncode}: {' | '.join(tail)}"})
    return results


def machine_line() -> str:
    """One-line summary of the machine and its current load."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}; {os.cpu_count()} logical CPUs; load average {load}; "
            f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M')}")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, first column left-aligned, the rest right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(r):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def fmt_num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}".rstrip("0").rstrip(".") if x < 1 else f"{x:.2f}"


def ratio(peer: float | None, ours: float | None, lower_is_better: bool = True) -> str:
    """How many times faster dynagraph is than a peer ('1.50x' = 1.5x faster)."""
    if not peer or not ours:
        return "-"
    r = peer / ours if lower_is_better else ours / peer
    return f"{r:.2f}x"


# ---------------------------------------------------------------- plots

def plot_throughput(series: dict[str, dict[int, float]], path: Path, *, xlabel: str, ylabel: str,
                    title: str, dashed: Iterable[str] = (), flat: dict[str, float] | None = None) -> bool:
    """Throughput against batch size on log-log axes: one line per entry of
    ``series`` (label -> {size: rate}); ``flat`` draws a rate that does not
    depend on the size (an unbatched baseline) as a dotted horizontal line.
    Lines whose labels start with the same word (the library) share a colour
    and differ in their markers. Returns False, with a message, when
    matplotlib is not installed (the figures are printed and saved anyway)."""
    import math

    try:
        import matplotlib
    except ImportError:
        print(f"matplotlib is not installed (pip install matplotlib, or the 'compare' extra): no plot written to {path}")
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    dashed = set(dashed)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    sizes = sorted({s for pts in series.values() for s in pts})
    colours: dict[str, str] = {}

    def colour(label: str) -> str:
        return colours.setdefault(label.split()[0], f"C{len(colours)}")

    used: dict[str, int] = {}  # library -> lines drawn in its colour so far
    for label, pts in series.items():
        xs = sorted(pts)
        if xs:
            n = used[label.split()[0]] = used.get(label.split()[0], -1) + 1
            ax.plot(xs, [pts[x] for x in xs], marker="osD^v"[n % 5], label=label, color=colour(label),
                    linestyle="--" if label in dashed else "-")
    for label, r in (flat or {}).items():
        ax.axhline(r, linestyle=":", color=colour(label), label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(  # label the minor ticks 2x and 5x only
        lambda v, _: f"{v:,.0f}" if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True

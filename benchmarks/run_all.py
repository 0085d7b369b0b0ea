"""Runs every benchmark in benchmarks/ and prints their tables.

    python benchmarks/run_all.py            # full runs
    python benchmarks/run_all.py --quick    # fewer repeats (a smoke test, ~3 minutes)
    python benchmarks/run_all.py --only treenn

A benchmark is a module here with a ``main(argv)`` that prints its own table;
each spawns one subprocess per library, so this process imports none of them.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

# Order matters only for reading the output.
BENCHMARKS = ["graph_overhead", "treenn", "bilstm_tagger", "rnnlm_batch"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    ap.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run just these")
    a = ap.parse_args(argv)
    names = a.only or BENCHMARKS
    print(common.machine_line(), flush=True)
    for name in names:
        t0 = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        mod = importlib.import_module(name)
        mod.main(["--quick"] if a.quick else [])
        print(f"({name}: {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

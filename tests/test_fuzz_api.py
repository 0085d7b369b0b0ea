"""Runs the API fuzzer (tests/fuzz_api.py) in a subprocess, so that a crash is
seen as a signal instead of taking pytest down with it.

DYNAGRAPH_FUZZ_CALLS (default 10000) and DYNAGRAPH_FUZZ_SEED (default 1) set
the run; e.g. ``DYNAGRAPH_FUZZ_CALLS=100000 DYNAGRAPH_FUZZ_SEED=7 pytest
tests/test_fuzz_api.py`` for a longer one.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

FUZZER = Path(__file__).resolve().parent / "fuzz_api.py"


def _last_calls(log: Path, n: int = 5) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:])


def test_fuzz_public_api_in_subprocess(tmp_path):
    calls = int(os.environ.get("DYNAGRAPH_FUZZ_CALLS", "10000"))
    seed = int(os.environ.get("DYNAGRAPH_FUZZ_SEED", "1"))
    log = tmp_path / "calls.log"
    # The fuzzer's working folder is tmp_path: calls given a random string as a
    # file name (save, dump_cg) write there.
    proc = subprocess.run([sys.executable, str(FUZZER), "--calls", str(calls), "--seed", str(seed), "--log", str(log)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=max(600, calls // 10))
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise AssertionError(f"the fuzzer died of {name}; its last calls:\n{_last_calls(log)}\n{proc.stderr[-3000:]}")
    assert proc.returncode == 0, f"fuzzer failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    done = log.read_text().splitlines()[-1]
    assert done.startswith("done:") and f"'calls': {calls}" in done, done

"""Runs the API fuzzer (tests/api/fuzz_api.py) in a subprocess, so that a crash is
seen as a signal instead of taking pytest down with it.

DYNAGRAPH_FUZZ_CALLS (default 10000) and DYNAGRAPH_FUZZ_SEED (default 1) set
the run; e.g. ``DYNAGRAPH_FUZZ_CALLS=100000 DYNAGRAPH_FUZZ_SEED=7 pytest
tests/api/test_fuzz_api.py`` for a longer one.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz_api import check_exception

FUZZER = Path(__file__).resolve().parent / "fuzz_api.py"


def run_fuzzer(folder: Path, calls: int, seed: int, *extra: str) -> str:
    """Runs the fuzzer; returns its log's last line, or raises AssertionError
    naming the signal and the last calls when it crashed."""
    log = folder / "calls.log"
    # Its working folder is `folder`: calls given a random string as a file name
    # (save, dump_cg) write there.
    proc = subprocess.run([sys.executable, str(FUZZER), "--calls", str(calls), "--seed", str(seed),
                           "--log", str(log), *extra],
                          cwd=folder, capture_output=True, text=True, timeout=max(600, calls // 10))
    lines = log.read_text(errors="replace").splitlines() if log.exists() else ["(no log)"]
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise AssertionError(f"the fuzzer died of {name}; its last calls:\n" + "\n".join(lines[-5:]))
    assert proc.returncode == 0, f"fuzzer failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return lines[-1]


def test_fuzz_public_api_in_subprocess(tmp_path):
    calls = int(os.environ.get("DYNAGRAPH_FUZZ_CALLS", "10000"))
    seed = int(os.environ.get("DYNAGRAPH_FUZZ_SEED", "1"))
    done = run_fuzzer(tmp_path, calls, seed)
    assert done.startswith("done:") and f"'calls': {calls}," in done, done


@pytest.mark.parametrize("mode", [["--autobatch"], ["--device", "EMU:0"], ["--autobatch", "--device", "EMU:0"]],
                         ids=["autobatch", "emu", "autobatch-emu"])
def test_fuzz_under_autobatching_and_on_the_emulated_device(tmp_path, mode):
    # probe27: the same calls under the autobatching executor and with inputs and
    # parameters on EMU:0 (a non-UTF-8 name in a message was found this way).
    calls = int(os.environ.get("DYNAGRAPH_FUZZ_CALLS", "10000")) // 5
    done = run_fuzzer(tmp_path, calls, 21, *mode)
    assert done.startswith("done:") and f"'calls': {calls}," in done, done


def test_a_crash_is_reported_with_the_call_that_crashed(tmp_path):
    with pytest.raises(AssertionError, match=r"died of SIGSEGV; its last calls:\n(.|\n)*\w+\(") as info:
        run_fuzzer(tmp_path, 50, 1, "--crash-at", "20")
    assert len(str(info.value).splitlines()) >= 3


@pytest.mark.parametrize("exc", [KeyError("zeros"), AttributeError("zeros: no attribute"),
                                 TypeError("Unable to cast Python instance to C++ type '?'"),
                                 MemoryError(), MemoryError("zeros: out of memory"), ZeroDivisionError("zeros")])
def test_the_checker_refuses_unclear_errors(exc):
    with pytest.raises(AssertionError):
        check_exception(exc, ["zeros"], "zeros(...)")


@pytest.mark.parametrize("exc", [TypeError("zeros: argument 'dim[0]' must be an int, got float 2.5"),
                                 ValueError("zeros(): incompatible function arguments"),
                                 MemoryError("zeros: Unable to allocate 32.0 GiB")])
def test_the_checker_accepts_clear_errors(exc):
    check_exception(exc, ["zeros"], "zeros(...)")

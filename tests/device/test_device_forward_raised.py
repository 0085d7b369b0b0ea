"""A forward that raised part way (a device MemoryError under a budget), then run
again: the node whose op raised must stay unevaluated, so the next forward runs it
again and raises again, never reading its empty value (the per-node executor
counted it as evaluated and the second ``value()`` died with SIGSEGV). Run in a
child process so a crash fails this test instead of ending the session."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import dynagraph as dy
    dy.init(seed=11, device="EMU:0", device_mem=60 * 1024, memory_policy="swap", prefetch=4)
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((400, 32))
    Wx, Wh = pc.add_parameters((32, 32)), pc.add_parameters((32, 32))
    dy.renew_cg(autobatching=sys.argv[1] == "1")
    x = dy.inputTensor(np.full((32, 32), 0.1), batched=True)
    h, hs = x, []
    for k in range(16):
        h = dy.tanh(Wx * dy.lookup_batch(E, list(range(k, k + 32))) + Wh * h)
        hs.append(h)
    s = dy.esum(hs)
    loss = dy.sum_batches(dy.sum_elems(s))
    for attempt in range(3):
        try:
            loss.value()
            print("value")
        except MemoryError as e:
            print("MemoryError")
    try:
        s.npvalue()
        print("value")
    except MemoryError:
        print("MemoryError")
""")


@pytest.mark.parametrize("autobatching", ["0", "1"], ids=["per-node", "batched"])
def test_a_forward_that_raised_raises_again_instead_of_crashing(autobatching):
    r = subprocess.run([sys.executable, "-c", SCRIPT, autobatching], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"rc {r.returncode}: {r.stderr[-2000:]}"
    lines = r.stdout.split()
    # The 60 KiB budget cannot hold this graph's working set: every attempt raises the
    # same clear error (not a crash, not a value computed from an empty node).
    assert lines == ["MemoryError"] * 4, r.stdout

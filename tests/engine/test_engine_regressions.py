"""Engine crashes found while building the model side (builders, Tree-LSTM example)."""
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dynagraph as dy


def test_backward_without_parameters_is_a_no_op():
    for autobatch in (False, True):
        dy.renew_cg(autobatching=autobatch)
        loss = dy.sum_elems(dy.inputVector([1.0, 2.0]) * 2.0)
        assert loss.value() == 6.0
        loss.backward()                  # used to write the seed gradient through a null buffer
    dy.renew_cg(autobatching=False)


def test_autobatch_value_of_an_already_computed_node():
    pc = dy.ParameterCollection()
    W = pc.add_parameters((3, 2))
    dy.renew_cg(autobatching=True)
    outs = [W * dy.inputVector([1.0, float(i)]) for i in range(3)]
    dy.forward(outs)
    w = W.as_array()
    for i in (2, 0, 1):                  # asking for an earlier node used to allocate ~4 GiB
        np.testing.assert_allclose(outs[i].npvalue(), w @ [1.0, i], atol=1e-5)
    dy.renew_cg(autobatching=False)


def test_parameter_shape():
    p = dy.ParameterCollection().add_parameters((5, 3))
    assert p.shape() == (5, 3)           # used to read a destroyed temporary tuple


# ---- thread counts (probe27): set_num_threads(10**6) was accepted, and the pool then
# started OS threads until the OS refused; a refused thread escaped the pool's constructor.
def test_set_num_threads_refuses_counts_beyond_the_engines_most():
    old = dy.get_num_threads()
    for n in (1025, 10**6):
        with pytest.raises(ValueError, match=rf"set_num_threads: the thread count must be <= 1024, got {n}"):
            dy.set_num_threads(n)
    assert dy.get_num_threads() == old


def test_threads_the_os_refuses_are_an_error_and_fewer_then_work():
    # In a child whose address space leaves room for a few dozen thread stacks only.
    code = textwrap.dedent("""
        import resource
        import dynagraph as dy
        from dynagraph import _core
        with open("/proc/self/status") as f:
            vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.getrlimit(resource.RLIMIT_AS)[1]))
        dy.set_num_threads(1024)
        try:
            _core._pool_handoff_ns(2, 4)
        except RuntimeError as exc:
            print("RuntimeError:", exc)
        dy.set_num_threads(2)
        print("then:", _core._pool_handoff_ns(2, 4) > 0)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.match(r"RuntimeError: .*set_num_threads: the engine could start only \d+ of its 1024 threads", lines[0]), \
        out.stdout
    assert lines[1] == "then: True"

"""Parameter initialisation as DyNet does it: the default Glorot bound for every
shape, the named initialisers of add_parameters, and what ``scale`` touches.

Large tensors make the sample extremes and deviations match the distribution's
to well under the tolerances used here; each case is also compared with dynet38.
"""
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dynagraph as dy


def glorot_bound(axes):
    if len(axes) == 4:
        return math.sqrt(6.0 / (axes[0] * axes[1] * (axes[2] + axes[3])))
    return math.sqrt(3.0 * len(axes) / sum(axes))


CASES = [  # (kind, shape, kwargs, statistic, expected)
    ("param", (300,), {}, "max", glorot_bound((300,))),
    ("param", (200, 400), {}, "max", glorot_bound((200, 400))),
    ("param", (3, 5, 7, 11), {}, "max", glorot_bound((3, 5, 7, 11))),    # a convolution filter
    ("param", (20, 30, 40), {}, "max", glorot_bound((20, 30, 40))),
    ("param", (200, 400), {"scale": 5.0}, "max", glorot_bound((200, 400))),  # scale is for "uniform" only
    ("lookup", (400, 200), {}, "max", glorot_bound((400, 200))),          # the row count counts
    ("lookup", (1000, 3, 4), {}, "max", glorot_bound((1000, 3, 4))),
    ("lookup", (1000, 3, 4), {"init": dy.GlorotInitializer(is_lookup=True)}, "max", glorot_bound((3, 4))),
    ("param", (200, 400), {"init": dy.GlorotInitializer(gain=2.0)}, "max", 2 * glorot_bound((200, 400))),
    # is_lookup on a parameter: DyNet leaves out its tensor's last axis (was: the first)
    ("param", (200, 400), {"init": dy.GlorotInitializer(is_lookup=True)}, "max", glorot_bound((200,))),
    ("param", (20, 30, 40), {"init": dy.GlorotInitializer(is_lookup=True)}, "max", glorot_bound((20, 30))),
    ("param", (200, 400), {"init": "glorot"}, "max", glorot_bound((200, 400))),
    ("param", (200, 400), {"init": "uniform", "scale": 0.5}, "max", 0.5),
    ("param", (200, 400), {"init": "normal", "mean": 1.0, "std": 0.1}, "std", 0.1),
    ("param", (200, 400), {"init": "he"}, "std", math.sqrt(1 / (2 * 400))),
    ("lookup", (400, 200), {"init": "he"}, "std", math.sqrt(1 / (2 * 200))),
]


def _stat(values, statistic):
    return float(np.abs(values).max()) if statistic == "max" else float(values.std())


def _make(lib, kind, shape, kwargs):
    pc = lib.ParameterCollection()
    if lib is not dy and isinstance(kwargs.get("init"), dy.GlorotInitializer):
        g = kwargs["init"]
        kwargs = dict(kwargs, init=lib.GlorotInitializer(is_lookup=g.is_lookup, gain=g.gain))
    add = pc.add_parameters if kind == "param" else pc.add_lookup_parameters
    return np.asarray(add(shape, **kwargs).as_array())


@pytest.mark.parametrize("kind,shape,kwargs,statistic,expected", CASES,
                         ids=[f"{c[0]}{c[1]}{sorted(c[2])}" for c in CASES])
def test_initial_values_follow_dynet(kind, shape, kwargs, statistic, expected):
    dy.init(seed=11)
    ours = _stat(_make(dy, kind, shape, kwargs), statistic)
    assert ours == pytest.approx(expected, rel=0.02)
    if statistic == "max":
        assert ours <= expected * (1 + 1e-6)
    dynet = pytest.importorskip("dynet")
    assert ours == pytest.approx(_stat(_make(dynet, kind, shape, kwargs), statistic), rel=0.03)


def test_named_and_numeric_inits():
    pc = dy.ParameterCollection()
    np.testing.assert_array_equal(pc.add_parameters(3, init=2, scale=5.0).as_array(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(pc.add_parameters((3, 3), init="identity").as_array(), np.eye(3))
    assert pc.add_lookup_parameters(7).shape() == (7, 1)
    assert pc.add_parameters(2, init="normal").as_array().shape == (2,)
    before = len(pc.parameters_list())
    with pytest.raises(ValueError, match="Didn't recognize initializer 'saxe'"):
        pc.add_parameters((2, 2), init="saxe")
    with pytest.raises(TypeError, match="init must be"):
        pc.add_parameters(2, init=True)
    with pytest.raises(RuntimeError, match="Invalid device name: GPU:0"):
        pc.add_parameters(2, device="GPU:0")
    assert len(pc.parameters_list()) == before  # a refused parameter is not half-made


# ---- only real numbers initialise parameters (probe27): NumPy dropped a complex part with a warning
@pytest.mark.parametrize("value", [np.array([1 + 2j, 3.0]), np.array([None, 1.0]), ["a", "b"]])
def test_initial_values_must_be_real_numbers(value):
    pc = dy.ParameterCollection()
    for make, fn in ((lambda: dy.NumpyInitializer(value), "NumpyInitializer"),
                     (lambda: pc.parameters_from_numpy(value), "parameters_from_numpy"),
                     (lambda: pc.lookup_parameters_from_numpy(np.stack([value, value])), "lookup_parameters_from_numpy")):
        with pytest.raises(TypeError, match=rf"{fn}: argument 'array' must be an array or \(nested\) list of real"):
            make()
    lp = pc.add_lookup_parameters((2, 2))
    with pytest.raises(TypeError, match="init_row: argument 'row' must be a NumPy array or a .* real numbers"):
        lp.init_row(0, value)


def test_init_row_takes_lists_and_real_arrays_of_any_dtype_and_stride():
    lp = dy.ParameterCollection().add_lookup_parameters((2, 3))
    lp.init_row(1, [1, 2.5, 3])
    lp.init_row(0, np.arange(6, dtype=np.int8)[::2])
    np.testing.assert_array_equal(lp.as_array(), [[0, 2, 4], [1, 2.5, 3]])
    with pytest.raises(ValueError, match=r"row must be a list or 1-D array, got shape \(1, 3\)"):
        lp.init_row(0, np.ones((1, 3)))
    with pytest.raises(ValueError, match="row has 2 values, needs 3"):
        lp.init_row(0, [1.0, 2.0])


def test_a_parameter_whose_creation_cannot_fit_is_a_memory_error_before_allocating():
    # probe27: a shape whose float32 value fits the physical memory passed the engine's
    # check, and its value, gradient and float64 initial values then got the process
    # killed (SIGKILL, no error). Run in a child with its address space capped, so a
    # regression is an unnamed MemoryError there rather than a machine out of memory.
    code = textwrap.dedent("""
        import os, resource
        import dynagraph as dy
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        rows = physical // 10 // 1024  # value and gradient: 0.8 of the memory (the engine allows it)
        soft = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/status") as f:
            vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), soft[1]))
        pc = dy.ParameterCollection()
        for make in (lambda: pc.add_parameters((rows, 1024)), lambda: pc.add_lookup_parameters((rows, 1024))):
            try:
                make()
            except MemoryError as exc:
                print("MemoryError:", exc)
        print(len(pc.parameters_list()), len(pc.lookup_parameters_list()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("MemoryError: ParameterCollection.add_parameters") and "GiB to create" in lines[0], out.stdout
    assert lines[1].startswith("MemoryError: ParameterCollection.add_lookup_parameters") and "GiB to create" in lines[1]
    assert lines[2] == "0 0"

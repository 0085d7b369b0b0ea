"""A hypothesis fuzzer over dynagraph's public functions and methods (issue 20).

Every call gets random arguments of every kind (None, bools, ints from 0 to
2**100 and negative, floats with nan/inf, strings, nested lists, NumPy arrays
of several dtypes and shapes, expressions of random shapes and batch sizes,
stale expressions, parameters). A call may succeed or raise; a raised error
must be a TypeError, ValueError, IndexError, OverflowError or RuntimeError
(a MemoryError only with a size in its message) whose message names the
function. A crash (a signal) is what the caller, tests/api/test_fuzz_api.py, detects:
this script runs in a subprocess and writes each call to a log file before
making it, so the call that crashed is the log's last line.

    python tests/api/fuzz_api.py --calls 10000 --seed 1 --log /tmp/fuzz.log

The address space is capped (RLIMIT_AS), so a huge allocation is a
MemoryError rather than a machine out of memory; shapes it builds on purpose
stay small.
"""
from __future__ import annotations

import argparse
import inspect
import os
import re
import resource
import signal
import sys
import warnings

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ALLOWED = (TypeError, ValueError, IndexError, OverflowError, RuntimeError)
# Names not called, and why.
SKIPPED = {
    "load_generator": "a generator: its body runs only when iterated (load itself is fuzzed)",
    "print_graphviz": "prints the whole graph to stdout (graph_tools' own tests cover it)",
    "GRUBuilder.set_dropout_masks": "an AttributeError on purpose: DyNet's GRUBuilder has no such method",
}
BIG_INTS = [2**31 - 1, 2**31, 2**32, 2**32 + 3, 2**33, 2**63 - 1, 2**63, 2**100, -1, -(2**31), -(2**63)]
SMALL_SHAPES = [(1,), (2,), (3,), (4,), (2, 3), (3, 2), (3, 3), (2, 2, 2), (1, 4), (4, 1), (2, 3, 2), (2, 2, 2, 2)]


def limit_memory(extra_bytes: int) -> None:
    """Caps the address space at what is mapped now plus `extra_bytes`."""
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + extra_bytes, vm + extra_bytes))


# ---- argument specs: plain data drawn by hypothesis, turned into objects per call
def _arrays():
    dtypes = st.sampled_from(["float32", "float64", "int64", "int8", "uint8", "bool", "complex64", "object",
                              "<U3", "float16"])
    shapes = st.sampled_from([(), (0,), (1,), (3,), (2, 3), (3, 2), (2, 3, 2), (1, 1, 1, 1, 1), (0, 3), (4, 4)])
    fill = st.sampled_from([0.0, 1.5, -2.0, float("nan"), float("inf"), 1e30, 7.0])
    return st.tuples(st.just("array"), dtypes, shapes, fill)


def _expr_specs():
    return st.tuples(st.sampled_from(["expr", "expr", "expr", "stale", "param", "lookup"]),
                     st.sampled_from(SMALL_SHAPES), st.sampled_from([1, 1, 2, 3]))


def _scalars():
    return st.one_of(
        st.none(), st.booleans(),
        st.integers(-3, 5), st.sampled_from(BIG_INTS),
        st.sampled_from([0.0, 0.5, 1.5, -1.0, 2.5, float("nan"), float("inf"), float("-inf"), 1e30, 1e-30]),
        st.sampled_from(["", "x", "zero_gradient", "straight_through_gradient", "height", "CPU", "GPU:0",
                         "a\x00b", "\u00e9", "/"]),
        st.sampled_from([b"", b"\xff\xfe"]),
    )


def _args():
    leaf = st.one_of(_scalars(), _arrays(), _expr_specs())
    lists = st.one_of(
        st.lists(st.integers(-2, 5), max_size=5).map(lambda v: ("list", v)),
        st.lists(st.sampled_from([0.5, 1.5, float("nan")]), max_size=4).map(lambda v: ("list", v)),
        st.lists(_expr_specs(), min_size=1, max_size=4).map(lambda v: ("exprlist", v)),
        st.lists(st.lists(st.integers(-1, 3), max_size=3), max_size=3).map(lambda v: ("list", v)),
        st.lists(_scalars(), max_size=3).map(lambda v: ("list", v)),
        st.sampled_from([("list", [1, "a"]), ("list", [None]), ("list", [[1, 2], [3]]), ("tuple", (2, 2.5)),
                         ("list", [2**40]), ("dict", {"a": 1})]),
    )
    return st.one_of(leaf, leaf, lists)


def _call_args():
    """Half the calls get anything; half an expression first and plausible values after
    (small ints, expressions, short int lists), to get past the type checks into
    the shape rules and the kernels."""
    plausible = st.one_of(st.integers(-1, 4), _expr_specs(), st.sampled_from([0.5, 0.0, True, "zero_gradient"]),
                          st.lists(st.integers(0, 3), min_size=1, max_size=3).map(lambda v: ("list", v)),
                          st.sampled_from([65535, 2**31 - 1, -(2**31)]))
    return st.one_of(st.lists(_args(), max_size=4),
                     st.tuples(_expr_specs(), st.lists(plausible, max_size=3)).map(lambda t: [t[0], *t[1]]))


class World:
    """What the specs refer to: the current graph's expressions, parameters, and stale ones."""

    def __init__(self, dy):
        self.dy = dy
        self.pc = dy.ParameterCollection()
        self.params = {s: self.pc.add_parameters(s) for s in SMALL_SHAPES}
        self.lookups = {s: self.pc.add_lookup_parameters((4,) + s) for s in SMALL_SHAPES[:6]}
        self.stale = []

    def renew(self):
        dy = self.dy
        self.stale = [dy.ones(s) for s in SMALL_SHAPES[:4]]
        dy.renew_cg()
        # Expressions built after a checkpoint and dropped by the revert: stale too.
        dy.ones((2,))
        dy.cg_checkpoint()
        self.stale += [dy.ones(s) * 2 for s in SMALL_SHAPES[:2]]
        dy.cg_revert()

    def make(self, spec):
        dy = self.dy
        if not isinstance(spec, tuple) or not spec or not isinstance(spec[0], str):
            return spec
        kind = spec[0]
        if kind == "array":
            _, dtype, shape, fill = spec
            if dtype == "object":
                return np.full(shape, None, dtype=object)
            if dtype == "<U3":
                return np.full(shape, "ab", dtype=dtype)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return np.full(shape, fill).astype(dtype)
        if kind == "expr":
            _, shape, batch = spec
            return dy.random_normal(shape, batch_size=batch)
        if kind == "stale":
            return self.stale[hash(spec[1]) % len(self.stale)]
        if kind == "param":
            return self.params[spec[1]]
        if kind == "lookup":
            return self.lookups[SMALL_SHAPES[hash(spec[1]) % 6]]
        if kind == "list":
            return [self.make(v) for v in spec[1]]
        if kind == "tuple":
            return tuple(spec[1])
        if kind == "dict":
            return dict(spec[1])
        if kind == "exprlist":
            return [self.make(v) for v in spec[1]]
        return spec


# ---- targets
def public_functions(dy, core) -> list:
    """(name, callable) for every public function: dir(dynagraph) and the op table's names."""
    names = {n for n in dir(dy) if not n.startswith("_")}
    names |= {op["name"] for op in core.op_table() if hasattr(dy, op["name"])}
    out = []
    for name in sorted(names):
        obj = getattr(dy, name)
        if inspect.ismodule(obj) or inspect.isclass(obj) or not callable(obj) or name in SKIPPED:
            continue
        out.append((name, obj))
    return out


def receivers(dy, world) -> dict:
    """Class name -> a function making a fresh instance whose methods are fuzzed."""
    pc = world.pc

    def expression():
        return dy.random_normal((3, 2), batch_size=2)

    def rnn_state():
        return dy.LSTMBuilder(1, 3, 4, pc).initial_state()

    return {
        "Expression": expression,
        "Parameters": lambda: world.params[(3, 3)],
        "LookupParameters": lambda: world.lookups[(3,)],
        "ParameterCollection": lambda: pc,
        "ComputationGraph": dy.cg,
        "SimpleSGDTrainer": lambda: dy.SimpleSGDTrainer(pc),
        "AdamTrainer": lambda: dy.AdamTrainer(pc),
        "MomentumSGDTrainer": lambda: dy.MomentumSGDTrainer(pc),
        "SimpleRNNBuilder": lambda: dy.SimpleRNNBuilder(1, 3, 4, pc),
        "LSTMBuilder": lambda: dy.LSTMBuilder(2, 3, 4, pc),
        "GRUBuilder": lambda: dy.GRUBuilder(1, 3, 4, pc),
        "BiRNNBuilder": lambda: dy.BiRNNBuilder(1, 3, 4, pc, dy.LSTMBuilder),
        "RNNState": rnn_state,
        "Tensor": lambda: expression().tensor_value(),
    }


def public_methods(cls) -> list:
    out = []
    for name in sorted(dir(cls)):
        if name.startswith("_") and name not in ("__getitem__", "__call__"):
            continue
        attr = inspect.getattr_static(cls, name, None)
        if isinstance(attr, property) or not callable(getattr(cls, name, None)):
            continue
        if name in ("save", "populate", "write_to_textfile", "populate_from_textfile", "load_param",
                    "load_lookup_param", "status"):
            continue  # file I/O and stderr printing: fuzzed as module functions' paths elsewhere
        out.append(name)
    return out


# ---- checking one outcome
def names_function(message: str, names) -> bool:
    return any(re.search(r"(?<![A-Za-z0-9_])" + re.escape(n) + r"(?![A-Za-z0-9_])", message) for n in names)


def check_exception(exc: BaseException, names, call: str) -> None:
    message = str(exc)
    if isinstance(exc, OSError) and exc.errno is not None and exc.filename is not None:
        return  # the file system's own error (a missing file), naming the file: the documented kind for I/O
    if isinstance(exc, MemoryError):
        assert re.search(r"\d", message) and names_function(message, names), \
            f"{call}: MemoryError without a size or the function's name: {message!r}"
        return
    assert isinstance(exc, ALLOWED), f"{call}: raised {type(exc).__name__}: {message!r}"
    assert names_function(message, names), f"{call}: {type(exc).__name__} does not name {names[0]}: {message!r}"


def describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"np.ndarray(dtype={value.dtype}, shape={value.shape})"
    if type(value).__name__ == "Expression":
        try:
            return f"Expression{value.dim()}"
        except Exception:  # noqa: BLE001 - a stale expression says so
            return "Expression(stale)"
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", default=os.devnull)
    ap.add_argument("--memory-mb", type=int, default=3072, help="address space allowed beyond the start")
    ap.add_argument("--autobatch", action="store_true", help="run under the autobatching executor")
    ap.add_argument("--device", default="CPU", help='where inputs and parameters go ("EMU:0": the emulated device)')
    ap.add_argument("--crash-at", type=int, default=0, help=argparse.SUPPRESS)  # proves a crash is seen
    ap.add_argument("--keep-going", action="store_true",
                    help="collect every bad error (one per function and kind) instead of stopping at the first")
    opts = ap.parse_args(argv)

    import dynagraph as dy
    from dynagraph import _core

    dy.init(seed=opts.seed, autobatch=opts.autobatch, device=opts.device)
    limit_memory(opts.memory_mb << 20)
    world = World(dy)
    functions = public_functions(dy, _core)
    makers = receivers(dy, world)
    methods = [(cls, name) for cls, make in makers.items() for name in public_methods(type(make()))
               if f"{cls}.{name}" not in SKIPPED]
    targets = [("fn", name, f) for name, f in functions] + [("method", cls, name) for cls, name in methods]
    log = open(opts.log, "w", buffering=1)
    log.write(f"{len(functions)} functions, {len(methods)} methods\n")
    counts = {"calls": 0, "ok": 0, "raised": 0}
    findings = {}

    def check(exc, names, call):
        try:
            check_exception(exc, names, call)
        except AssertionError as bad:
            if not opts.keep_going:
                raise
            findings.setdefault((names[0], type(exc).__name__), str(bad))

    @seed(opts.seed)
    @settings(max_examples=opts.calls, database=None, deadline=None,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False)
    @given(target=st.sampled_from(targets), args=_call_args(), evaluate=st.booleans())
    def one_call(target, args, evaluate):
        world.renew()
        values = [world.make(a) for a in args]
        if target[0] == "fn":
            _, name, f = target
            names = [name, getattr(f, "__name__", name)]
            call_name = name
        else:
            _, cls, name = target
            obj = makers[cls]()
            f = getattr(obj, name)
            names = [name, f"{cls}.{name}"]
            call_name = f"{cls}.{name}"
        call = f"{call_name}({', '.join(describe(v) for v in values)})"
        log.write(call + "\n")
        counts["calls"] += 1
        if counts["calls"] == opts.crash_at:
            os.kill(os.getpid(), signal.SIGSEGV)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = f(*values)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - every kind is checked
            counts["raised"] += 1
            check(exc, names, call)
            return
        counts["ok"] += 1
        if evaluate and type(result).__name__ == "Expression":
            # What the call built must evaluate, or fail clearly (a huge shape: out of memory).
            axes, batch = result.dim()
            if int(np.prod(axes)) * batch <= 1 << 20:
                log.write(f"  npvalue() of {describe(result)}\n")
                try:
                    result.npvalue()
                except BaseException as exc:  # noqa: BLE001
                    check(exc, ["npvalue"], call + ".npvalue()")

    sys.setrecursionlimit(10000)
    one_call()
    for finding in findings.values():
        print("FINDING:", finding)
    if findings:
        return 1
    log.write(f"done: {counts}\n")
    print(f"fuzz_api: {counts['calls']} calls over {len(targets)} functions and methods: "
          f"{counts['ok']} returned, {counts['raised']} raised an allowed error")
    return 0


if __name__ == "__main__":
    sys.exit(main())

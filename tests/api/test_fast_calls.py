"""The fast paths in front of pybind11-bound expression functions, of ``E[i]`` and of
``dy.parameter`` (csrc/python/fast_calls.cc, issue 26): for every argument list, the same
result and the same error as the general function behind them (``_core._general(f)``); and
they pickle by name, as the functions they replaced do."""
from __future__ import annotations

import inspect
import pickle
import re
import sys
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynagraph as dy
from dynagraph import _core

NODE_INDEX = re.compile(r"expression \d+/\d+")

FAST = ["concatenate", "esum", "affine_transform", "lookup", "pick", "pick_range", "pickrange",
        "pickneglogsoftmax", "transpose", "vanilla_lstm_gates", "vanilla_lstm_c", "vanilla_lstm_h"]


@pytest.fixture(autouse=True)
def fresh_graph():
    dy.renew_cg()
    yield
    dy.renew_cg()


def outcome(f, args, kwargs=None):
    """("ok", dim, value) or ("error", type, message) of f(*args, **kwargs)."""
    try:
        e = f(*args, **(kwargs or {}))
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        # A Parameters argument becomes a new node at each call, so a message that prints
        # it names a different node index each time: compare messages without the index.
        return ("error", type(exc), NODE_INDEX.sub("expression #/#", str(exc)))
    assert isinstance(e, dy.Expression)
    return ("ok", e.dim(), e.npvalue().tolist())


def same(name, *args, **kwargs):
    fast = getattr(_core, name)
    got = outcome(fast, args, kwargs)
    want = outcome(_core._general(fast), args, kwargs)
    assert got == want, f"{name}{args}: fast {got} != general {want}"
    return got


def test_exported_functions_are_the_fronts_with_the_general_docs():
    for name in FAST:
        f = getattr(dy, name)
        assert f is getattr(_core, name)
        general = _core._general(f)
        assert type(general) is type(f) and general is not f
        assert f.__doc__ == general.__doc__ and f.__name__ == general.__name__ == name


# Every module-level function of dynagraph written in C rather than bound by pybind11:
# the fronts above, dy.parameter's, and the METH_O/FASTCALL unary and binary ops.
C_FUNCTIONS = FAST + ["tanh", "logistic", "exp", "log", "cmult", "cdiv", "pow", "dot_product"]


def _pickled_functions():
    """(module name, name, function) of every module-level function (Python or builtin) of the
    dynagraph modules imported so far (other callables, e.g. Ray actor classes, are Ray's to pickle)."""
    seen = []
    for modname, mod in sorted(sys.modules.items()):
        if modname == "dynagraph" or modname.startswith("dynagraph."):
            for name, f in sorted(vars(mod).items()):
                if isinstance(f, (types.FunctionType, types.BuiltinFunctionType)) and f.__module__ == modname:
                    seen.append((modname, name, f))
    return seen


@pytest.mark.parametrize("protocol", [0, 2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
def test_fronts_pickle_by_name_as_the_functions_they_replaced(protocol):
    for f in [getattr(dy, name) for name in C_FUNCTIONS] + [dy.parameter]:
        assert f.__qualname__ == f.__name__, (f, f.__qualname__)
        assert f.__self__ is sys.modules[f.__module__]
        assert getattr(sys.modules[f.__module__], f.__name__) is f
        data = pickle.dumps(f, protocol=protocol)
        assert pickle.loads(data) is f, f
    assert dy.parameter.__module__ == "dynagraph.expressions"
    assert all(getattr(dy, name).__module__ == "dynagraph._core" for name in C_FUNCTIONS)


def test_every_module_function_of_dynagraph_pickles_to_itself():
    functions = _pickled_functions()
    assert len(functions) > 200 and {name for _, name, _ in functions} >= set(C_FUNCTIONS) | {"parameter"}
    bad = []
    for modname, name, f in functions:
        try:
            if pickle.loads(pickle.dumps(f, protocol=pickle.HIGHEST_PROTOCOL)) is not f:
                bad.append((modname, name, "another object"))
        except Exception as exc:  # noqa: BLE001 - collected and reported
            bad.append((modname, name, repr(exc)))
    assert not bad, bad


def test_fronts_pickle_inside_containers_and_work_after_loading():
    x = dy.inputVector([1.0, 2.0])
    fs = pickle.loads(pickle.dumps({"esum": dy.esum, "parameter": dy.parameter, "fs": [dy.pick, dy.tanh]}))
    assert fs["esum"]([x, x]).npvalue().tolist() == [2.0, 4.0]
    assert fs["fs"][0](x, 1).scalar_value() == 2.0
    pc = dy.ParameterCollection()
    W = pc.add_parameters((2, 2))
    assert fs["parameter"](W) is W


def test_fronts_cloudpickle_by_reference():
    cloudpickle = pytest.importorskip("cloudpickle")  # Ray's pickler; the pickle tests above run without it
    for f in [getattr(dy, name) for name in C_FUNCTIONS] + [dy.parameter]:
        assert cloudpickle.loads(cloudpickle.dumps(f)) is f, f
        assert pickle.loads(cloudpickle.dumps(f)) is f, f
    # a closure over a front (what Ray sends for a remote function) keeps the front itself
    g = cloudpickle.loads(cloudpickle.dumps(lambda xs: dy.esum(xs) + dy.pick(xs[0], 0)))
    x = dy.inputVector([1.0, 3.0])
    assert g([x, x]).npvalue().tolist() == [3.0, 7.0]


def test_general_accessor_refuses_what_is_not_a_front():
    for bad in (dy.tanh, dy.renew_cg, len, None, "esum"):
        with pytest.raises(TypeError, match=r"^_general: f must be one of the fast-call fronts"):
            _core._general(bad)
    assert _core._general(dy.parameter).__module__ == "dynagraph.expressions"
    assert _core._general(dy.parameter) is not dy.parameter


class Model:
    def __init__(self):
        pc = dy.ParameterCollection()
        self.pc = pc
        self.E = pc.add_lookup_parameters((7, 3), init=dy.NormalInitializer(0, 1))
        self.W = pc.add_parameters((3, 4), init=dy.NormalInitializer(0, 1))
        self.b = pc.add_parameters(3, init=dy.NormalInitializer(0, 1))
        self.V = pc.add_parameters((3, 3), init=dy.NormalInitializer(0, 1))

    def values(self):
        """Argument values of every kind the fast paths see and refuse."""
        x3 = dy.inputVector([0.5, -1.0, 2.0])
        y3 = dy.inputVector([1.5, 0.25, -0.75])
        x4 = dy.inputVector([1.0, 2.0, 3.0, 4.0])
        m = dy.inputTensor(np.arange(6, dtype=np.float32).reshape(3, 2))
        batch = dy.inputTensor(np.arange(6, dtype=np.float32).reshape(3, 2), batched=True)
        return [x3, y3, x4, m, batch, self.W, self.b, self.V, self.E, 0, 1, 2, -1, 3, 6, 7, 2**31, -2**31 - 1,
                2**70, True, False, 1.0, np.int64(2), np.int32(1), None, "x", [], (), [x3, y3], (x3, x4),
                [x3, "x"], [x3, None], [self.b, x3], [x3, y3, self.b], [self.b, self.W, x4], [self.W, x4],
                [x3] * 65, [1, 2], np.array([1, 2]), [batch, x3], {"a": 1}]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FAST), picks=st.lists(st.integers(0, 40), min_size=0, max_size=5))
def test_any_positional_arguments_give_what_the_general_function_gives(name, picks):
    dy.renew_cg()
    model = Model()
    pool = model.values()
    same(name, *[pool[k] for k in picks])


def test_the_common_calls_take_the_fast_path_and_match():
    m = Model()
    x3, y3 = dy.inputVector([0.5, -1.0, 2.0]), dy.inputVector([1.5, 0.25, -0.75])
    x4 = dy.inputVector([1.0, 2.0, 3.0, 4.0])
    assert same("concatenate", [x3, y3])[1] == ((6,), 1)
    assert same("concatenate", (x3, y3), 0)[0] == "ok"
    assert same("concatenate", [dy.reshape(x3, (3, 1)), dy.reshape(y3, (3, 1))], 1)[1] == ((3, 2), 1)
    # float32 sums of random parameters: an absolute tolerance too, for results near 0
    assert same("esum", [x3, y3, m.b])[2] == pytest.approx(
        (np.array([0.5, -1.0, 2.0]) + [1.5, 0.25, -0.75] + m.b.as_array()).tolist(), rel=1e-5, abs=1e-5)
    want = m.b.as_array() + m.W.as_array() @ np.array([1.0, 2.0, 3.0, 4.0])
    assert same("affine_transform", [m.b, m.W, x4])[2] == pytest.approx(want.tolist(), rel=1e-5, abs=1e-5)
    assert same("lookup", m.E, 5)[2] == pytest.approx(m.E.row_as_array(5).tolist())
    assert same("lookup", m.E)[2] == pytest.approx(m.E.row_as_array(0).tolist())
    assert same("lookup", m.E, 2, False)[0] == "ok"
    assert same("pick", x3, 2)[2] == [2.0]
    assert same("pick", x3)[2] == [0.5]
    assert same("pick_range", x3, 1, 3)[2] == [-1.0, 2.0]
    assert same("pickrange", x4, 0, 2, 0)[2] == [1.0, 2.0]
    mat = dy.inputTensor(np.arange(6, dtype=np.float32).reshape(3, 2))
    assert same("transpose", mat)[1:] == (((2, 3), 1), [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]])
    assert same("transpose", m.W)[1] == ((4, 3), 1)
    assert same("transpose", x3)[1] == ((1, 3), 1)
    z = np.array([0.5, -1.0, 2.0])
    assert same("pickneglogsoftmax", x3, 1)[2] == pytest.approx(
        [float(np.log(np.exp(z).sum()) - z[1])], rel=1e-5)


def test_lookup_update_flag_and_gradients_match_the_general_path():
    m = Model()
    for update in (True, False):
        grads = []
        for f in (dy.lookup, _core._general(dy.lookup)):
            dy.renew_cg()
            m.E.scale_gradient(0.0)
            loss = dy.squared_norm(f(m.E, 3, update))
            loss.backward()
            grads.append(m.E.grad_as_array().copy())
        assert np.array_equal(grads[0], grads[1])
        assert np.abs(grads[0][3]).sum() > 0 if update else not grads[0].any()


def test_gradients_through_the_fast_paths_match_finite_differences():
    m = Model()
    x = np.array([0.3, -0.2, 0.7])

    def loss_of(xv):
        dy.renew_cg()
        xe = dy.inputVector(list(xv))
        h = dy.concatenate([xe, dy.lookup(m.E, 4)])
        s = dy.esum([dy.pick_range(h, 0, 3), dy.pick_range(h, 3, 6), m.b])
        return xe, dy.pickneglogsoftmax(dy.affine_transform([m.b, m.V, s]), 2) + dy.pick(s, 1)

    xe, loss = loss_of(x)
    loss.backward(full=True)
    grad = xe.gradient()
    eps = 1e-3
    for k in range(3):
        d = np.zeros(3)
        d[k] = eps
        num = (loss_of(x + d)[1].scalar_value() - loss_of(x - d)[1].scalar_value()) / (2 * eps)
        assert grad[k] == pytest.approx(num, rel=2e-2, abs=2e-3)


def test_stale_and_reverted_expressions_raise_as_the_general_path():
    m = Model()
    old = dy.inputVector([1.0, 2.0, 3.0])
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0, 3.0])
    for name, args in [("concatenate", ([x, old],)), ("esum", ([old, x],)), ("affine_transform", ([old, m.V, x],)),
                       ("pick", (old, 1)), ("pick_range", (old, 0, 2)), ("pickneglogsoftmax", (old, 0))]:
        kind, exc, msg = same(name, *args)
        assert (kind, exc) == ("error", RuntimeError) and "stale" in msg and msg.startswith(name), msg
    dy.cg_checkpoint()
    y = dy.inputVector([4.0, 5.0, 6.0])
    dy.cg_revert()
    kind, exc, msg = same("concatenate", [x, y])
    assert (kind, exc) == ("error", RuntimeError) and msg.startswith("concatenate")


def test_shape_and_index_errors_are_named_as_before():
    m = Model()
    x3, x4 = dy.inputVector([1.0, 2.0, 3.0]), dy.inputVector([1.0, 2.0, 3.0, 4.0])
    cases = [("concatenate", ([dy.inputTensor(np.ones((3, 2))), x4],), ValueError),
             ("concatenate", ([x3, x4], 3), ValueError),
             ("esum", ([x3, x4],), ValueError),
             ("affine_transform", ([m.b, m.W, x3],), ValueError),
             ("lookup", (m.E, 7), IndexError), ("lookup", (m.E, -1), IndexError),
             ("pick", (x3, 3), IndexError), ("pick", (x3, 0, 1), ValueError),
             ("pick_range", (x3, 2, 1), ValueError), ("pick_range", (x3, 0, 4), ValueError),
             ("pickneglogsoftmax", (x3, 3), IndexError)]
    for name, args, kind in cases:
        got = same(name, *args)
        assert got[0] == "error" and issubclass(got[1], kind) and got[2].startswith(name), (name, args, got)


def test_keywords_and_other_types_take_the_general_path():
    m = Model()
    x3, y3 = dy.inputVector([1.0, 2.0, 3.0]), dy.inputVector([3.0, 2.0, 1.0])
    assert same("concatenate", [x3, y3], d=0)[1] == ((6,), 1)
    assert same("concatenate", xs=[x3, y3])[1] == ((6,), 1)
    assert same("lookup", m.E, index=2, update=False)[0] == "ok"
    assert same("lookup", m.E, np.int64(2))[0] == "ok"
    assert same("pick", x3, [0])[0] == "ok"
    assert same("pick", x3, index=1, dim=0)[2] == [2.0]
    assert same("pickneglogsoftmax", x3, [1])[0] == "ok"
    assert same("esum", xs=[x3, y3])[2] == [4.0, 4.0, 4.0]
    assert same("esum", iter([x3, y3]))[0] == "error"
    kind, exc, msg = same("concatenate", [x3, 1.0])
    assert kind == "error" and exc is TypeError and "concatenate" in msg
    kind, exc, msg = same("lookup", m.E, 2.0)
    assert kind == "error" and exc is TypeError and "lookup" in msg


def test_immediate_compute_evaluates_at_the_fast_call():
    dy.renew_cg(immediate_compute=True)
    x, y = dy.inputVector([1.0, 2.0]), dy.inputVector([3.0, 4.0])
    assert same("concatenate", [x, y])[2] == [1.0, 2.0, 3.0, 4.0]
    assert same("esum", [x, y])[2] == [4.0, 6.0]
    kind, exc, msg = same("concatenate", [x, dy.inputVector([1.0, 2.0, 3.0]), dy.reshape(y, (1, 2))])
    assert (kind, exc) == ("error", ValueError) and msg.startswith("concatenate"), msg
    dy.renew_cg()


def test_parameter_front_returns_its_argument_and_falls_back_for_the_rest():
    m = Model()
    general = _core._general(dy.parameter)
    assert dy.parameter(m.W) is m.W and dy.parameter(m.E) is m.E
    assert dy.parameter(m.W, m.b) == general(m.W, m.b) == (m.W, m.b)
    assert str(inspect.signature(dy.parameter)) == str(inspect.signature(general)) == "(*params)"
    assert dy.parameter.__name__ == "parameter" and dy.parameter.__doc__ == inspect.getdoc(general)
    for bad in [(), (1,), ("x",), (m.W, None), (dy.inputVector([1.0]),)]:
        got, want = outcome_any(dy.parameter, bad), outcome_any(general, bad)
        assert got == want and (bad == () or got[0] == "error"), (bad, got, want)
    for kwargs in [{"p": m.W}]:
        assert outcome_any(dy.parameter, (), kwargs) == outcome_any(general, (), kwargs)


def outcome_any(f, args, kwargs=None):
    try:
        return ("ok", f(*args, **(kwargs or {})))
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return ("error", type(exc), str(exc))


def general_getitem(table, key):
    return _core.LookupParameters.__dict__["__getitem__"](table, key)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pick=st.integers(0, 40))
def test_lookup_subscript_gives_what_the_bound_getitem_gives(pick):
    dy.renew_cg()
    model = Model()
    key = model.values()[pick]
    got = outcome(lambda: model.E[key], ())
    want = outcome(lambda: general_getitem(model.E, key), ())
    assert got == want, (key, got, want)


def test_lookup_subscript_rows_gradients_and_batches():
    m = Model()
    assert m.E[6].npvalue().tolist() == pytest.approx(m.E.row_as_array(6).tolist())
    assert m.E[[1, 2]].dim() == ((3,), 2)
    kind, exc, msg = outcome(lambda: m.E[7], ())
    assert (kind, exc) == ("error", dy._core.IndexOutOfRange) and "out of range" in msg
    m.E.scale_gradient(0.0)
    dy.squared_norm(m.E[2]).backward()
    g = m.E.grad_as_array()
    assert np.allclose(g[2], 2 * m.E.row_as_array(2)) and not np.delete(g, 2, axis=0).any()


def test_lstm_step_matches_the_general_path_and_numpy():
    rng = np.random.default_rng(3)
    H, I = 2, 3
    Wx, Wh, b = rng.normal(size=(4 * H, I)), rng.normal(size=(4 * H, H)), rng.normal(size=4 * H)
    x, h, c = rng.normal(size=I), rng.normal(size=H), rng.normal(size=H)
    pc = dy.ParameterCollection()
    pWx = pc.add_parameters((4 * H, I), init=dy.NumpyInitializer(Wx))
    ex, eh, ec = dy.inputVector(list(x)), dy.inputVector(list(h)), dy.inputVector(list(c))
    eWh, eb = dy.inputTensor(Wh), dy.inputVector(list(b))
    z = pWx.as_array() @ x + Wh @ h + b
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    want = np.concatenate([sig(z[:H]), sig(z[H:2 * H] + 1), sig(z[2 * H:3 * H]), np.tanh(z[3 * H:])])
    kind, dim, gates = same("vanilla_lstm_gates", ex, eh, pWx, eWh, eb)
    assert kind == "ok" and np.allclose(gates, want, rtol=1e-5, atol=1e-6)
    assert same("vanilla_lstm_gates", ex, eh, pWx, eWh, eb, 0.0)[2] == gates
    g = dy.vanilla_lstm_gates(ex, eh, pWx, eWh, eb)
    c_new = same("vanilla_lstm_c", ec, g)[2]
    assert np.allclose(c_new, want[:H] * want[3 * H:] + want[H:2 * H] * c, rtol=1e-5, atol=1e-6)
    h_new = same("vanilla_lstm_h", dy.vanilla_lstm_c(ec, g), g)[2]
    assert np.allclose(h_new, want[2 * H:3 * H] * np.tanh(np.array(c_new)), rtol=1e-5, atol=1e-6)
    # noise: other kinds, a negative value, NaN, wrong shapes, stale or missing operands: the general path's
    # answer (with noise > 0 the values are random draws: shapes and errors compared)
    f = dy.vanilla_lstm_gates
    for extra in [(0.5,), (-1.0,), (float("nan"),), (-1e-50,), (1,), (np.float32(0.5),), ("x",), (None,), (0.0, 1)]:
        got, want = outcome(f, (ex, eh, pWx, eWh, eb, *extra)), outcome(_core._general(f), (ex, eh, pWx, eWh, eb, *extra))
        assert got[:2] == want[:2] and (got[0] == "ok" or got == want), (extra, got, want)
    assert same("vanilla_lstm_gates", ex, eh, pWx, eWh, eb, -1.0)[1] is ValueError
    assert same("vanilla_lstm_gates", eh, eh, pWx, eWh, eb)[1] is ValueError
    assert same("vanilla_lstm_c", ex, g)[1] is ValueError
    assert same("vanilla_lstm_gates", ex, eh, pWx, eWh)[1] is TypeError
    old = dy.inputVector([1.0, 2.0])
    dy.renew_cg()
    kind, exc, msg = same("vanilla_lstm_h", old, old)
    assert (kind, exc) == ("error", RuntimeError) and "stale" in msg and msg.startswith("vanilla_lstm_h"), msg

"""The fast paths in front of pybind11-bound expression functions, of ``E[i]`` and of
``dy.parameter`` (csrc/python/fast_calls.cc, issue 26): for every argument list, the same
result and the same error as the general function behind them (``f.__self__``)."""
from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynagraph as dy
from dynagraph import _core

NODE_INDEX = re.compile(r"expression \d+/\d+")

FAST = ["concatenate", "esum", "affine_transform", "lookup", "pick", "pick_range", "pickrange",
        "pickneglogsoftmax"]


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
    want = outcome(fast.__self__, args, kwargs)
    assert got == want, f"{name}{args}: fast {got} != general {want}"
    return got


def test_exported_functions_are_the_fronts_with_the_general_docs():
    for name in FAST:
        f = getattr(dy, name)
        assert f is getattr(_core, name)
        general = f.__self__
        assert type(general) is type(f) and general is not f
        assert f.__doc__ == general.__doc__ and f.__name__ == general.__name__ == name


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
    z = np.array([0.5, -1.0, 2.0])
    assert same("pickneglogsoftmax", x3, 1)[2] == pytest.approx(
        [float(np.log(np.exp(z).sum()) - z[1])], rel=1e-5)


def test_lookup_update_flag_and_gradients_match_the_general_path():
    m = Model()
    for update in (True, False):
        grads = []
        for f in (dy.lookup, dy.lookup.__self__):
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
    general = dy.parameter.__self__
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

"""transpose(x, dims=[1, 0]) as DyNet has it: the axes of each batch element permuted
(axis i of the result is axis dims[i] of x), the batch never; the default is the matrix
transpose. Values and gradients against NumPy, errors, autobatched graphs, EMU:0."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynagraph as dy
from dynagraph import _core

DEVICES = ["CPU", "EMU:0"]  # EMU:0 runs the CUDA kernel bodies on the host


def value_and_grad(x, dims, batched=False, device="CPU", seed=0):
    """transpose's value and dL/dx for L = sum(y * w), w random (the gradient is w permuted back)."""
    dy.renew_cg()
    e = dy.inputTensor(x, batched=batched, device=device)
    y = dy.transpose(e) if dims is None else dy.transpose(e, dims)
    assert y.device() == device
    value = y.npvalue()
    w = np.random.default_rng(seed).standard_normal(value.shape).astype(np.float32)
    loss = dy.sum_batches(dy.sum_elems(dy.cmult(y, dy.inputTensor(w, batched=batched, device=device))))
    loss.backward(full=True)
    return y.dim(), value, w, e.gradient()


def numpy_transpose(x, dims, batched):
    return np.transpose(x, list(dims) + ([x.ndim - 1] if batched else []))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape, dims", [
    ((3, 4), [1, 0]), ((3, 4), [0, 1]), ((2, 3, 4), [2, 0, 1]), ((2, 3, 4), [1, 2, 0]), ((2, 3, 4), [0, 2, 1]),
    ((2, 3, 4, 5), [3, 1, 0, 2]), ((2, 1, 3, 2), [2, 3, 1, 0]), ((5,), [0]),
])
@pytest.mark.parametrize("batched", [False, True])
def test_values_and_gradients_match_numpy(device, shape, dims, batched):
    x = np.random.default_rng(1).standard_normal(shape + ((3,) if batched else ())).astype(np.float32)
    dim, value, w, grad = value_and_grad(x, dims, batched, device)
    want = numpy_transpose(x, dims, batched)
    assert dim == (want.shape[:-1] if batched else want.shape, 3 if batched else 1)
    np.testing.assert_array_equal(value, want)
    # The gradient of a permutation is the upstream gradient permuted back.
    np.testing.assert_array_equal(grad, numpy_transpose(w, np.argsort(dims), batched))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.lists(st.integers(1, 4), min_size=n, max_size=n), st.permutations(range(n)), st.integers(1, 3))))
def test_any_permutation_of_any_shape(case):
    shape, dims, batch = case
    batched = batch > 1
    x = np.arange(np.prod(shape) * batch, dtype=np.float32).reshape(tuple(shape) + ((batch,) if batched else ()))
    _, value, w, grad = value_and_grad(x, list(dims), batched)
    np.testing.assert_array_equal(value.reshape(numpy_transpose(x, dims, batched).shape),
                                  numpy_transpose(x, dims, batched))
    np.testing.assert_array_equal(grad.reshape(x.shape), numpy_transpose(w.reshape(
        numpy_transpose(x, dims, batched).shape), np.argsort(dims), batched))


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((2, 3, 4)).astype(np.float64)
    w = rng.standard_normal((4, 2, 3))

    def loss(x, backward=False):
        dy.renew_cg()
        e = dy.inputTensor(x)
        y = dy.transpose(e, [2, 0, 1])
        # a non-linear loss, so that the gradient depends on where each value went
        out = dy.sum_elems(dy.cmult(dy.square(y), dy.inputTensor(w)))
        if backward:
            out.backward(full=True)
            return e.gradient()
        return out.value()

    grad = loss(x0, backward=True)
    eps = 1e-2
    fd = np.zeros_like(x0)
    for idx in itertools.product(*map(range, x0.shape)):
        up, down = x0.copy(), x0.copy()
        up[idx] += eps
        down[idx] -= eps
        fd[idx] = (loss(up) - loss(down)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape, want", [((2, 3), (3, 2)), ((4,), (1, 4)), ((4, 1), (1, 4)), ((1, 4), (4, 1)),
                                         ((1,), (1, 1))])
def test_the_default_is_the_matrix_transpose(device, shape, want):
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    for dims in (None, [1, 0], (1, 0), np.array([1, 0])):
        dim, value, w, grad = value_and_grad(x, dims, device=device)
        assert dim == (want, 1)
        np.testing.assert_array_equal(value, x.reshape(shape if len(shape) == 2 else (shape[0], 1)).T.reshape(want))
        np.testing.assert_array_equal(grad, w.T.reshape(shape))


def test_trailing_axes_of_length_one_may_be_left_out_or_added():
    dy.renew_cg()
    x = np.arange(6, dtype=np.float32)
    # (6, 1, 1) with the default: a column, as DyNet transposes it
    assert dy.transpose(dy.inputTensor(x.reshape(6, 1, 1))).dim() == ((1, 6), 1)
    # a matrix seen as (2, 3, 1): its third axis first
    m = x.reshape(2, 3)
    y = dy.transpose(dy.inputTensor(m), [2, 0, 1])
    assert y.dim() == ((1, 2, 3), 1)
    np.testing.assert_array_equal(y.npvalue(), m[None])


def test_transpose_is_a_fast_call_front_with_the_general_function_behind():
    general = _core._general(dy.transpose)
    dy.renew_cg()
    x = dy.inputTensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(dy.transpose(x).npvalue(), general(x).npvalue())
    np.testing.assert_array_equal(dy.transpose(x, dims=[0, 1]).npvalue(), general(x, [0, 1]).npvalue())
    # Parameters are operands too (the fast path and the general one)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((2, 3))
    assert dy.transpose(W).dim() == general(W).dim() == ((3, 2), 1)
    assert dy.transpose(W, [1, 0]).dim() == ((3, 2), 1)


@pytest.mark.parametrize("shape, dims, match", [
    ((2, 3), [0, 0], r"dims \[0, 0\] is not a permutation of 0\.\.1.*\{2,3X2\}"),
    ((2, 3), [0, 2], r"dims \[0, 2\] is not a permutation of 0\.\.1.*\{2,3X2\}"),
    ((2, 3), [-1, 0], r"dims \[-1, 0\] is not a permutation"),
    ((2, 3, 4), [1, 0], r"dims \[1, 0\] lists 2 axes, but x has 3.*\{2,3,4X2\}"),
    ((2, 3, 4), None, r"dims \[1, 0\] lists 2 axes, but x has 3.*\{2,3,4X2\}"),
    ((2, 3), [0, 1, 2, 3, 4], r"dims \[0, 1, 2, 3, 4\] lists more than 4 axes.*\{2,3X2\}"),
    ((2, 3), [], r"dims is empty"),
    ((2, 3), [2 ** 40, 0], r"dims\[0\] = 1099511627776 is not an axis"),
])
def test_bad_dims_are_value_errors_naming_dims_and_shape(shape, dims, match):
    dy.renew_cg()
    x = dy.inputTensor(np.zeros(shape + (2,), dtype=np.float32), batched=True)
    with pytest.raises(ValueError, match="transpose: " + match):
        dy.transpose(x) if dims is None else dy.transpose(x, dims)


@pytest.mark.parametrize("dims, error", [("ab", TypeError), ([1.5, 0], TypeError), ([[1], [0]], TypeError)])
def test_dims_of_the_wrong_type_are_type_errors(dims, error):
    dy.renew_cg()
    x = dy.inputTensor(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(error, match="transpose"):
        dy.transpose(x, dims)


def autobatched_loss(dims_of, device, autobatching, n=8):
    """L = sum_i sum(transpose(x_i, dims_of(i)) * w_i): (value, gradients of the x_i, groups launched)."""
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal((2, 2, 2)).astype(np.float32) for _ in range(n)]
    ws = [rng.standard_normal((2, 2, 2)).astype(np.float32) for _ in range(n)]
    dy.renew_cg(autobatching=autobatching)
    es = [dy.inputTensor(x, device=device) for x in xs]
    terms = [dy.sum_elems(dy.cmult(dy.tanh(dy.transpose(e, dims_of(i))), dy.inputTensor(w, device=device)))
             for i, (e, w) in enumerate(zip(es, ws))]
    loss = dy.esum(terms)
    before = _core.autobatch_stats()["groups"]
    value = loss.value()
    groups = _core.autobatch_stats()["groups"] - before
    loss.backward(full=True)
    want = sum(float(np.sum(np.tanh(np.transpose(x, dims_of(i))) * w)) for i, (x, w) in enumerate(zip(xs, ws)))
    grads = [e.gradient() for e in es]
    want_grads = [np.transpose((1 - np.tanh(np.transpose(x, dims_of(i))) ** 2) * w, np.argsort(dims_of(i)))
                  for i, (x, w) in enumerate(zip(xs, ws))]
    dy.renew_cg(autobatching=False)
    assert value == pytest.approx(want, rel=1e-5, abs=1e-5)
    for g, wg in zip(grads, want_grads):
        np.testing.assert_allclose(g, wg, rtol=1e-5, atol=1e-6)
    return groups


@pytest.mark.parametrize("device", DEVICES)
def test_autobatched_transposes_group_by_their_dims(device):
    # Cubes, so every transpose has the same output shape: only dims tells the groups apart.
    same = autobatched_loss(lambda i: [2, 0, 1], device, True)
    mixed = autobatched_loss(lambda i: [2, 0, 1] if i % 2 else [1, 2, 0], device, True)
    three = autobatched_loss(lambda i: [[2, 0, 1], [1, 2, 0], [0, 2, 1]][i % 3], device, True)
    assert mixed == same + 1 and three == same + 2, (same, mixed, three)
    autobatched_loss(lambda i: [1, 2, 0], device, False)


@pytest.mark.parametrize("device", DEVICES)
def test_autobatched_matrix_transposes(device):
    """dy.transpose(m) and dy.transpose(m, [1, 0]) build one node kind (one group); [0, 1] is another."""
    rng = np.random.default_rng(5)
    ms = [rng.standard_normal((3, 3)).astype(np.float32) for _ in range(6)]

    def run(dims_of):
        dy.renew_cg(autobatching=True)
        es = [dy.inputTensor(m, device=device) for m in ms]
        loss = dy.esum([dy.sum_elems(dy.cmult(dy.transpose(e, *dims_of(i)), dy.inputTensor(np.triu(ms[0]),
                                                                                               device=device)))
                        for i, e in enumerate(es)])
        before = _core.autobatch_stats()["groups"]
        value = loss.value()
        groups = _core.autobatch_stats()["groups"] - before
        loss.backward(full=True)
        grads = [e.gradient() for e in es]
        dy.renew_cg(autobatching=False)
        return value, grads, groups

    w = np.triu(ms[0])
    plain = run(lambda i: ())
    spelled = run(lambda i: ([1, 0],) if i % 2 else ())
    identity = run(lambda i: ([0, 1],) if i % 2 else ())
    assert spelled[2] == plain[2] and identity[2] == plain[2] + 1
    for (value, grads, _), flip in ((plain, [True] * 6), (spelled, [True] * 6), (identity, [i % 2 == 0 for i in range(6)])):
        assert value == pytest.approx(sum(float(np.sum((m.T if f else m) * w)) for m, f in zip(ms, flip)), rel=1e-5)
        for g, f in zip(grads, flip):
            np.testing.assert_allclose(g, w.T if f else w, rtol=1e-6)


def test_every_call_form_builds_the_same_node():
    """transpose(x) is a METH_O function whose other calls reach the general function
    (csrc/python/fast_calls.cc): positional, keyword, *args, **kwargs and partial calls agree."""
    import functools
    dy.renew_cg()
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    e = dy.inputTensor(x)
    want = np.transpose(x, (1, 2, 0))
    for y in (dy.transpose(e, [1, 2, 0]), dy.transpose(e, dims=[1, 2, 0]), dy.transpose(x=e, dims=(1, 2, 0)),
              dy.transpose(*[e, [1, 2, 0]]), dy.transpose(**{"x": e, "dims": [1, 2, 0]}),
              functools.partial(dy.transpose, dims=[1, 2, 0])(e)):
        np.testing.assert_array_equal(y.npvalue(), want)
    m = dy.inputTensor(x[0])
    for y in (dy.transpose(m), dy.transpose(*[m]), dy.transpose(x=m), next(map(dy.transpose, [m]))):
        np.testing.assert_array_equal(y.npvalue(), x[0].T)
    for bad in ((), (m, [1, 0], 3), (None,), ("m",)):
        with pytest.raises(TypeError, match="transpose"):
            dy.transpose(*bad)
    with pytest.raises(TypeError, match="transpose"):
        dy.transpose(m, dimz=[1, 0])

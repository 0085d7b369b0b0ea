"""Transposed weights in the batched backward (ComputationGraph::transposed): a group's
input gradient W^T dY runs as a plain product on a copy of W^T made once per matrix per
backward pass. Gradients are checked against NumPy, finite differences and the unbatched
executor, and the copies counted (autobatch_stats()["weights_transposed"])."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core


@pytest.fixture(autouse=True)
def _restore():
    threads = dy.get_num_threads()
    yield
    dy.set_num_threads(threads)
    dy.renew_cg(autobatching=False)


def _transposed():
    return _core.autobatch_stats()["weights_transposed"]


def _problem(shape, members, seed=0):
    """W (rows x cols), members inputs x_b and weights c_b of loss = sum_b c_b . tanh(W x_b)."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    W = (rng.standard_normal(shape) / np.sqrt(cols)).astype(np.float32)
    xs = rng.standard_normal((members, cols)).astype(np.float32)
    cs = rng.standard_normal((members, rows)).astype(np.float32)
    return W, xs, cs


def _run(W, xs, cs, autobatch, affine=False, passes=1):
    """Loss, dL/dW, dL/dx_b, and the transposed copies made."""
    pc = dy.ParameterCollection()
    Wp = pc.add_parameters(W.shape)
    Wp.set_value(W)
    b = pc.add_parameters(W.shape[0])
    b.set_value(np.zeros(W.shape[0], np.float32))
    dy.renew_cg(autobatching=autobatch)
    inputs = [dy.inputVector(x) for x in xs]
    terms = []
    for x, c in zip(inputs, cs):
        y = dy.affine_transform([b, Wp, x]) if affine else Wp * x
        terms.append(dy.dot_product(dy.inputVector(c), dy.tanh(y)))
    loss = dy.esum(terms)
    value = loss.value()
    before = _transposed()
    for _ in range(passes):  # (the weight's gradient accumulates over passes)
        loss.backward(full=True)
    made = _transposed() - before
    grads = np.stack([x.gradient().copy() for x in inputs])
    return value, Wp.grad_as_array().copy(), grads, made


def _numpy(W, xs, cs):
    t = np.tanh(xs.astype(np.float64) @ W.T.astype(np.float64))
    d = cs * (1.0 - t * t)  # dL/d(W x_b), one row per member
    return float(np.sum(cs * t)), d.T @ xs, d @ W


# Shapes around the copy's bounds and the transpose's tiles: edges that fill no tile
# (67 x 75), whole tiles (64 x 128), few rows (40 x 128), many columns of a GEMM (8..70 members).
@pytest.mark.parametrize("shape", [(67, 75), (64, 128), (40, 128)])
@pytest.mark.parametrize("members", [2, 9, 33, 70])
@pytest.mark.parametrize("affine", [False, True])
def test_gradients_match_numpy_and_unbatched(shape, members, affine):
    W, xs, cs = _problem(shape, members, seed=members)
    v1, gw1, gx1, made = _run(W, xs, cs, True, affine)
    assert made == 1  # one matrix, one pass
    v0, gw0, gx0, made0 = _run(W, xs, cs, False, affine)
    assert made0 == 0  # the unbatched executor makes none
    value, gw, gx = _numpy(W, xs, cs)
    np.testing.assert_allclose(v1, value, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx1, gx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gw1, gw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gx1, gx0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gw1, gw0, rtol=1e-4, atol=1e-5)


def test_gradient_matches_finite_differences():
    W, xs, cs = _problem((67, 75), 12, seed=5)
    _, _, gx, made = _run(W, xs, cs, True)
    assert made == 1
    rng = np.random.default_rng(1)
    eps = 1e-3
    for b, i in zip(rng.integers(12, size=6), rng.integers(75, size=6)):
        up, down = xs.astype(np.float64), xs.astype(np.float64)
        up[b, i] += eps
        down[b, i] -= eps
        fd = (_numpy(W, up, cs)[0] - _numpy(W, down, cs)[0]) / (2 * eps)
        assert abs(gx[b, i] - fd) <= 2e-3 * max(1.0, abs(fd)), (b, i, gx[b, i], fd)


def test_small_matrices_are_not_copied():
    W, xs, cs = _problem((20, 30), 9)  # 600 values: a copy would cost more than it saves
    _, _, gx, made = _run(W, xs, cs, True)
    assert made == 0
    np.testing.assert_allclose(gx, _numpy(W, xs, cs)[2], rtol=1e-4, atol=1e-5)


def test_each_backward_pass_makes_its_own_copy():
    # The copy is this pass's: a second backward on the same graph transposes again
    # (parameter values may change between passes) and gives the same gradients.
    W, xs, cs = _problem((64, 128), 9)
    _, gw1, gx1, made1 = _run(W, xs, cs, True, passes=1)
    _, gw2, gx2, made2 = _run(W, xs, cs, True, passes=2)
    assert (made1, made2) == (1, 2)
    np.testing.assert_array_equal(gx1, gx2)
    np.testing.assert_allclose(gw2, 2 * gw1, rtol=1e-6, atol=1e-7)


def test_two_weights_over_one_operand():
    # Two large weights and one small read the same members: one copy per large weight.
    rng = np.random.default_rng(2)
    A = rng.standard_normal((70, 64)).astype(np.float32) / 8
    B = rng.standard_normal((90, 64)).astype(np.float32) / 8
    S = rng.standard_normal((5, 64)).astype(np.float32) / 8
    xs = rng.standard_normal((20, 64)).astype(np.float32)

    def run(autobatch):
        pc = dy.ParameterCollection()
        ps = [pc.add_parameters(m.shape) for m in (A, B, S)]
        for p, m in zip(ps, (A, B, S)):
            p.set_value(m)
        dy.renew_cg(autobatching=autobatch)
        inputs = [dy.inputVector(x) for x in xs]
        loss = dy.esum([dy.sum_elems(dy.tanh(ps[0] * x)) + dy.sum_elems(dy.logistic(ps[1] * x))
                        + dy.sum_elems(ps[2] * x) for x in inputs])
        loss.value()
        before = _transposed()
        loss.backward(full=True)
        return np.stack([x.gradient().copy() for x in inputs]), _transposed() - before

    g1, made = run(True)
    g0, _ = run(False)
    assert made == 2
    x64 = xs.astype(np.float64)
    ta, sb = np.tanh(x64 @ A.T), 1 / (1 + np.exp(-(x64 @ B.T)))
    expect = (1 - ta * ta) @ A + (sb * (1 - sb)) @ B + np.ones((20, 5)) @ S
    np.testing.assert_allclose(g1, expect, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g1, g0, rtol=1e-4, atol=1e-5)


def test_bit_identical_on_threads():
    # Groups split by members over the threads read the same copy: == with one thread.
    W, xs, cs = _problem((64, 128), 70, seed=4)
    _core_min = _core._autobatch_pool_min_work(0)  # split even small groups
    try:
        dy.set_num_threads(1)
        one = _run(W, xs, cs, True)
        dy.set_num_threads(2)
        two = _run(W, xs, cs, True)
    finally:
        _core._autobatch_pool_min_work(_core_min)
    assert one[0] == two[0]
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[2], two[2])
    assert one[3] == two[3] == 1

"""Targeted tests of the reduce family: batch reductions (which the per-sample
op table cannot check), the mean_* composites, DyNet's argument conventions,
gradients of extrema and argmax, and error messages."""
import numpy as np
import pytest

import dynagraph as dy

NAMES = ["sum_elems", "sum_batches", "sum_dim", "max_dim", "min_dim", "cumsum", "argmax", "moment_elems",
         "moment_dim", "moment_batches", "mean_elems", "mean_dim", "mean_batches", "std_elems", "std_dim",
         "std_batches", "softmax", "log_softmax", "logsumexp", "logsumexp_dim", "pickneglogsoftmax",
         "pickneglogsoftmax_batch", "hinge", "hinge_batch", "hinge_dim", "binary_log_loss", "squared_distance",
         "squared_norm", "l1_distance", "l2_norm", "huber_distance", "poisson_loss", "pairwise_rank_loss"]


@pytest.mark.parametrize("name", NAMES)
def test_public_name(name):
    assert callable(getattr(dy, name))
    assert name in dy.__all__


def data(seed=0, shape=(2, 3, 4)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def batched(a):
    return dy.inputTensor(a, batched=True)


def test_batch_reductions_match_numpy():
    x = data()  # (2, 3) with batch 4
    dy.renew_cg()
    e = batched(x)
    cases = [
        (dy.sum_batches(e), x.sum(axis=2)),
        (dy.sum_dim(e, [1], True), x.sum(axis=(1, 2))),
        (dy.sum_dim(e, [], True), x.sum(axis=2)),
        (dy.sum_dim(e, [0, 1], True), np.array([x.sum()])),
        (dy.moment_batches(e, 2), np.mean(x ** 2, axis=2)),
        (dy.moment_dim(e, [0], 3, True), np.mean(x ** 3, axis=(0, 2))),
        (dy.moment_dim(e, [0], 2, True, 5), np.sum(x ** 2, axis=(0, 2)) / 5),
        (dy.std_batches(e), np.std(x, axis=2)),
        (dy.std_dim(e, [1], True), np.std(x.transpose(0, 2, 1).reshape(2, 12), axis=1)),
        (dy.mean_batches(e), x.mean(axis=2)),
        (dy.mean_dim(e, [0], True), x.mean(axis=(0, 2))),
        (dy.mean_dim(e, [0], True, 10), x.sum(axis=(0, 2)) / 10),
    ]
    for got, want in cases:
        assert got.dim()[1] == 1
        np.testing.assert_allclose(got.npvalue().reshape(want.shape), want, rtol=1e-5, atol=1e-5)


def test_mean_composites_per_batch_element():
    x = data(1)
    dy.renew_cg()
    e = batched(x)
    np.testing.assert_allclose(dy.mean_elems(e).npvalue().ravel(), x.mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(dy.mean_dim(e, [1]).npvalue(), x.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(dy.mean_dim(e, [1], False, 6).npvalue(), x.sum(axis=1) / 6, rtol=1e-5)
    np.testing.assert_allclose(dy.mean_dim(e, 0).npvalue(), x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(dy.std_elems(e).npvalue().ravel(), x.reshape(6, 4).std(axis=0), rtol=1e-5)


def test_mean_gradients():
    x = data(2, (3, 2))
    dy.renew_cg()
    e = dy.inputTensor(x)
    dy.mean_elems(e).backward(full=True)
    np.testing.assert_allclose(e.gradient(), np.full((3, 2), 1 / 6), rtol=1e-6)
    dy.renew_cg()
    e = batched(x)
    dy.sum_elems(dy.mean_batches(e)).backward(full=True)
    np.testing.assert_allclose(e.gradient(), np.full((3, 2), 1 / 2), rtol=1e-6)


def test_std_dim_ignores_n_like_dynet():
    x = data(3)
    dy.renew_cg()
    e = batched(x)
    np.testing.assert_allclose(dy.std_dim(e, [1], False, 10).npvalue(), dy.std_dim(e, [1]).npvalue())
    assert np.allclose(dy.sum_dim(e, [1], False, 10).npvalue(), x.sum(axis=1))


def test_std_of_constant_has_zero_gradient():
    dy.renew_cg()
    e = dy.inputTensor(np.ones(4, dtype=np.float32))
    s = dy.std_elems(e)
    assert s.scalar_value() == 0.0
    s.backward(full=True)
    np.testing.assert_array_equal(e.gradient(), np.zeros(4))


def test_extremum_gradient_goes_to_first_winner():
    dy.renew_cg()
    e = dy.inputTensor(np.array([[1.0, 5.0], [3.0, 5.0], [3.0, -1.0]], dtype=np.float32))
    dy.sum_elems(dy.max_dim(e)).backward(full=True)
    np.testing.assert_array_equal(e.gradient(), [[0, 1], [1, 0], [0, 0]])
    dy.renew_cg()
    e = dy.inputTensor(np.array([[1.0, 5.0], [1.0, 5.0]], dtype=np.float32))
    dy.sum_elems(dy.min_dim(e, 1)).backward(full=True)
    np.testing.assert_array_equal(e.gradient(), [[1, 0], [1, 0]])


def test_max_dim_of_vector_is_scalar():
    dy.renew_cg()
    y = dy.max_dim(dy.inputTensor(np.array([1.0, 5.0, 3.0], dtype=np.float32)))
    assert y.dim() == ((1,), 1)
    assert y.scalar_value() == 5.0


def test_argmax_gradient_modes():
    x = np.array([[1.0, 5.0], [5.0, 3.0], [2.0, 9.0]], dtype=np.float32)
    w = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    for mode, want in [("zero_gradient", np.zeros_like(w)), ("straight_through_gradient", w)]:
        dy.renew_cg()
        e = batched(x)
        y = dy.argmax(e, gradient_mode=mode)
        np.testing.assert_array_equal(y.npvalue(), [[0, 0], [1, 0], [0, 1]])
        dy.sum_batches(dy.dot_product(y, batched(w))).backward(full=True)
        np.testing.assert_array_equal(e.gradient(), want)


def test_argmax_ties_pick_first():
    dy.renew_cg()
    y = dy.argmax(dy.inputTensor(np.array([5.0, 5.0, 3.0], dtype=np.float32)))
    np.testing.assert_array_equal(y.npvalue(), [1, 0, 0])


def test_cumsum_past_last_axis_is_identity():
    x = data(4, (2, 3))
    dy.renew_cg()
    np.testing.assert_array_equal(dy.cumsum(dy.inputTensor(x), 2).npvalue(), x)


# ---- errors
def test_axis_errors_name_op_and_shape():
    dy.renew_cg()
    e = dy.inputTensor(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"sum_dim.*axis 2.*\{2,3\}"):
        dy.sum_dim(e, [2])
    with pytest.raises(ValueError, match=r"sum_dim.*listed twice"):
        dy.sum_dim(e, [0, 0])
    with pytest.raises(ValueError, match=r"max_dim.*axis 2"):
        dy.max_dim(e, 2)
    with pytest.raises(ValueError, match=r"min_dim.*axis -1"):
        dy.min_dim(e, -1)
    with pytest.raises(ValueError, match=r"moment_dim.*axis 5"):
        dy.moment_dim(e, [5], 2, False)
    with pytest.raises(ValueError, match=r"std_dim.*axis 3"):
        dy.std_dim(e, [3])
    with pytest.raises(ValueError, match="cumsum"):
        dy.cumsum(e, 7)
    with pytest.raises(ValueError, match=r"axis 4"):
        dy.mean_dim(e, [4])


def test_argument_errors():
    dy.renew_cg()
    e = dy.inputTensor(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="order r must be >= 1"):
        dy.moment_elems(e, 0)
    with pytest.raises(ValueError, match=r"argmax.*vector"):
        dy.argmax(e)
    with pytest.raises(ValueError, match="gradient_mode"):
        dy.argmax(dy.inputTensor(np.ones(3, dtype=np.float32)), "bogus")

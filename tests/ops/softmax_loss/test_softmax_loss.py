"""Targeted tests of the softmax/loss family: DyNet-specific semantics, per-batch
indices, numerical stability and error messages (values and gradients of
every op are covered by the table in softmax_loss_specs.py)."""
import numpy as np
import pytest

import dynagraph as dy


def batched(a):
    return dy.inputTensor(np.asarray(a, dtype=np.float32), batched=True)


def vec(a):
    return dy.inputTensor(np.asarray(a, dtype=np.float32))


def log_softmax_np(x, axis=0):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def test_pickneglogsoftmax_one_index_per_batch_element():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    idx = [4, 0, 2]
    dy.renew_cg()
    e = batched(x)
    loss = dy.pickneglogsoftmax_batch(e, idx)
    assert loss.dim() == ((1,), 3)
    want = np.array([-log_softmax_np(x[:, b])[i] for b, i in enumerate(idx)])
    np.testing.assert_allclose(loss.npvalue().ravel(), want, rtol=1e-5)
    dy.sum_batches(loss).backward(full=True)
    p = np.exp(log_softmax_np(x))
    onehot = np.zeros_like(p)
    onehot[idx, range(3)] = 1
    np.testing.assert_allclose(e.gradient(), p - onehot, atol=1e-6)


def test_pickneglogsoftmax_list_form_equals_batch_form():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    dy.renew_cg()
    a = dy.pickneglogsoftmax(batched(x), [0, 2]).npvalue()
    b = dy.pickneglogsoftmax_batch(batched(x), [0, 2]).npvalue()
    np.testing.assert_array_equal(a, b)


def test_pickneglogsoftmax_is_one_node():
    dy.renew_cg()
    x = vec([1.0, 2.0, 3.0])
    before = dy.cg().size()
    dy.pickneglogsoftmax(x, 1)
    assert dy.cg().size() == before + 1


def test_softmax_family_is_stable_for_large_scores():
    dy.renew_cg()
    x = vec([1000.0, 0.0, -1000.0])
    assert np.all(np.isfinite(dy.softmax(x).npvalue()))
    np.testing.assert_allclose(dy.log_softmax(x).npvalue(), [0.0, -1000.0, -2000.0], atol=1e-3)
    assert dy.pickneglogsoftmax(x, 0).scalar_value() == pytest.approx(0.0, abs=1e-6)
    assert dy.pickneglogsoftmax(x, 1).scalar_value() == pytest.approx(1000.0, rel=1e-6)
    np.testing.assert_allclose(dy.logsumexp([x, x]).npvalue(), [1000 + np.log(2), np.log(2), -1000 + np.log(2)],
                               rtol=1e-6)
    np.testing.assert_allclose(dy.logsumexp_dim(x).npvalue(), [1000.0], rtol=1e-6)


def test_softmax_default_axis_is_columns():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 0.0, -1.0]], dtype=np.float32)
    dy.renew_cg()
    got = dy.softmax(dy.inputTensor(x)).npvalue()
    np.testing.assert_allclose(got.sum(axis=0), np.ones(3), rtol=1e-6)
    got1 = dy.softmax(dy.inputTensor(x), d=1).npvalue()
    np.testing.assert_allclose(got1.sum(axis=1), np.ones(2), rtol=1e-6)


def test_restricted_log_softmax():
    x = np.array([1.0, 2.0, 3.0, 0.5], dtype=np.float32)
    dy.renew_cg()
    e = vec(x)
    y = dy.log_softmax(e, restrict=[0, 2])
    v = y.npvalue()
    assert np.isneginf(v[1]) and np.isneginf(v[3])
    np.testing.assert_allclose(v[[0, 2]], log_softmax_np(x[[0, 2]]), rtol=1e-6)
    # Gradient of y[0]: only the restricted entries receive any.
    mask = dy.inputTensor(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32))
    dy.dot_product(dy.bmax(y, dy.constant((4,), -1e4)), mask).backward(full=True)
    g = e.gradient()
    p = np.exp(log_softmax_np(x[[0, 2]]))
    np.testing.assert_allclose(g, [1 - p[0], 0.0, -p[1], 0.0], atol=1e-6)


def test_hinge_forms_and_margin():
    dy.renew_cg()
    x = vec([1.0, 2.0, 3.0, 0.5])
    assert dy.hinge(x, 1).scalar_value() == pytest.approx(2.0)
    assert dy.hinge(x, v=1, m=2.0).scalar_value() == pytest.approx(4.5)
    xb = batched([[1, 2], [3, 4], [5, 1]])
    np.testing.assert_allclose(dy.hinge_batch(xb, [0, 2]).npvalue().ravel(), [8.0, 6.0])
    np.testing.assert_allclose(dy.hinge(xb, [0, 2]).npvalue().ravel(), [8.0, 6.0])


def test_hinge_dim_indices_shared_or_per_batch_element():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 2)).astype(np.float32)

    def ref(m, v):
        return [sum(max(0.0, m[r, c] - m[v[c], c] + 1) for r in range(2) if r != v[c]) for c in range(3)]

    dy.renew_cg()
    shared = dy.hinge_dim(batched(x), [0, 1, 1]).npvalue()
    np.testing.assert_allclose(shared, np.stack([ref(x[..., b], [0, 1, 1]) for b in range(2)], -1), rtol=1e-5)
    per = dy.hinge_dim(batched(x), [[0, 1, 1], [1, 0, 0]]).npvalue()
    np.testing.assert_allclose(per[:, 1], ref(x[..., 1], [1, 0, 0]), rtol=1e-5)


def test_binary_log_loss_clamps_like_dynet():
    dy.renew_cg()
    v = dy.binary_log_loss(vec([0.2, 0.9, 0.0]), vec([0.0, 1.0, 1.0])).scalar_value()
    assert v == pytest.approx(87.6651, rel=1e-4)
    assert dy.binary_log_loss(vec([1.0]), vec([0.0])).scalar_value() == pytest.approx(87.3365, rel=1e-4)


def test_keyword_arguments_match_dynet():
    dy.renew_cg()
    x, y = vec([1.0, 2.0]), vec([0.5, 0.0])
    dy.softmax(x=x, d=0)
    dy.log_softmax(x=x, restrict=None)
    dy.logsumexp(xs=[x, y])
    dy.logsumexp_dim(x=x, d=0)
    dy.pickneglogsoftmax(x=x, v=1)
    dy.pickneglogsoftmax_batch(x=x, vs=[1])
    dy.hinge(x=x, v=0, m=1.0)
    dy.hinge_batch(x=x, vs=[0], m=1.0)
    dy.binary_log_loss(x=dy.logistic(x), y=dy.logistic(y))
    dy.squared_distance(x=x, y=y)
    dy.l1_distance(x=x, y=y)
    dy.huber_distance(x=x, y=y, c=1.0)
    dy.pairwise_rank_loss(x=x, y=y, m=1.0)
    dy.squared_norm(x=x)
    dy.l2_norm(x=x)
    assert dy.poisson_loss(log_lambda=dy.scalarInput(0.5), x=3).scalar_value() == pytest.approx(1.9405, rel=1e-4)
    dy.hinge_dim(x=dy.inputTensor(np.ones((2, 3), dtype=np.float32)), v=[0, 1], d=1, m=1.0)


# ---- errors
def test_index_out_of_range_names_index_and_bound():
    dy.renew_cg()
    x = vec([1.0, 2.0, 3.0, 0.5])
    with pytest.raises(IndexError, match=r"pickneglogsoftmax.*index 7.*dimension 4"):
        dy.pickneglogsoftmax(x, 7)
    with pytest.raises(IndexError, match=r"index -1.*dimension 4"):
        dy.pickneglogsoftmax(x, -1)
    with pytest.raises(IndexError, match=r"hinge.*index 4.*dimension 4"):
        dy.hinge(x, 4)
    with pytest.raises(IndexError, match=r"log_softmax.*index 9.*dimension 4"):
        dy.log_softmax(x, [0, 9])
    with pytest.raises(IndexError, match=r"hinge_dim.*index 2.*dimension 2"):
        dy.hinge_dim(dy.inputTensor(np.ones((2, 3), dtype=np.float32)), [0, 2, 1])
    xb = batched([[1, 2], [3, 4], [5, 1]])
    with pytest.raises(IndexError, match=r"index 3.*dimension 3"):
        dy.pickneglogsoftmax_batch(xb, [0, 3])


def test_index_count_must_match_batch():
    dy.renew_cg()
    xb = batched([[1, 2], [3, 4], [5, 1]])
    with pytest.raises(ValueError, match=r"pickneglogsoftmax.*3 indices.*2 batch elements"):
        dy.pickneglogsoftmax_batch(xb, [0, 2, 1])
    with pytest.raises(ValueError, match=r"single index.*2 batch elements"):
        dy.pickneglogsoftmax(xb, 1)
    with pytest.raises(ValueError, match=r"hinge"):
        dy.hinge_batch(vec([1.0, 2.0, 3.0]), [0, 2])
    with pytest.raises(ValueError, match=r"hinge_dim.*2 indices"):
        dy.hinge_dim(dy.inputTensor(np.ones((2, 3), dtype=np.float32)), [0, 1])


def test_shape_mismatch_names_op_and_both_shapes():
    dy.renew_cg()
    a, b = vec([1.0, 2.0]), vec([1.0, 2.0, 3.0])
    for fn, name in [(dy.squared_distance, "squared_distance"), (dy.l1_distance, "l1_distance"),
                     (dy.huber_distance, "huber_distance"), (dy.binary_log_loss, "binary_log_loss"),
                     (dy.pairwise_rank_loss, "pairwise_rank_loss")]:
        with pytest.raises(ValueError, match=name) as err:
            fn(a, b)
        assert "{2}" in str(err.value) and "{3}" in str(err.value)
    with pytest.raises(ValueError, match=r"logsumexp.*\{2\}.*\{3\}"):
        dy.logsumexp([a, b])
    with pytest.raises(ValueError, match="logsumexp"):
        dy.logsumexp([])


def test_bad_axes_and_arguments():
    dy.renew_cg()
    m = dy.inputTensor(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"softmax.*axis 2"):
        dy.softmax(m, 2)
    with pytest.raises(ValueError, match=r"logsumexp_dim.*axis 2"):
        dy.logsumexp_dim(m, 2)
    with pytest.raises(ValueError, match=r"pickneglogsoftmax.*vector"):
        dy.pickneglogsoftmax(m, 0)
    with pytest.raises(ValueError, match=r"log_softmax.*vector"):
        dy.log_softmax(m, [0])
    with pytest.raises(ValueError, match="empty"):
        dy.log_softmax(vec([1.0, 2.0]), [])
    with pytest.raises(ValueError, match=r"hinge_dim.*matrix"):
        dy.hinge_dim(vec([1.0, 2.0]), [0])
    with pytest.raises(ValueError, match=r"poisson_loss.*single value"):
        dy.poisson_loss(vec([1.0, 2.0]), 1)
    with pytest.raises(ValueError, match="non-negative"):
        dy.poisson_loss(vec([1.0]), -1)

"""Targeted tests of the shape family: DyNet semantics the op table cannot
express (per-batch indices, batch broadcasting), error messages, indexing."""
import numpy as np
import pytest

import dynagraph as dy

A = np.arange(12, dtype=np.float32).reshape(3, 4)
B = np.arange(24, dtype=np.float32).reshape(3, 4, 2)  # (3, 4) x batch 2


def grads_of(y, xs, w):
    """Gradients of sum(y * w) with respect to xs."""
    w_expr = dy.inputTensor(w, batched=y.dim()[1] > 1)
    n = int(np.prod(y.dim()[0]))
    loss = dy.dot_product(dy.reshape(y, (n,)), dy.reshape(w_expr, (n,)))
    loss.backward(full=True)
    return [x.gradient() for x in xs]


# ---- pick / pick_batch
def test_pick_shapes_follow_dynet():
    dy.renew_cg()
    assert dy.pick(dy.inputTensor(np.arange(5.0)), 2).dim() == ((1,), 1)
    assert dy.pick(dy.inputTensor(A), 1).dim() == ((4,), 1)
    assert dy.pick(dy.inputTensor(A), 1, 1).dim() == ((3,), 1)
    x = dy.inputTensor(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(dy.pick(x, 1, 1).npvalue(), np.arange(24.0).reshape(2, 3, 4)[:, 1])


def test_pick_int_applies_to_every_batch_element():
    dy.renew_cg()
    y = dy.pick(dy.inputTensor(B, batched=True), 1)
    assert y.dim() == ((4,), 2)
    np.testing.assert_array_equal(y.npvalue(), B[1])


def test_pick_batch_one_index_per_batch_element_and_gradient():
    dy.renew_cg()
    x = dy.inputTensor(B, batched=True)
    y = dy.pick_batch(x, [1, 2])
    np.testing.assert_array_equal(y.npvalue(), np.stack([B[1, :, 0], B[2, :, 1]], -1))
    w = np.random.default_rng(0).standard_normal((4, 2))
    (g,) = grads_of(y, [x], w)
    want = np.zeros_like(B)
    want[1, :, 0] = w[:, 0]
    want[2, :, 1] = w[:, 1]
    np.testing.assert_allclose(g, want, rtol=1e-6)


def test_pick_with_list_is_pick_batch():
    dy.renew_cg()
    x = dy.inputTensor(B, batched=True)
    np.testing.assert_array_equal(dy.pick(x, [3, 0], 1).npvalue(), dy.pick_batch(x, [3, 0], 1).npvalue())


def test_pick_batch_broadcasts_unbatched_input_and_sums_its_gradient():
    dy.renew_cg()
    x = dy.inputTensor(A)
    y = dy.pick_batch(x, [1, 1, 2])
    assert y.dim() == ((4,), 3)
    w = np.ones((4, 3))
    (g,) = grads_of(y, [x], w)
    np.testing.assert_array_equal(g, np.array([[0] * 4, [2] * 4, [1] * 4], dtype=np.float32))


def test_pick_batch_needs_one_index_per_batch_element():
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"pick_batch.*3 indices for a batch of 2.*\{3,4X2\}"):
        dy.pick_batch(dy.inputTensor(B, batched=True), [0, 1, 2])


@pytest.mark.parametrize("index", [3, -1, 100])
def test_pick_index_out_of_range(index):
    dy.renew_cg()
    with pytest.raises(IndexError, match=rf"pick: index {index} out of range \[0, 3\)"):
        dy.pick(dy.inputTensor(A), index)


def test_pick_axis_out_of_range():
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"pick: axis 2 does not exist.*\{3,4\}"):
        dy.pick(dy.inputTensor(A), 0, 2)


# ---- pick_batch_elem(s)
def test_pick_batch_elems_order_repeats_and_gradient():
    dy.renew_cg()
    x = dy.inputTensor(B, batched=True)
    y = dy.pick_batch_elems(x, [1, 0, 1])
    assert y.dim() == ((3, 4), 3)
    np.testing.assert_array_equal(y.npvalue(), B[:, :, [1, 0, 1]])
    e = dy.pick_batch_elem(x, 1)
    assert e.dim() == ((3, 4), 1)
    np.testing.assert_array_equal(e.npvalue(), B[:, :, 1])
    w = np.random.default_rng(1).standard_normal((3, 4, 3))
    (g,) = grads_of(y, [x], w)
    np.testing.assert_allclose(g, np.stack([w[..., 1], w[..., 0] + w[..., 2]], -1), rtol=1e-5)


def test_pick_batch_elem_out_of_range():
    dy.renew_cg()
    with pytest.raises(IndexError, match=r"pick_batch_elems: batch index 2 out of range \[0, 2\)"):
        dy.pick_batch_elem(dy.inputTensor(B, batched=True), 2)
    with pytest.raises(IndexError, match="batch index 1 out of range"):
        dy.pick_batch_elems(dy.inputTensor(A), [0, 1])


# ---- pick_range / select_rows / select_cols
def test_pick_range_batched_and_errors():
    dy.renew_cg()
    x = dy.inputTensor(B, batched=True)
    np.testing.assert_array_equal(dy.pick_range(x, 1, 3, 1).npvalue(), B[:, 1:3])
    np.testing.assert_array_equal(dy.pickrange(x, 0, 2).npvalue(), B[0:2])
    with pytest.raises(IndexError, match=r"pick_range: end 5 out of range \(0, 4\]"):
        dy.pick_range(x, 1, 5, 1)
    with pytest.raises(IndexError, match=r"pick_range: start 4 out of range \[0, 4\)"):
        dy.pick_range(x, 4, 5, 1)
    with pytest.raises(ValueError, match=r"pick_range: empty range \[2, 2\)"):
        dy.pick_range(x, 2, 2, 1)
    with pytest.raises(ValueError, match="pick_range: axis 2 does not exist"):
        dy.pick_range(x, 0, 1, 2)


def test_select_rows_and_cols_batched_with_repeats():
    dy.renew_cg()
    x = dy.inputTensor(B, batched=True)
    r = dy.select_rows(x, [2, 0, 2])
    np.testing.assert_array_equal(r.npvalue(), B[[2, 0, 2]])
    c = dy.select_cols(x, [3, 3, 0])
    np.testing.assert_array_equal(c.npvalue(), B[:, [3, 3, 0]])
    w = np.ones((3, 3, 2))
    (g,) = grads_of(c, [x], w)
    want = np.zeros_like(B)
    want[:, 3] = 2
    want[:, 0] = 1
    np.testing.assert_array_equal(g, want)


def test_select_errors():
    dy.renew_cg()
    x = dy.inputTensor(A)
    with pytest.raises(IndexError, match=r"select_rows: row 3 out of range \[0, 3\)"):
        dy.select_rows(x, [0, 3])
    with pytest.raises(IndexError, match=r"select_cols: column 4 out of range \[0, 4\)"):
        dy.select_cols(x, [4])
    with pytest.raises(ValueError, match=r"select_cols: needs a vector or matrix.*\{3,4,2\}"):
        dy.select_cols(dy.inputTensor(B), [0])
    with pytest.raises(ValueError, match="select_rows: needs at least one"):
        dy.select_rows(x, [])


# ---- reshape
def test_reshape_is_column_major_and_keeps_the_batch_like_dynet():
    dy.renew_cg()
    np.testing.assert_array_equal(dy.reshape(dy.inputTensor(A), (2, 6)).npvalue(), A.reshape((2, 6), order="F"))
    xb = dy.inputTensor(B, batched=True)
    assert dy.reshape(xb, (12,)).dim() == ((12,), 2)  # per-element size fits: batch kept
    assert dy.reshape(xb, (24,)).dim() == ((24,), 1)  # the whole batch into one element
    to_batch = dy.reshape(dy.inputTensor(A), (6,), batch_size=2)
    assert to_batch.dim() == ((6,), 2)
    np.testing.assert_array_equal(to_batch.npvalue(), A.reshape((6, 2), order="F"))


def test_reshape_errors_name_op_and_shapes():
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"reshape: cannot reshape to \{5\}.*\{3,4\}"):
        dy.reshape(dy.inputTensor(A), (5,))
    with pytest.raises(ValueError, match="reshape"):
        dy.reshape(dy.inputTensor(A), (0, 12))


def test_reshape_gradient():
    dy.renew_cg()
    x = dy.inputTensor(A)
    y = dy.reshape(x, (4, 3))
    w = np.random.default_rng(2).standard_normal((4, 3))
    (g,) = grads_of(y, [x], w)
    np.testing.assert_allclose(g, w.reshape((3, 4), order="F"), rtol=1e-6)


# ---- concatenate family
def test_concatenate_shape_mismatch_names_op_and_shapes():
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"concatenate: shapes differ on axis 1.*\{3,4\}, \{5\}"):
        dy.concatenate([dy.inputTensor(A), dy.inputTensor(np.zeros(5))])
    with pytest.raises(ValueError, match="concatenate: needs at least one"):
        dy.concatenate([])
    with pytest.raises(ValueError, match=r"concatenate_to_batch: shapes differ.*\{3,4\}, \{5\}"):
        dy.concatenate_to_batch([dy.inputTensor(A), dy.inputTensor(np.zeros(5))])
    with pytest.raises(ValueError, match="batch sizes differ"):
        dy.concatenate([dy.inputTensor(B, batched=True), dy.inputTensor(np.zeros((3, 4, 3)), batched=True)])


def test_concatenate_broadcasts_batch_one_and_sums_its_gradient():
    dy.renew_cg()
    h = dy.inputTensor(A)
    xb = dy.inputTensor(B, batched=True)
    y = dy.concatenate([xb, h], 1)
    assert y.dim() == ((3, 8), 2)
    np.testing.assert_array_equal(y.npvalue(), np.concatenate([B, np.stack([A, A], -1)], 1))
    w = np.random.default_rng(3).standard_normal((3, 8, 2))
    gx, gh = grads_of(y, [xb, h], w)
    np.testing.assert_allclose(gx, w[:, :4], rtol=1e-6)
    np.testing.assert_allclose(gh, w[:, 4:].sum(-1), rtol=1e-5)


def test_concatenate_many_arguments_all_get_gradients():
    dy.renew_cg()
    xs = [dy.inputTensor(np.full(2, k, dtype=np.float32)) for k in range(40)]
    y = dy.concatenate(xs)
    np.testing.assert_array_equal(y.npvalue(), np.repeat(np.arange(40.0), 2))
    w = np.arange(80.0)
    grads = grads_of(y, xs, w)
    for k, g in enumerate(grads):
        np.testing.assert_array_equal(g, w[2 * k:2 * k + 2])


def test_concatenate_cols_and_to_batch():
    dy.renew_cg()
    v = np.arange(3.0, dtype=np.float32)
    y = dy.concatenate_cols([dy.inputTensor(A), dy.inputTensor(v)])
    np.testing.assert_array_equal(y.npvalue(), np.concatenate([A, v[:, None]], 1))
    a = dy.inputTensor(A)
    b = dy.inputTensor(B, batched=True)
    z = dy.concatenate_to_batch([a, b])
    assert z.dim() == ((3, 4), 3)
    np.testing.assert_array_equal(z.npvalue(), np.concatenate([A[..., None], B], -1))
    w = np.random.default_rng(4).standard_normal((3, 4, 3))
    ga, gb = grads_of(z, [a, b], w)
    np.testing.assert_allclose(ga, w[..., 0], rtol=1e-6)
    np.testing.assert_allclose(gb, w[..., 1:], rtol=1e-6)


# ---- strided_select
def test_strided_select_batch_entry_and_defaults():
    dy.renew_cg()
    x = dy.inputTensor(B, batched=True)
    y = dy.strided_select(x, [1, 1, 2], [0, 0, 1], [3, 4, 2])  # last entry: the batch
    assert y.dim() == ((3, 4), 1)
    np.testing.assert_array_equal(y.npvalue(), B[..., 1])
    z = dy.strided_select(x, [2], [1], [])
    np.testing.assert_array_equal(z.npvalue(), B[1:3:2])


def test_strided_select_errors():
    dy.renew_cg()
    x = dy.inputTensor(A)
    with pytest.raises(ValueError, match="strided_select: stride for axis 0 must be >= 1, got 0"):
        dy.strided_select(x, [0], [], [])
    with pytest.raises(IndexError, match=r"strided_select: end 5 for axis 0 out of range \[0, 3\]"):
        dy.strided_select(x, [1], [0], [5])
    with pytest.raises(IndexError, match=r"strided_select: start 4 for axis 1 out of range \[0, 4\)"):
        dy.strided_select(x, [1, 1], [0, 4], [])
    with pytest.raises(ValueError, match="strided_select: empty selection"):
        dy.strided_select(x, [1], [2], [1])
    with pytest.raises(ValueError, match="strided_select: got more than 3 entries"):
        dy.strided_select(x, [1, 1, 1, 1], [], [])


# ---- Expression.__getitem__
@pytest.mark.parametrize("key", [1, -1, -3, slice(0, 2), slice(1, None), slice(None, -1), slice(None, None, 2),
                                 (1, 2), (-1, slice(1, 3)), (slice(None), 1), (slice(0, 3, 2), slice(1, 4, 2)),
                                 (slice(1, 2), 0)])
def test_getitem_matches_numpy(key):
    dy.renew_cg()
    got = dy.inputTensor(A)[key].npvalue()
    want = np.atleast_1d(A[key])
    np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_getitem_batched_and_gradient():
    dy.renew_cg()
    x = dy.inputTensor(B, batched=True)
    y = x[1:, 2]
    assert y.dim() == ((2,), 2)
    np.testing.assert_array_equal(y.npvalue(), B[1:, 2])
    w = np.ones((2, 2))
    (g,) = grads_of(y, [x], w)
    want = np.zeros_like(B)
    want[1:, 2] = 1
    np.testing.assert_array_equal(g, want)


def test_getitem_errors():
    dy.renew_cg()
    x = dy.inputTensor(A)
    with pytest.raises(IndexError, match="index 3 out of range for axis 0 of length 3"):
        x[3]
    with pytest.raises(IndexError, match="index -4 out of range"):
        x[-4]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0, 0]
    with pytest.raises(IndexError, match="out of range for the batch"):
        x[0, 0, 1]  # one index more than the axes is the batch (DyNet's), of size 1 here
    with pytest.raises(TypeError, match="Expression indices must be"):
        x[1.5]
    with pytest.raises(ValueError, match="empty slice"):
        x[2:1]
    with pytest.raises(ValueError, match="positive step"):
        x[::-1]


def test_getitem_accepts_numpy_integers():
    dy.renew_cg()
    np.testing.assert_array_equal(dy.inputTensor(A)[np.int64(2)].npvalue(), A[2])

"""Graph engine behaviour: lifetimes, errors, gradients into parameters, memory."""
import resource

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core


@pytest.fixture
def pc():
    dy.init(seed=7)
    return dy.ParameterCollection()


def test_parameter_gradient(pc):
    W = pc.add_parameters((3, 4))
    b = pc.add_parameters(3)
    x = np.arange(4, dtype=np.float32) / 4
    dy.renew_cg()
    y = dy.tanh(W * dy.inputVector(list(x)) + b)
    loss = dy.dot_product(y, y)
    loss.backward()
    Wv, bv = W.as_array().astype(np.float64), b.as_array().astype(np.float64)
    h = np.tanh(Wv @ x + bv)
    g_pre = 2 * h * (1 - h ** 2)
    np.testing.assert_allclose(W.grad_as_array(), np.outer(g_pre, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.grad_as_array(), g_pre, rtol=1e-5, atol=1e-6)
    assert loss.value() == pytest.approx(float(h @ h), rel=1e-6)


def test_parameter_used_twice_accumulates(pc):
    W = pc.add_parameters((2, 2), init=dy.NumpyInitializer(np.eye(2)))
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0])
    y = W * (W * x)
    dy.dot_product(y, dy.inputVector([1.0, 1.0])).backward()
    # d/dW of 1^T W W x = 1 (Wx)^T + W^T 1 x^T
    expected = np.outer([1, 1], [1, 2]) + np.outer([1, 1], [1, 2])
    np.testing.assert_allclose(W.grad_as_array(), expected)


def test_lookup_sparse_gradient(pc):
    E = pc.add_lookup_parameters((10, 3))
    before = E.as_array().copy()
    dy.renew_cg()
    v = dy.lookup_batch(E, [2, 5, 2])
    assert v.dim() == ((3,), 3)
    np.testing.assert_allclose(v.npvalue(), before[[2, 5, 2]].T)
    loss = dy.dot_product(v, dy.inputTensor(np.ones((3, 3)), batched=True))
    loss.backward()
    g = E.grad_as_array()
    np.testing.assert_allclose(g[2], 2 * np.ones(3))
    np.testing.assert_allclose(g[5], np.ones(3))
    assert sorted(E._touched_rows()) == [2, 5]
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.5)
    trainer.set_clip_threshold(0)
    trainer.update()
    after = E.as_array()
    untouched = [r for r in range(10) if r not in (2, 5)]
    np.testing.assert_array_equal(after[untouched], before[untouched])
    np.testing.assert_allclose(after[2], before[2] - 1.0, rtol=1e-6)
    assert E._touched_rows() == []


def _tied_loss(E, h, k):
    """Tied embeddings: the table's transpose as the output layer, plus one row looked up."""
    logits = dy.transpose(dy.parameter(E)) * dy.inputVector(h)
    return dy.pickneglogsoftmax(logits, k) + dy.sum_elems(dy.cmult(E[1], dy.inputVector(h)))


def test_lookup_table_gradient(pc):
    """parameter(lookup) is the whole table, (dim, rows) as in DyNet, and its gradient
    reaches every row: against NumPy and against finite differences."""
    E = pc.add_lookup_parameters((5, 3))
    h, k = np.array([0.5, -1.0, 2.0]), 3
    dy.renew_cg()
    table = E.expr()
    assert table.dim() == ((3, 5), 1) and E.dim() == ((3, 5), 1)
    assert E.vindex == table.vindex == E.expr().vindex and dy.parameter(E) is E  # one node per graph
    np.testing.assert_array_equal(table.npvalue(), E.as_array().T)
    loss = _tied_loss(E, h, k)
    loss.backward()
    e = E.as_array().astype(np.float64)
    z = e @ h
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    through_table = np.outer(p - np.eye(5)[k], h)
    expected = through_table.copy()
    expected[1] += h  # the lookup's share
    assert loss.value() == pytest.approx(-np.log(p[k]) + e[1] @ h, rel=1e-5)
    np.testing.assert_allclose(E.grad_as_array(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(E.row_grad_as_array(1), expected[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(E.gradient(), through_table.T, rtol=1e-4, atol=1e-5)  # the table node's
    assert sorted(E._touched_rows()) == list(range(5))
    eps = 1e-3
    for r, c in [(0, 0), (1, 2), (3, 1)]:
        losses = []
        for sign in (1, -1):
            moved = e.copy()
            moved[r, c] += sign * eps
            E.init_from_array(moved)
            dy.renew_cg()
            losses.append(_tied_loss(E, h, k).value())
        assert (losses[0] - losses[1]) / (2 * eps) == pytest.approx(expected[r, c], rel=2e-2, abs=2e-3)


def test_lookup_table_as_an_expression_and_constant(pc):
    E = pc.add_lookup_parameters((4, 2, 3))  # rows of shape (2, 3): the table is (2, 3, 4)
    dy.renew_cg()
    assert dy.tanh(E).dim() == ((2, 3, 4), 1)       # stands for its table, as DyNet's does
    np.testing.assert_allclose(E.npvalue(), np.moveaxis(E.as_array(), 0, -1), rtol=1e-6)
    F = pc.add_lookup_parameters((4, 3))
    dy.renew_cg()
    assert (F * dy.inputVector([1.0, 2.0, 3.0, 4.0])).dim() == ((3,), 1)
    dy.sum_elems(dy.const_parameter(F) * dy.inputVector([1.0, 2.0, 3.0, 4.0])).backward()
    assert not F.grad_as_array().any() and F._touched_rows() == []
    with pytest.raises(ValueError, match="not a single value"):
        F.scalar_value()
    with pytest.raises(IndexError, match="row 4 out of range"):
        F.row_grad_as_array(4)


def test_lookup_table_update_and_autobatch(pc):
    """A trainer updates every row of a table used whole; autobatching gives the
    same gradient."""
    E = pc.add_lookup_parameters((5, 3))
    h = np.array([0.5, -1.0, 2.0])
    grads = []
    for autobatch in (False, True):
        dy.init(autobatch=autobatch)
        dy.renew_cg()
        dy.esum([_tied_loss(E, h, k) for k in (0, 3)]).backward()
        grads.append(E.grad_as_array().copy())
        E._clear_grad()
    dy.init(autobatch=False)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-6)
    before = E.as_array().copy()
    dy.renew_cg()
    _tied_loss(E, h, 2).backward()
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.1)
    trainer.update()
    assert (np.abs(E.as_array() - before).sum(axis=1) > 0).all()


def test_lookup_single_row_and_getitem(pc):
    E = pc.add_lookup_parameters((4, 2))
    dy.renew_cg()
    np.testing.assert_allclose(E[3].npvalue(), E.as_array()[3])
    np.testing.assert_allclose(dy.lookup(E, 1).npvalue(), E.as_array()[1])
    with pytest.raises(IndexError, match="index 4 out of range .* 4 rows"):
        dy.lookup(E, 4)
    with pytest.raises(IndexError, match="-1"):
        dy.lookup_batch(E, [0, -1])


def test_random_distributions():
    dy.init(seed=3)
    dy.renew_cg()
    n = 20000
    x = dy.random_normal((n,), mean=1.0, stddev=2.0).npvalue()
    assert abs(x.mean() - 1.0) < 0.1 and abs(x.std() - 2.0) < 0.1
    u = dy.random_uniform((n,), -1.0, 3.0).npvalue()
    assert u.min() >= -1.0 and u.max() <= 3.0 and abs(u.mean() - 1.0) < 0.1
    b = dy.random_bernoulli((n,), 0.3, scale=2.0).npvalue()
    assert set(np.unique(b)) <= {0.0, 2.0} and abs((b > 0).mean() - 0.3) < 0.02
    g = dy.random_gumbel((n,)).npvalue()
    assert abs(g.mean() - 0.5772) < 0.05  # Euler–Mascheroni constant
    with pytest.raises(ValueError, match="p must be in"):
        dy.random_bernoulli((3,), 1.5)


def test_random_uniform_takes_reversed_bounds_as_dynet():
    # DyNet draws left + (right - left) * u for left > right too (no error); so does NumPy's legacy uniform.
    dy.init(seed=3)
    dy.renew_cg()
    u = dy.random_uniform((20000,), 3.0, -1.0).npvalue()
    assert u.min() > -1.0 and u.max() <= 3.0 and abs(u.mean() - 1.0) < 0.1
    np.testing.assert_array_equal(dy.random_uniform((4,), 2.0, 2.0).npvalue(), np.full(4, 2.0))


def test_seed_makes_random_ops_reproducible():
    def draw():
        dy.init(seed=11)
        dy.renew_cg()
        return dy.random_normal((5,)).npvalue()
    np.testing.assert_array_equal(draw(), draw())


def test_stale_expression_raises():
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0])
    dy.renew_cg()
    with pytest.raises(RuntimeError, match="stale Expression"):
        x.value()
    with pytest.raises(RuntimeError, match="stale Expression"):
        dy.tanh(x)
    with pytest.raises(RuntimeError, match="stale Expression"):
        dy.inputVector([1.0]) + x


def test_shape_errors_name_op_and_shapes(pc):
    dy.renew_cg()
    W = pc.add_parameters((3, 4))
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ; argument shapes: \{3,4\}, \{5\}"):
        W * dy.inputVector([1.0] * 5)
    with pytest.raises(ValueError, match=r"cmult: .*\{2\}, \{3\}"):
        dy.cmult(dy.inputVector([1, 2]), dy.inputVector([1, 2, 3]))
    with pytest.raises(ValueError, match="batch sizes differ"):
        dy.inputTensor(np.ones((2, 3)), batched=True) + dy.inputTensor(np.ones((2, 4)), batched=True)
    # A failed construction leaves the graph usable.
    n = dy.cg().size()
    assert dy.tanh(dy.inputVector([0.0])).value() == 0.0
    assert dy.cg().size() == n + 2


def test_bad_numpy_input():
    dy.renew_cg()
    with pytest.raises((ValueError, TypeError)):
        dy.inputTensor(np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"batched=True\) needs at least one axis"):
        dy.inputTensor(np.float32(3.0), batched=True)
    x = dy.inputTensor(np.arange(6, dtype=np.int64).reshape(2, 3))  # ints are converted
    np.testing.assert_array_equal(x.npvalue(), np.arange(6).reshape(2, 3))


def test_input_vector_and_matrix_read_numpy_arrays():
    dy.renew_cg()
    x = np.arange(12, dtype=np.float64) / 7
    # Any real dtype and any stride (a slice with a step is copied, not misread).
    np.testing.assert_allclose(dy.inputVector(x).npvalue(), x, rtol=1e-6)
    np.testing.assert_allclose(dy.inputVector(x[1::3]).npvalue(), x[1::3], rtol=1e-6)
    np.testing.assert_array_equal(dy.inputVector(np.arange(4, dtype=np.int32)).npvalue(), [0, 1, 2, 3])
    np.testing.assert_array_equal(dy.inputVector(np.array([True, False])).npvalue(), [1, 0])
    np.testing.assert_allclose(dy.inputVector(list(x.astype(np.float32))).npvalue(), x, rtol=1e-6)
    # inputMatrix: DyNet's column-major order, from a flat array as from a list.
    np.testing.assert_allclose(dy.inputMatrix(x[:6], (2, 3)).npvalue(), x[:6].reshape(2, 3, order="F"), rtol=1e-6)
    np.testing.assert_allclose(dy.inputMatrix(list(x[:6]), (2, 3)).npvalue(), x[:6].reshape(2, 3, order="F"),
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r"inputVector: expected a 1-D array, got shape \(2, 2\)"):
        dy.inputVector(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="inputVector: expected numbers, got an array of dtype <U1"):
        dy.inputVector(np.array(["a"]))
    with pytest.raises(TypeError, match="inputVector: expected a list of numbers or a 1-D NumPy array, got .*str"):
        dy.inputVector("abc")
    with pytest.raises(ValueError, match="inputVector: empty vector"):
        dy.inputVector(np.zeros(0))
    with pytest.raises(ValueError, match=r"inputMatrix: 5 values do not fill shape \{2,3\}"):
        dy.inputMatrix(np.zeros(5), (2, 3))


def test_backward_needs_scalar(pc):
    dy.renew_cg()
    with pytest.raises(ValueError, match="backward\\(\\) needs a scalar"):
        dy.inputVector([1.0, 2.0]).backward()
    with pytest.raises(RuntimeError, match="call backward\\(\\) first"):
        dy.inputVector([1.0]).gradient()


def test_batched_scalar_backward_sums_over_batch(pc):
    w = pc.add_parameters(2, init=dy.ConstInitializer(1.0))
    dy.renew_cg()
    x = dy.inputTensor(np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]), batched=True)
    loss = dy.dot_product(w, x)
    assert loss.dim() == ((1,), 3)
    loss.backward()
    np.testing.assert_allclose(w.grad_as_array(), [6.0, 3.0])


def test_value_conversions_follow_dynet():
    dy.renew_cg()
    assert isinstance(dy.scalarInput(2.0).value(), float)
    v = dy.inputVector([1.0, 2.0]).value()
    assert isinstance(v, list) and v == [1.0, 2.0]
    m = dy.inputTensor(np.ones((2, 3)))
    assert m.value().shape == (2, 3) and m.dim() == ((2, 3), 1)
    b = dy.inputTensor(np.ones((2, 3)), batched=True)
    assert b.dim() == ((2,), 3) and b.npvalue().shape == (2, 3)
    with pytest.raises(ValueError, match="not a single value"):
        b.scalar_value()


def test_lazy_incremental_forward():
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0])
    y = x * 2.0
    assert y.value() == [2.0, 4.0]
    z = y + 1.0  # added after evaluation: computed on demand
    assert z.value() == [3.0, 5.0]
    dy.forward([z])


def test_forward_recalculate_sees_changed_parameters(pc):
    W = pc.add_parameters(2, init=1.0)
    dy.renew_cg()
    y = W * 2.0
    dy.forward([y])
    assert y.value() == [2.0, 2.0]
    W.set_value(np.array([3.0, 4.0]))
    dy.forward([y])                      # already computed: kept
    assert y.value() == [2.0, 2.0]
    dy.forward(exps=[y], recalculate=True)
    assert y.value() == [6.0, 8.0]


def test_parameter_expr_is_constant_by_default_as_in_dynet(pc):
    W = pc.add_parameters(2, init=1.0)
    dy.renew_cg()
    dy.sum_elems(W.expr()).backward()
    assert not W.grad_as_array().any()
    dy.renew_cg()
    dy.sum_elems(W.expr(update=True)).backward()
    np.testing.assert_array_equal(W.grad_as_array(), [1.0, 1.0])


def test_immediate_compute_and_check_validity():
    """renew_cg(immediate_compute=True) evaluates each node as it is built;
    check_validity raises at the node whose value holds NaN or inf, there and then."""
    dy.renew_cg(immediate_compute=True, check_validity=True)
    x = dy.inputVector([1.0, -1.0])
    y = x + 1.0
    assert dy.cg().size() == 2 and y.value() == [2.0, 0.0]
    with pytest.raises(ValueError, match=r"check_validity: the value of node 2 \(log, shape \{2\}\) holds NaN or inf"):
        dy.log(y)
    dy.renew_cg(check_validity=True)  # lazy: raised when evaluated
    z = dy.sqrt(dy.inputVector([1.0, -1.0])) * 2.0
    with pytest.raises(ValueError, match=r"node 1 \(sqrt"):
        z.value()
    dy.renew_cg()                      # the flags hold for one graph
    assert np.isnan(dy.sqrt(dy.inputVector([-1.0])).value())


def test_checkpoint_and_revert():
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0])
    dy.cg_checkpoint()
    y = dy.exp(x)
    y.value()
    dy.cg_revert()
    assert dy.cg().size() == 1
    with pytest.raises(RuntimeError, match="no longer exists"):
        y.value()
    sq = dy.square(x)  # takes the number y's node had
    assert sq.value() == [1.0, 4.0]
    with pytest.raises(RuntimeError, match="removed by cg_revert"):
        y.value()  # still stale, not silently square(x)
    with pytest.raises(RuntimeError, match="without a matching"):
        dy.cg_revert()


def test_nested_reverts_keep_what_each_checkpoint_kept():
    dy.renew_cg()
    a = dy.inputVector([1.0])
    dy.cg_checkpoint()
    b = a * 2.0
    dy.cg_checkpoint()
    c = b * 3.0
    dy.cg_revert()  # removes c
    d = b + 1.0
    assert (d.value(), a.value(), b.value()) == (3.0, 1.0, 2.0)  # one-element vectors read as floats
    with pytest.raises(RuntimeError, match="removed by cg_revert"):
        c.value()
    dy.cg_revert()  # removes b and d
    e = a - 1.0
    assert e.value() == 0.0
    for gone in (b, c, d):
        with pytest.raises(RuntimeError, match="removed by cg_revert"):
            gone.value()
    assert (a + 0.5).value() == 1.5
    dy.renew_cg()
    with pytest.raises(RuntimeError, match="before the last renew_cg"):
        e.value()


def test_parameter_node_is_shared_within_a_graph(pc):
    W = pc.add_parameters((2, 2))
    dy.renew_cg()
    a, b = dy.parameter(W), dy.parameter(W)
    assert a.vindex == b.vindex
    c = dy.const_parameter(W)
    assert c.vindex != a.vindex
    dy.renew_cg()
    assert dy.parameter(W).vindex == 0


def test_const_parameter_gets_no_gradient(pc):
    W = pc.add_parameters(2, init=dy.ConstInitializer(1.0))
    dy.renew_cg()
    dy.dot_product(dy.const_parameter(W), dy.inputVector([1.0, 1.0])).backward(full=True)
    assert not W.grad_as_array().any()


def test_nan_gradient_is_reported_when_checking(pc):
    w = pc.add_parameters(1, init=dy.ConstInitializer(-1.0))
    t = dy.SimpleSGDTrainer(pc)
    t.set_check_finite(True)
    dy.renew_cg()
    dy.sqrt(dy.parameter(w) * 1.0).backward()  # sqrt(-1): NaN
    with pytest.raises(ValueError, match=r"non-finite .*/_0"):
        t.update()
    assert w.as_array()[0] == -1.0


def test_memory_stops_growing_over_many_graphs(pc):
    W = pc.add_parameters((64, 64))
    t = dy.SimpleSGDTrainer(pc, learning_rate=1e-4)

    def step(n):
        dy.renew_cg()
        h = dy.inputVector([0.1] * 64)
        for _ in range(n):
            h = dy.tanh(W * h)
        dy.dot_product(h, h).backward()
        t.update()

    for i in range(300):
        step(20 + i % 30)
    pools = _core.memory_in_use()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(2000):
        step(20 + i % 30)
    assert _core.memory_in_use() == pools
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 8 * 1024  # KiB


def test_pools_grow_on_demand_beyond_initial_size():
    dy.init(mem=1)  # 1 MB initial pools; the graph below needs ~40 MB
    dy.renew_cg()
    big = dy.inputTensor(np.ones((1000, 1000), dtype=np.float32))
    s = big
    for _ in range(8):
        s = s + big
    assert s.npvalue()[0, 0] == 9.0


def test_op_names_are_unique_and_exported():
    names = [r["name"] for r in _core.op_table()]
    assert "tanh" in names and "matmul" in names
    assert _core.node_ops() is not None


@pytest.mark.parametrize("fn", ["esum", "emax", "logsumexp", "concatenate"])
def test_variadic_ops_differentiate_every_argument(fn):
    dy.renew_cg()
    xs = [dy.inputVector([float(i), -float(i)]) for i in range(40)]
    out = getattr(dy, fn)(xs)
    dy.sum_elems(out).backward(full=True)
    grads = np.array([x.gradient() for x in xs])
    if fn == "emax":
        assert grads[39].any()  # the largest argument gets the gradient
    else:
        assert (np.abs(grads).sum(axis=1) > 0).all()


def test_affine_transform_with_many_products():
    dy.renew_cg()
    pairs = []
    for _ in range(20):
        pairs += [dy.inputTensor(np.ones((2, 3))), dy.inputVector([1.0, 1.0, 1.0])]
    b = dy.inputVector([0.0, 0.0])
    y = dy.affine_transform([b] + pairs)
    assert y.value() == [60.0, 60.0]
    dy.sum_elems(y).backward(full=True)
    assert np.allclose(pairs[-1].gradient(), 2.0)


def test_weight_used_many_times_gets_every_outer_product(pc):
    """The deferred rank-1 terms of a reused weight are all applied (one GEMM)."""
    W = pc.add_parameters((3, 2))
    Wv = W.as_array().astype(np.float64)
    xs = [np.array([1.0, -0.5]) * (k + 1) for k in range(5)]
    dy.renew_cg()
    outs = [dy.tanh(W * dy.inputVector(list(x))) for x in xs]
    M = dy.inputTensor(np.ones((3, 2)))
    loss = dy.esum([dy.sum_elems(o) for o in outs]) + dy.sum_elems(dy.cmult(M, W))
    loss.backward()
    expected = sum(np.outer(1 - np.tanh(Wv @ x) ** 2, x) for x in xs) + 1.0
    np.testing.assert_allclose(W.grad_as_array(), expected, rtol=1e-5, atol=1e-6)


def test_input_matrix_gradient_with_deferred_products():
    dy.renew_cg()
    A = dy.inputTensor(np.arange(6.0).reshape(3, 2))
    xs = [dy.inputVector([1.0, 2.0]), dy.inputVector([0.5, -1.0])]
    loss = dy.esum([dy.sum_elems(A * x) for x in xs])
    loss.backward(full=True)
    np.testing.assert_allclose(A.gradient(), np.outer(np.ones(3), [1.5, 1.0]))

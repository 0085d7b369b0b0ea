"""`W * x + b` built as one affine_transform node (graph/absorb.cc, python/expr_type.cc).

The Python `+` turns a product nothing else holds into affine_transform(b, W, x): one node
rather than two. Each case checks the node count (whether it merged), the value against NumPy,
and the gradients against the same expression with the product kept (not merged), and that
everything which must keep the two nodes apart does."""
import operator

import numpy as np
import pytest

import dynagraph as dy

H, IN = 5, 4


def _model(seed=3):
    rng = np.random.default_rng(seed)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((H, IN))
    b = pc.add_parameters(H)
    W.set_value(rng.normal(0, 0.7, (H, IN)))
    b.set_value(rng.normal(0, 0.7, H))
    return pc, W, b


X = np.array([0.3, -1.2, 0.8, 2.0])


def _graph_with_bias():
    """A model, a fresh graph, its input x and a bias node made before any product."""
    _, W, b = _model()
    dy.renew_cg()
    x = dy.inputVector(list(X))
    return W, b, x, dy.parameter(b) + 0.0


def _grads(build, keep_product):
    """Value, dL/dW, dL/db and dL/dx of sum(tanh(build(...))), and nodes the sum added."""
    pc, W, b = _model()
    dy.renew_cg()
    x = dy.inputVector(list(X))
    Wn, bn = dy.parameter(W), dy.parameter(b)
    dy.parameter(b)  # its node made before the product: a bias made after it keeps the add
    bias = bn + 0.0  # a node of the graph, made first
    Wn * x  # W's node made now: the counts below are the product's and the sum's
    before = dy._core.graph_size()
    kept = []
    y = build(Wn, x, bias, kept if keep_product else None)
    added = dy._core.graph_size() - before
    loss = dy.sum_elems(dy.tanh(y))
    value = loss.value()
    loss.backward(full=True)  # full: the input's gradient too
    return value, W.grad_as_array(), b.grad_as_array(), x.gradient(), added, y.npvalue()


def _product_then_bias(Wn, x, bias, keep):
    if keep is None:
        return Wn * x + bias
    p = Wn * x
    keep.append(p)
    return p + bias


def _bias_then_product(Wn, x, bias, keep):
    if keep is None:
        return bias + Wn * x
    p = Wn * x
    keep.append(p)
    return bias + p


@pytest.mark.parametrize("build", [_product_then_bias, _bias_then_product])
def test_merged_matches_numpy_and_the_two_node_graph(build):
    merged = _grads(build, keep_product=False)
    apart = _grads(build, keep_product=True)
    assert merged[4] == 1 and apart[4] == 2  # one node when nothing else holds W * x
    _, W, b = _model()
    expected = W.as_array() @ X + b.as_array()
    np.testing.assert_allclose(merged[5], expected, rtol=1e-5, atol=1e-6)
    for m, a in zip(merged[:4], apart[:4]):
        np.testing.assert_allclose(m, a, rtol=1e-5, atol=1e-6)
    # dL/db = 1 - tanh(y)^2 (the bias is read through `bias = b + 0`).
    np.testing.assert_allclose(merged[2], 1 - np.tanh(expected) ** 2, rtol=1e-5, atol=1e-6)


def test_gradients_against_finite_differences():
    pc, W, b = _model()
    w0 = W.as_array().copy()

    def loss_at(wv):
        W.set_value(wv)
        dy.renew_cg()
        x = dy.inputVector(list(X))
        bn = dy.parameter(b) + 0.0
        loss = dy.sum_elems(dy.tanh(dy.parameter(W) * x + bn))
        return loss, loss.value()

    loss, _ = loss_at(w0)
    loss.backward()
    analytic = W.grad_as_array().copy()
    eps = 1e-3
    numeric = np.zeros_like(w0)
    for i in range(H):
        for j in range(IN):
            up, dn = w0.copy(), w0.copy()
            up[i, j] += eps
            dn[i, j] -= eps
            numeric[i, j] = (loss_at(up)[1] - loss_at(dn)[1]) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=2e-3)


def test_kept_product_keeps_its_own_value():
    W, b, x, bias = _graph_with_bias()
    p = W * x
    y = p + bias
    np.testing.assert_allclose(p.npvalue(), W.as_array() @ X, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.npvalue(), W.as_array() @ X + b.as_array(), rtol=1e-5, atol=1e-6)


def test_a_parameter_bias_first_used_after_the_product_moves_before_it():
    _, W, b = _model()
    dy.renew_cg()
    x = dy.inputVector(list(X))
    W * x  # W's node
    before = dy._core.graph_size()
    y = W * x + b  # b's node is made by this `+`, after the product: it is moved before it
    assert dy._core.graph_size() - before == 2  # b's node and the merged one
    np.testing.assert_allclose(y.npvalue(), W.as_array() @ X + b.as_array(), rtol=1e-5, atol=1e-6)
    y2 = W * x + b  # b's node is reused
    assert dy._core.graph_size() - before == 3
    loss = dy.sum_elems(dy.tanh(y) + y2)
    loss.backward()
    t = np.tanh(W.as_array() @ X + b.as_array())
    np.testing.assert_allclose(b.grad_as_array(), 1 - t ** 2 + 1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(W.grad_as_array(), np.outer(1 - t ** 2 + 1, X), rtol=1e-5, atol=1e-6)


def test_an_expression_bias_made_after_the_product_keeps_the_add():
    _, W, b = _model()
    dy.renew_cg()
    x = dy.inputVector(list(X))
    W * x
    before = dy._core.graph_size()
    y = W * x + dy.inputVector(list(b.as_array()))  # made after the product, and it could be held
    assert dy._core.graph_size() - before == 3
    np.testing.assert_allclose(y.npvalue(), W.as_array() @ X + b.as_array(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("setup", ["checkpoint", "immediate", "evaluated"])
def test_what_keeps_the_two_nodes(setup):
    _, W, b = _model()
    dy.renew_cg(immediate_compute=setup == "immediate")
    x = dy.inputVector(list(X))
    bias = dy.parameter(b) + 0.0
    W * x  # W's node made now, so the counts below are the product's and the sum's
    if setup == "checkpoint":
        dy.cg_checkpoint()
    before = dy._core.graph_size()
    if setup == "evaluated":
        p = W * x
        p.value()  # evaluated: its value must stay W x
        y = p + bias
        del p
    else:
        y = W * x + bias
    assert dy._core.graph_size() - before == 2
    np.testing.assert_allclose(y.npvalue(), W.as_array() @ X + b.as_array(), rtol=1e-5, atol=1e-6)
    if setup == "checkpoint":
        dy.cg_revert()


def test_shapes_the_add_broadcasts_keep_the_add():
    rng = np.random.default_rng(0)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((H, IN))
    dy.renew_cg()
    xm = dy.inputTensor(rng.normal(size=(IN, 3)))
    col = dy.inputTensor(rng.normal(size=(H, 3)))  # the product's shape: merged
    before = dy._core.graph_size()
    y = W * xm + col
    assert dy._core.graph_size() - before == 2  # W's node and the merged one
    np.testing.assert_allclose(y.npvalue(), W.as_array() @ xm.npvalue() + col.npvalue(), rtol=1e-5, atol=1e-5)
    xb = dy.inputTensor(rng.normal(size=(IN, 6)), batched=True)
    bias = dy.inputVector(list(rng.normal(size=H)))  # batch 1 against a batch of 6: merged, broadcast
    before = dy._core.graph_size()
    yb = W * xb + bias
    assert dy._core.graph_size() - before == 1 and yb.dim() == ((H,), 6)
    np.testing.assert_allclose(yb.npvalue(), W.as_array() @ xb.npvalue() + bias.npvalue()[:, None], rtol=1e-5,
                               atol=1e-5)


def test_autobatched_merged_equals_unbatched_two_nodes():
    def run(autobatch, keep):
        pc, W, b = _model()
        dy.renew_cg()
        dy._core.set_autobatch(autobatch)
        try:
            rng = np.random.default_rng(9)
            bias = dy.parameter(b) + 0.0
            kept, losses = [], []
            for _ in range(7):
                x = dy.inputVector(list(rng.normal(size=IN)))
                p = W * x
                if keep:
                    kept.append(p)
                y = p + bias if keep else W * x + bias
                losses.append(dy.sum_elems(dy.logistic(y)))
            loss = dy.esum(losses)
            v = loss.value()
            loss.backward()
            return v, W.grad_as_array(), b.grad_as_array()
        finally:
            dy._core.set_autobatch(False)

    ref = run(False, True)
    for got in (run(True, False), run(False, False), run(True, True)):
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("caller", ["numpy_object_array", "star_args"])
def test_a_c_caller_reusing_its_only_reference_gets_its_own_value(caller):
    """A caller holding the product's only reference outside the interpreter's stack (a NumPy
    object array, a tuple passed as f(*t) before Python 3.14) makes it look like a temporary:
    it is merged, and using it again builds W x as a node of its own."""
    W, b, x, bias = _graph_with_bias()
    if caller == "numpy_object_array":
        arr = np.empty(1, dtype=object)
        arr[0] = W * x  # the array holds the product's only reference
        other = np.empty(1, dtype=object)
        other[0] = bias
        out = (arr + other)[0]  # NumPy calls `+` with that reference
        held = lambda: arr[0]  # noqa: E731
    else:
        t = (W * x, bias)
        out = operator.add(*t)  # the tuple's item goes in with a count of 1
        held = lambda: t[0]  # noqa: E731
    merged = dy._core.node_ops()[-1] == "affine_transform"
    np.testing.assert_allclose(out.npvalue(), W.as_array() @ X + b.as_array(), rtol=1e-5, atol=1e-6)
    before = dy._core.graph_size()
    np.testing.assert_allclose(held().npvalue(), W.as_array() @ X, rtol=1e-5, atol=1e-6)
    assert dy._core.graph_size() - before == (1 if merged else 0)  # W x again, once
    np.testing.assert_allclose(held().npvalue(), W.as_array() @ X, rtol=1e-5, atol=1e-6)
    assert dy._core.graph_size() - before == (1 if merged else 0)
    np.testing.assert_allclose(out.npvalue(), W.as_array() @ X + b.as_array(), rtol=1e-5, atol=1e-6)


def _patterns(P, rng):
    """Sums where a product is or is not merged, biases made before or by the `+`; the
    parameters first used inside them (W, U, b, c made by the `+` itself)."""
    x = dy.inputVector(list(rng.normal(size=IN)))
    h = dy.inputVector(list(rng.normal(size=H)))
    xm = dy.inputTensor(rng.normal(size=(IN, 2)))
    out = [P["W"] * x + P["U"] * h + P["b"],   # (product + product) + b: the sum is no product
           P["c"] + P["W"] * x,                 # a bias first used on the left
           (P["W"] * x + P["b"]) + P["c"],
           P["W"] * xm + P["b"],                # a matrix product and a vector bias: the add broadcasts
           P["W"] * xm + P["M"]]                # its own shape: merged
    return dy.esum([dy.sum_elems(dy.tanh(y)) for y in out])


@pytest.mark.parametrize("autobatch", [False, True])
def test_every_pattern_equals_the_unmerged_graph(autobatch):
    def run(on):
        before = dy._core._set_absorb_bias(on)
        try:
            pc = dy.ParameterCollection()
            rng = np.random.default_rng(4)
            P = {"W": pc.add_parameters((H, IN)), "U": pc.add_parameters((H, H)), "b": pc.add_parameters(H),
                 "c": pc.add_parameters(H), "M": pc.add_parameters((H, 2))}
            for v in P.values():
                v.set_value(rng.normal(0, 0.5, v.shape()))
            dy.renew_cg(autobatching=autobatch)
            loss = _patterns(P, rng)
            size = dy._core.graph_size()
            value = loss.value()
            loss.backward()
            grads = {k: v.grad_as_array().copy() for k, v in P.items()}
            dy.renew_cg(autobatching=False)
            return value, grads, size
        finally:
            dy._core._set_absorb_bias(before)

    merged, apart = run(True), run(False)
    assert merged[2] < apart[2]  # some were merged
    np.testing.assert_allclose(merged[0], apart[0], rtol=1e-5, atol=1e-6)
    for k in apart[1]:
        np.testing.assert_allclose(merged[1][k], apart[1][k], rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("bias_shape, product_input", [((H, 1), (IN,)), ((H,), (IN, 1))])
@pytest.mark.parametrize("order", ["product_first", "bias_first"])
def test_the_merged_node_keeps_the_adds_axes(bias_shape, product_input, order):
    # Dim equality ignores trailing axes of 1, but y.dim() and npvalue() show them: {H} + {H, 1}
    # is {H, 1}, and a merged node must not turn it into {H} (npvalue() shape (H,) broadcasts apart).
    def run(on):
        before = dy._core._set_absorb_bias(on)
        try:
            pc = dy.ParameterCollection()
            W = pc.add_parameters((H, IN))
            b = pc.add_parameters(bias_shape)
            dy.renew_cg()
            x = dy.inputTensor(np.ones(product_input))
            y = W * x + b if order == "product_first" else b + W * x
            return y.dim(), y.npvalue().shape
        finally:
            dy._core._set_absorb_bias(before)

    assert run(True) == run(False)


@pytest.mark.parametrize("bias", ["parameter", "expression"])
def test_a_node_handed_out_by_index_is_not_rewritten(bias):
    # node_expression(i) is a second Python object for node i: a temporary to the `+`, while
    # the named product still reads node i.
    _, W, b = _model()
    dy.renew_cg()
    x = dy.inputVector(list(X))
    other = dy.parameter(b) + 0.0 if bias == "expression" else b
    p = W * x
    y = dy._core.node_expression(p.vindex) + other
    np.testing.assert_allclose(p.npvalue(), W.as_array() @ X, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.npvalue(), W.as_array() @ X + b.as_array(), rtol=1e-5, atol=1e-6)


def test_an_absorbed_products_vindex_names_its_own_value():
    # The merged node's number would read W x + b through cg().forward_vec(vindex): the
    # product is built again and its number named.
    W, b, x, bias = _graph_with_bias()
    arr = np.empty(1, dtype=object)
    arr[0] = W * x
    arr + np.array([bias], dtype=object)  # NumPy passes `+` the array's only reference: merged
    np.testing.assert_allclose(dy.cg().forward_vec(arr[0].vindex), W.as_array() @ X, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bias", ["parameter", "expression"])
def test_a_number_read_before_the_add_keeps_the_product_apart(bias):
    """vindex hands the node's number out: a later `+` must not rewrite that node (nor move a
    bias parameter's node before it), or forward_vec(number) would read another value."""
    _, W, b = _model()
    dy.renew_cg()
    x = dy.inputVector(list(X))
    bias_node = dy.parameter(b) + 0.0 if bias == "expression" else b
    seen = []

    def tap(e):
        seen.append(e.vindex)
        return e

    y = tap(W * x) + bias_node
    np.testing.assert_allclose(dy.cg().forward_vec(seen[0]), W.as_array() @ X, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.npvalue(), W.as_array() @ X + b.as_array(), rtol=1e-5, atol=1e-6)
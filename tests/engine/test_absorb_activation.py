"""f(W * x + b) built as one node: tanh, logistic and rectify folded into the affine_transform
that nothing else holds (graph/absorb.cc, ops/affine_activation.h, python/expr_type.cc).

Each case checks whether it folded (the node count), the value against NumPy, and values and
gradients against the same program with the affine kept apart (bit for bit where the groups
are the same), and that everything which must keep the nodes apart does."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

H, IN = 6, 4
FOLDED = {"tanh": np.tanh, "logistic": lambda z: 1 / (1 + np.exp(-z)), "rectify": lambda z: np.maximum(z, 0)}


@pytest.fixture(autouse=True)
def _restore():
    yield
    _core._set_absorb_activation(True)
    _core._set_absorb_bias(True)
    dy.set_num_threads(1)


def _model(seed=3):
    rng = np.random.default_rng(seed)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((H, IN))
    b = pc.add_parameters(H)
    V = pc.add_parameters((H, H))
    W.set_value(rng.normal(0, 0.8, (H, IN)))
    b.set_value(rng.normal(0, 0.8, H))
    V.set_value(rng.normal(0, 0.8, (H, H)))
    return pc, W, b, V


@pytest.mark.parametrize("name", sorted(FOLDED))
def test_folded_node_matches_numpy_and_the_unfolded_graph(name):
    f = getattr(dy, name)

    def run(fold):
        _core._set_absorb_activation(fold)
        _, W, b, V = _model()
        dy.renew_cg()
        x = dy.inputVector([0.3, -1.2, 0.8, 2.0])
        W * x + b  # W's and b's nodes made now: the count below is the affine's and the activation's
        before = _core.graph_size()
        h = f(W * x + b)
        added = _core.graph_size() - before
        loss = dy.sum_elems(dy.cmult(h, V * h))
        value = loss.value()
        loss.backward(full=True)
        return added, value, h.npvalue(), h.gradient(), x.gradient(), W.grad_as_array(), b.grad_as_array()

    folded, apart = run(True), run(False)
    assert folded[0] == 1 and apart[0] == 2
    _, W, b, _ = _model()
    np.testing.assert_allclose(folded[2], FOLDED[name](W.as_array() @ [0.3, -1.2, 0.8, 2.0] + b.as_array()),
                               rtol=1e-5, atol=1e-6)
    for got, want in zip(folded[1:], apart[1:]):
        np.testing.assert_array_equal(got, want)  # the same expressions: bit for bit
    assert np.abs(folded[5]).sum() > 0


@pytest.mark.parametrize("name", sorted(FOLDED))
def test_gradients_against_finite_differences(name):
    f = getattr(dy, name)
    _, W, b, V = _model()
    w0 = W.as_array().copy()
    x0 = [0.3, -1.2, 0.8, 2.0]

    def loss_at(wv):
        W.set_value(wv)
        dy.renew_cg()
        h = f(W * dy.inputVector(x0) + b)
        loss = dy.sum_elems(dy.cmult(h, V * h))
        return loss, loss.value()

    loss, _ = loss_at(w0)
    assert _core.node_ops().count(f"{name}(affine_transform)") == 1
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
    np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=3e-3)


def test_only_tanh_logistic_rectify_of_an_unseen_affine_fold():
    _, W, b, _ = _model()
    dy.renew_cg()
    x = dy.inputVector([0.3, -1.2, 0.8, 2.0])
    W * x + b  # W's and b's nodes made now
    before = _core.graph_size()
    a = W * x + b  # named: it may be read on its own
    h = dy.tanh(a)
    e = dy.exp(W * x + b)  # not folded: exp
    t = dy.tanh(W * x)  # not folded: a product, not an affine_transform
    assert _core.graph_size() - before == 2 + 2 + 2
    z = W.as_array() @ [0.3, -1.2, 0.8, 2.0]
    np.testing.assert_allclose(a.npvalue(), z + b.as_array(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.npvalue(), np.tanh(z + b.as_array()), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e.npvalue(), np.exp(z + b.as_array()), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t.npvalue(), np.tanh(z), rtol=1e-5, atol=1e-6)
    # Folded once, an activation of the folded node is a node of its own.
    before = _core.graph_size()
    hh = dy.tanh(dy.logistic(W * x + b))
    assert _core.graph_size() - before == 2
    assert _core.node_ops()[-2:] == ["logistic(affine_transform)", "tanh"]
    np.testing.assert_allclose(hh.npvalue(), np.tanh(1 / (1 + np.exp(-z - b.as_array()))), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("setup", ["checkpoint", "immediate", "evaluated", "handed_out", "switched_off"])
def test_what_keeps_the_nodes_apart(setup):
    _, W, b, _ = _model()
    dy.renew_cg(immediate_compute=setup == "immediate")
    _core._set_absorb_activation(setup != "switched_off")
    x = dy.inputVector([0.3, -1.2, 0.8, 2.0])
    W * x + b  # W's and b's nodes made now
    if setup == "checkpoint":
        dy.cg_checkpoint()
    before = _core.graph_size()
    if setup == "evaluated":
        a = W * x + b
        a.value()  # evaluated: its value must stay W x + b
        h = dy.tanh(a)
        del a
    elif setup == "handed_out":
        i = (W * x + b).vindex
        h = dy.tanh(_core.node_expression(i))  # a second object may be held for node i
    else:
        h = dy.tanh(W * x + b)
    # (a checkpoint and immediate evaluation keep W * x and its + apart too)
    assert _core.graph_size() - before == (3 if setup in ("checkpoint", "immediate") else 2)
    assert "tanh" in _core.node_ops()[-1:]
    z = W.as_array() @ [0.3, -1.2, 0.8, 2.0] + b.as_array()
    np.testing.assert_allclose(h.npvalue(), np.tanh(z), rtol=1e-5, atol=1e-6)
    if setup == "checkpoint":
        dy.cg_revert()


def test_a_caller_reusing_its_only_reference_gets_its_own_value():
    """A tuple passed as f(*t) holds the affine's only reference (before Python 3.14 it goes
    in with a count of 1, as a temporary would): folded, and using it again builds W x + b
    as a node of its own."""
    _, W, b, _ = _model()
    dy.renew_cg()
    x = dy.inputVector([0.3, -1.2, 0.8, 2.0])
    t = (W * x + b,)
    h = dy.tanh(*t)
    folded = _core.node_ops()[-1] == "tanh(affine_transform)"
    z = W.as_array() @ [0.3, -1.2, 0.8, 2.0] + b.as_array()
    np.testing.assert_allclose(h.npvalue(), np.tanh(z), rtol=1e-5, atol=1e-6)
    before = _core.graph_size()
    np.testing.assert_allclose(t[0].npvalue(), z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dy.cg().forward_vec(t[0].vindex), z, rtol=1e-5, atol=1e-6)
    assert _core.graph_size() - before == (1 if folded else 0)
    if folded:
        assert _core.node_ops()[-1] == "affine_transform"
    # Gradients flow through both: d/dW of sum(tanh(z)) + sum(z).
    loss = dy.sum_elems(h) + dy.sum_elems(t[0])
    loss.backward()
    xv = np.array([0.3, -1.2, 0.8, 2.0])
    np.testing.assert_allclose(W.grad_as_array(), np.outer(1 - np.tanh(z) ** 2 + 1, xv), rtol=1e-5, atol=1e-5)


def test_a_number_read_before_the_activation_keeps_the_affine_apart():
    """vindex hands the node's number out: forward_vec(number) must keep reading W x + b."""
    _, W, b, _ = _model()
    dy.renew_cg()
    x = dy.inputVector([0.3, -1.2, 0.8, 2.0])
    seen = []

    def tap(e):
        seen.append(e.vindex)
        return e

    h = dy.tanh(tap(W * x + b))
    assert _core.node_ops()[-1] == "tanh"
    z = W.as_array() @ [0.3, -1.2, 0.8, 2.0] + b.as_array()
    np.testing.assert_allclose(dy.cg().forward_vec(seen[0]), z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.npvalue(), np.tanh(z), rtol=1e-5, atol=1e-6)


def _tree_cells(W, U, b, V, rng, n=24):
    """Cells whose gates are f(W x + b) for several f, each weight under one f."""
    losses = []
    for _ in range(n):
        x = dy.inputVector(list(rng.normal(size=IN)))
        i = dy.logistic(W * x + b)
        u = dy.tanh(U * x + b)
        c = dy.cmult(i, u)
        r = dy.rectify(dy.affine_transform([b, V, c]))
        losses.append(dy.sum_elems(dy.cmult(r, dy.tanh(c))))
    return dy.esum(losses)


@pytest.mark.parametrize("threads", [1, 2])
def test_autobatched_folded_graph_equals_the_unfolded_one(threads):
    def run(fold, autobatch):
        _core._set_absorb_activation(fold)
        dy.set_num_threads(threads)
        pc, W, b, V = _model()
        U = pc.add_parameters((H, IN))
        U.set_value(np.random.default_rng(8).normal(0, 0.8, (H, IN)))
        dy.renew_cg(autobatching=autobatch)
        loss = _tree_cells(W, U, b, V, np.random.default_rng(5))
        value = loss.value()
        loss.backward()
        return value, W.grad_as_array(), U.grad_as_array(), b.grad_as_array(), V.grad_as_array(), \
            len(_core.node_ops())

    ref = run(False, False)
    folded_plain, folded_batched, apart_batched = run(True, False), run(True, True), run(False, True)
    assert folded_plain[5] == folded_batched[5] < ref[5] == apart_batched[5]
    for got in (folded_plain, folded_batched):
        for g, r in zip(got[:5], ref[:5]):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    # Fewer nodes may change the schedule, so terms summed into b (shared by two groups) may come in
    # another order: a few ulp, no more.
    for g, r in zip(folded_batched[:5], apart_batched[:5]):
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-6)


def test_batched_and_matrix_inputs_fold():
    rng = np.random.default_rng(1)
    _, W, b, _ = _model()
    dy.renew_cg()
    X = dy.inputTensor(rng.normal(size=(IN, 5)), batched=True)
    M = dy.inputTensor(rng.normal(size=(IN, 3)))
    hb = dy.logistic(W * X + b)
    hm = dy.rectify(dy.affine_transform([dy.inputTensor(rng.normal(size=(H, 3))), dy.parameter(W), M]))
    ops = _core.node_ops()
    assert ops.count("logistic(affine_transform)") == 1 and ops.count("rectify(affine_transform)") == 1
    assert hb.dim() == ((H,), 5) and hm.dim() == ((H, 3), 1)
    want = 1 / (1 + np.exp(-(W.as_array() @ X.npvalue() + b.as_array()[:, None])))
    np.testing.assert_allclose(hb.npvalue(), want, rtol=1e-5, atol=1e-6)
    assert (hm.npvalue() >= 0).all()


def test_rectify_at_zero_has_the_unfolded_gradient():
    """A pre-activation of exactly 0 (and below): f'(0) = 0 either way."""
    def run(fold):
        _core._set_absorb_activation(fold)
        pc = dy.ParameterCollection()
        W = pc.add_parameters((2, 2))
        b = pc.add_parameters(2)
        W.set_value(np.array([[1.0, -1.0], [2.0, 0.0]]))
        b.set_value(np.array([0.0, -1.0]))
        dy.renew_cg()
        h = dy.rectify(W * dy.inputVector([1.0, 1.0]) + b)  # pre-activations 0 and 1
        loss = dy.sum_elems(h)
        loss.backward()
        return h.npvalue(), W.grad_as_array(), b.grad_as_array()

    folded, apart = run(True), run(False)
    for g, a in zip(folded, apart):
        np.testing.assert_array_equal(g, a)
    np.testing.assert_array_equal(folded[2], [0.0, 1.0])


def test_graph_printers_name_the_folded_activation():
    _, W, b, _ = _model()
    dy.renew_cg()
    dy.tanh(W * dy.inputVector([0.3, -1.2, 0.8, 2.0]) + b)
    assert "tanh(affine_transform)" in dy.graphviz_source(compact=True)
    assert _core.graph_nodes()[-1][0] == "tanh(affine_transform)"


def test_sufficient_factors_carry_the_activations_gradient():
    """Distributed SFB sends dL/dW as factors u v^T: u must be dz = dy f'(y), not dy."""
    _, W, b, V = _model()
    _core.set_collect_factors(True)
    try:
        dy.renew_cg()
        rng = np.random.default_rng(0)
        loss = dy.esum([dy.sum_elems(dy.cmult(h, h)) for h in
                        (dy.tanh(W * dy.inputVector(list(rng.normal(size=IN))) + b) for _ in range(3))])
        assert _core.node_ops().count("tanh(affine_transform)") == 3
        loss.backward()
        factors, dense_only = _core.take_factors()
    finally:
        _core.set_collect_factors(False)
    assert W.name() not in dense_only
    rebuilt = sum(u @ v.T for n, u, v in factors if n == W.name())
    np.testing.assert_allclose(rebuilt, W.grad_as_array(), rtol=1e-5, atol=1e-6)

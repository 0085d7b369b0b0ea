"""Gradient blocks shared with the user (autobatch_backward.cc, share_gradient_blocks): a group
whose members feed only an add / sub (first operand) / esum of their own shape takes that
group's gradient block instead of a zeroed one of its own, and the user skips its dx += dy.
Every case compares values, parameter gradients and intermediate expressions' gradients with
the unbatched executor, and checks whether the shared path was taken (autobatch_stats)."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

DIM = 6
TREES = 6


def _model(seed=3):
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    names = ("Wi", "Wf", "Wu", "Wo")
    p = {k: pc.add_parameters((DIM, DIM)) for k in names}
    p.update({"b" + k: pc.add_parameters(DIM) for k in names})
    p["E"] = pc.add_lookup_parameters((50, DIM))
    return p


def _cell(p, x, c_prev, named=False):
    """A Tree-LSTM-like cell: gates W x + b, then c = i*u + f*c_prev, h = o*tanh(c). Each W x + b
    is one affine_transform node (graph/absorb.cc); `named` holds the products in names,
    so they stay matmul nodes feeding adds."""
    held = []

    def gate(k):
        prod = p[k] * x
        if named:
            held.append(prod)
        return prod + p["b" + k] if named else p[k] * x + p["b" + k]

    i, f, u, o = dy.logistic(gate("Wi")), dy.logistic(gate("Wf")), dy.tanh(gate("Wu")), dy.logistic(gate("Wo"))
    c = dy.cmult(i, u) + dy.cmult(f, c_prev)
    return dy.cmult(o, dy.tanh(c)), c


def _chains(p, watch, named=False):
    """TREES independent chains of three cells; `watch` collects intermediates whose gradient is compared."""
    losses = []
    for t in range(TREES):
        h, c = dy.lookup(p["E"], t), dy.lookup(p["E"], 20 + t)
        for s in range(3):
            x = h + dy.lookup(p["E"], 30 + s)
            h, c = _cell(p, x, c, named)
            if t == 2:
                watch.append(c)
        losses.append(dy.dot_product(h, h) * (t + 1.0))
    return dy.esum(losses)


def _gradient(e):
    try:
        return e.gradient().copy()
    except RuntimeError:  # after the node backward started from: none (unbatched)
        return None


def _run(build, autobatch, start=None):
    """Loss value, every parameter's gradient, watched expressions' gradients and how many
    argument groups shared their user's gradient block."""
    p = _model()
    dy.renew_cg(autobatching=autobatch)
    watch = []
    loss = build(p, watch)
    target = watch[start] if start is not None else loss
    before = _core.autobatch_stats()["grads_aliased"]
    value = target.npvalue().copy()
    target.backward(full=True)
    shared = _core.autobatch_stats()["grads_aliased"] - before
    grads = {k: v.grad_as_array().copy() for k, v in p.items()}
    watched = [_gradient(w) for w in watch]
    dy.renew_cg(autobatching=False)
    return value, grads, watched, shared


def _same_as_unbatched(build, start=None):
    v0, g0, w0, _ = _run(build, False, start)
    v1, g1, w1, shared = _run(build, True, start)
    np.testing.assert_allclose(v1, v0, rtol=1e-5, atol=1e-6)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-4, atol=1e-6, err_msg=k)
    for i, (a, b) in enumerate(zip(w1, w0)):
        if b is None:
            continue
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=f"watched expression {i}")
    return shared


def test_cells_share_blocks_and_match_unbatched():
    shared = _same_as_unbatched(_chains)
    # i*u and f*c_prev summed, h + e feeding the next cell (each gate's W x + b is one node).
    assert shared >= 2


def test_cells_with_named_products_share_their_blocks_too():
    shared = _same_as_unbatched(lambda p, watch: _chains(p, watch, named=True))
    # and W x feeding W x + b (four gates).
    assert shared >= 6


def test_intermediate_gradients_read_through_a_shared_block():
    def build(p, watch):
        xs = [dy.lookup(p["E"], t) for t in range(TREES)]
        prods = [p["Wi"] * x for x in xs]          # shares the sum's block
        sums = [q + p["bWi"] for q in prods]
        watch.extend(prods + sums)
        return dy.esum([dy.dot_product(dy.tanh(s), dy.tanh(s)) for s in sums])
    assert _same_as_unbatched(build) >= 1


def test_an_argument_with_two_users_keeps_its_own_block():
    def build(p, watch):
        xs = [dy.lookup(p["E"], t) for t in range(TREES)]
        prods = [p["Wi"] * x for x in xs]
        sums = [q + p["bWi"] for q in prods]
        other = [dy.tanh(q) for q in prods]  # a second user: the product's gradient has two terms
        watch.extend(prods)
        return dy.esum([dy.sum_elems(s) + dy.dot_product(o, o) for s, o in zip(sums, other)])
    v0, g0, w0, _ = _run(build, False)
    v1, g1, w1, _ = _run(build, True)
    for a, b in zip(w1, w0):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_sub_shares_only_its_first_operand():
    def build(p, watch):
        a = [p["Wi"] * dy.lookup(p["E"], t) for t in range(TREES)]
        b = [p["Wf"] * dy.lookup(p["E"], 10 + t) for t in range(TREES)]
        d = [x - y for x, y in zip(a, b)]  # da = dd (shared), db = -dd (its own block)
        watch.extend(a + b)
        return dy.esum([dy.dot_product(dy.tanh(x), dy.tanh(x)) for x in d])
    assert _same_as_unbatched(build) >= 1


def test_esum_of_three_products_shares_all_operands():
    def build(p, watch):
        terms = []
        for t in range(TREES):
            e = dy.lookup(p["E"], t)
            terms.append(dy.esum([p["Wi"] * e, p["Wf"] * e, p["Wu"] * e]))
        watch.extend(terms)
        return dy.esum([dy.dot_product(dy.logistic(s), s) for s in terms])
    assert _same_as_unbatched(build) >= 3


def _scalar_terms(p, watch):
    """Per chain r_t = s_t + sum(c_t) with s_t = h_t . h_t: the s_t feed only the adds."""
    rs = []
    for t in range(TREES):
        x = dy.lookup(p["E"], t)
        h, c = _cell(p, x, dy.lookup(p["E"], 20 + t))
        s = dy.dot_product(h, h)
        watch.append(s)
        rs.append(s + dy.sum_elems(c))
    return dy.esum(rs)


def test_backward_from_an_intermediate_node():
    # Backward from s_2: the node backward starts from keeps its own block (its gradient
    # is 1 while its user's is not reached); the cells' groups still share theirs.
    assert _same_as_unbatched(_scalar_terms, start=2) >= 1
    assert _same_as_unbatched(_scalar_terms) >= 1


def test_unreached_user_leaves_shared_gradient_zero():
    def build(p, watch):
        xs = [dy.lookup(p["E"], t) for t in range(TREES)]
        prods = [p["Wi"] * x for x in xs]
        sums = [q + p["bWi"] for q in prods]   # computed, but the loss ignores them
        watch.extend(prods)
        used = [dy.dot_product(x, x) for x in xs]
        return dy.esum(used) + 0.0 * dy.sum_elems(dy.esum(sums))
    _same_as_unbatched(build)


def test_finite_differences_through_shared_blocks():
    p = _model()
    dy.renew_cg(autobatching=True)
    loss = _chains(p, [])
    loss.value()
    loss.backward()
    grad = p["Wf"].grad_as_array().copy()
    W = p["Wf"].as_array().copy()
    eps = 1e-2
    rng = np.random.default_rng(0)
    for _ in range(4):
        r, c = rng.integers(DIM), rng.integers(DIM)
        vals = []
        for s in (eps, -eps):
            Wd = W.copy()
            Wd[r, c] += s
            p["Wf"].set_value(Wd)
            dy.renew_cg(autobatching=True)
            vals.append(_chains(p, []).value())
        p["Wf"].set_value(W)
        assert grad[r, c] == pytest.approx((vals[0] - vals[1]) / (2 * eps), rel=2e-2, abs=2e-3)
    dy.renew_cg(autobatching=False)


def test_sharing_on_and_off_give_identical_gradients():
    # 0 + dy is dy exactly: the shared path must give the very same floats as the unshared one.
    def grads(share):
        _core._set_autobatch_share_grads(share)
        try:
            return _run(_chains, True)
        finally:
            _core._set_autobatch_share_grads(True)
    v_on, g_on, w_on, shared_on = grads(True)
    v_off, g_off, w_off, shared_off = grads(False)
    assert shared_on > 0 and shared_off == 0
    assert np.array_equal(v_on, v_off)
    for k in g_on:
        assert np.array_equal(g_on[k], g_off[k]), k
    for a, b in zip(w_on, w_off):
        assert np.array_equal(a, b)

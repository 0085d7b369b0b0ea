"""Batching signatures: which nodes the autobatching executor runs as one group.

Nodes join a group only when op, shape, attributes and argument shapes agree; the
groups found are counted, and values and gradients equal the unbatched executor's.
"""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

DIM = 6


def model(seed=5):
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    return pc, pc.add_lookup_parameters((40, DIM)), pc.add_parameters((DIM, DIM))


def run(build, autobatching):
    """(loss value, gradients of every parameter, groups launched) for one graph over a fresh model."""
    pc, E, W = model()
    dy.renew_cg(autobatching=autobatching)
    loss = build(E, W)
    before = _core.autobatch_stats()["groups"]
    value = loss.value()
    groups = _core.autobatch_stats()["groups"] - before
    loss.backward()
    grads = [E.grad_as_array().copy(), W.grad_as_array().copy()]
    dy.renew_cg(autobatching=False)
    return value, grads, groups


def check(build, groups):
    value, grads, got = run(build, True)
    ref_value, ref_grads, _ = run(build, False)
    assert got == groups
    assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-6)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def test_a_float_attribute_splits_groups():
    # 8 lookups (one group), elu with alpha 1 and 0.5 (two groups), W h (one group:
    # the products' right operands are all shape (6,)), sum_elems, esum.
    def build(E, W):
        return dy.esum([dy.sum_elems(W * dy.elu(E[i] - 2.0, 1.0 if i % 2 else 0.5)) for i in range(8)])
    # W's node (alone), lookup, the scalar subtraction, elu x2, product, sum_elems, esum
    check(build, 8)


def test_transposed_shapes_never_share_a_group():
    # (2, 3) matrices and their (3, 2) transposes: equal sizes, different shapes.
    def build(E, W):
        terms = []
        for i in range(8):
            m = dy.reshape(E[i], (2, 3))
            terms.append(dy.sum_elems(dy.tanh(dy.transpose(m) if i % 2 else m)))
        return dy.esum(terms)
    # lookup, 8 reshapes (never batched), transpose, tanh x2, sum_elems x2, esum
    check(build, 15)


def test_interleaved_signatures_form_one_group_each():
    acts = [dy.tanh, dy.logistic, dy.rectify]
    # Each tree applies the three activations in its own order, so readied nodes
    # alternate between signatures; each (step, activation) is still one group.
    def build(E, W):
        terms = []
        for i in range(30):
            h = E[i]
            for step in range(3):
                h = W * acts[(i + step) % 3](h)
            terms.append(dy.sum_elems(h))
        return dy.esum(terms)
    value, grads, groups = run(build, True)
    ref_value, ref_grads, _ = run(build, False)
    assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-6)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    # W's node, lookup, then per step: each activation once and the product once (its
    # argument shape is the same whatever the activation); sum_elems, esum: at most 2 + 3 * 4 + 2.
    assert groups <= 16


@pytest.mark.parametrize("sizes", [[3, 40, 5, 17], [64, 1, 64]])
def test_graphs_of_changing_sizes_in_a_row(sizes):
    """Recycled bucket storage from one graph to the next keeps groups exact."""
    for n in sizes:
        def build(E, W, n=n):
            return dy.esum([dy.dot_product(dy.tanh(W * E[i % 40]), E[(i + 1) % 40]) for i in range(n)])
        # W's node, lookups (one group: the dot products' second operands too, so even
        # one tree's two lookups), product, tanh, dot product, esum
        check(build, 6)


# ---- backward reads the gathered groups' member arguments that forward kept


def trees_loss(E, W, lo, hi):
    return dy.esum([dy.dot_product(dy.tanh(W * dy.cmult(E[i % 40], E[(i + 3) % 40])), E[(i + 1) % 40])
                    for i in range(lo, hi)])


def grads_of(loss, E, W):
    loss.backward()
    return [E.grad_as_array().copy(), W.grad_as_array().copy()]


def _two_part_run(autobatching):
    pc, E, W = model()
    dy.renew_cg(autobatching=autobatching)
    first = trees_loss(E, W, 0, 12)
    first.value()
    loss = first + trees_loss(E, W, 12, 30)
    value = loss.value()
    out = grads_of(loss, E, W)
    dy.renew_cg(autobatching=False)
    return value, out


def test_forward_in_two_parts_then_backward():
    """An intermediate's value first (one forward), then the loss (a second): groups of both kept."""
    value, grads = _two_part_run(True)
    ref_value, ref_grads = _two_part_run(False)
    assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-6)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def _reverted_run(autobatching):
    pc, E, W = model()
    dy.renew_cg(autobatching=autobatching)
    base = trees_loss(E, W, 0, 10)
    base.value()
    dy.cg_checkpoint()
    discarded = base + trees_loss(E, W, 10, 40)  # computed, then reverted away
    discarded.value()
    dy.cg_revert()
    loss = base + trees_loss(E, W, 5, 25)
    value = loss.value()
    out = grads_of(loss, E, W)
    dy.renew_cg(autobatching=False)
    return value, out


def test_revert_then_new_groups_then_backward():
    value, grads = _reverted_run(True)
    ref_value, ref_grads = _reverted_run(False)
    assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-6)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def test_finite_differences_through_kept_arguments():
    """W's gradient through gathered cmult/tanh groups against central differences."""
    pc, E, W = model()
    def loss_value():
        dy.renew_cg(autobatching=True)
        v = trees_loss(E, W, 0, 16).value()
        dy.renew_cg(autobatching=False)
        return v
    dy.renew_cg(autobatching=True)
    loss = trees_loss(E, W, 0, 16)
    loss.value()
    grad = grads_of(loss, E, W)[1]
    dy.renew_cg(autobatching=False)
    w = W.as_array().astype(np.float64)
    eps = 1e-2
    for r, c in [(0, 0), (2, 5), (5, 3)]:
        plus = w.copy(); plus[r, c] += eps
        W.set_value(plus.astype(np.float32)); up = loss_value()
        minus = w.copy(); minus[r, c] -= eps
        W.set_value(minus.astype(np.float32)); down = loss_value()
        W.set_value(w.astype(np.float32))
        assert grad[r, c] == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=2e-3)


@pytest.mark.parametrize("order", ["whole", "prefix", "reversed", "every_other"])
def test_argument_gradients_of_part_or_permutation_of_a_group(order):
    """A group's arguments: a whole earlier group in order (its block), a prefix of one,
    or its members permuted (gathered, added back member by member)."""
    pick = {"whole": list(range(8)), "prefix": list(range(4)), "reversed": list(range(7, -1, -1)),
            "every_other": [0, 2, 4, 6]}[order]

    def build(E, W):
        hs = [dy.tanh(W * E[i]) for i in range(8)]  # one group of 8
        others = [dy.logistic(E[i + 10]) for i in range(len(pick))]
        return dy.esum([dy.sum_elems(dy.cmult(hs[i], o)) for i, o in zip(pick, others)] +
                       [dy.sum_elems(h) * 0.5 for h in hs])
    value, grads, _ = run(build, True)
    ref_value, ref_grads, _ = run(build, False)
    assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-6)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)

"""Tree-LSTM builders against a NumPy re-implementation of Tai et al.'s
equations, and their gradients against finite differences."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph.data import Tree, parse_tree


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def randomize(params, rng, scale=0.5):
    for p in params:
        p.set_value(rng.uniform(-scale, scale, size=p.shape()))


def nary_ref(vals, N, H, x, kids):
    """vals: [W, U_1..U_N, b] as arrays; kids: list of (h, c) or None."""
    W, Us, b = vals[0], vals[1:1 + N], vals[-1]
    a = b.copy()
    if x is not None:
        a += W @ x
    for k, kid in enumerate(kids):
        if kid is not None:
            a += Us[k] @ kid[0]
    i, o, u = sig(a[:H]), sig(a[H:2 * H]), np.tanh(a[2 * H:3 * H])
    c = i * u
    for k, kid in enumerate(kids):
        if kid is not None:
            c = c + sig(a[(3 + k) * H:(4 + k) * H]) * kid[1]
    return o * np.tanh(c), c


def childsum_ref(vals, H, x, kids):
    Wiou, biou, Wf, bf, Uiou, Uf = vals
    a = biou.copy()
    fx = bf.copy()
    if x is not None:
        a += Wiou @ x
        fx += Wf @ x
    if kids:
        a += Uiou @ sum(h for h, _ in kids)
    c = sig(a[:H]) * np.tanh(a[2 * H:])
    for h, ck in kids:
        c = c + sig(fx + Uf @ h) * ck
    return sig(a[H:2 * H]) * np.tanh(c), c


TREE = "(0 (1 (2 a) (3 b)) (4 (5 c) (6 (7 d) (8 e))) (9 f))"


def embeddings(rng, words, dim):
    return {w: rng.normal(size=dim) for w in words}


def run_reference(tree, emb, compose):
    stack = []
    for node in tree.nodes():
        if node.children:
            k = len(node.children)
            kids = stack[-k:]
            del stack[-k:]
            stack.append(compose(None, kids))
        else:
            stack.append(compose(emb[node.word], []))
    return stack[0]


@pytest.mark.parametrize("layers", [1, 2])
def test_nary_matches_reference(layers):
    rng = np.random.default_rng(0)
    pc = dy.ParameterCollection()
    N, I, H = 3, 4, 5
    b = dy.NaryTreeLSTMBuilder(N, layers, I, H, pc) if layers > 1 else dy.NaryTreeLSTMBuilder(N, I, H, pc)
    for layer in b.get_parameters():
        randomize(layer, rng)
    tree = parse_tree(TREE)
    emb = embeddings(rng, "abcdef", I)
    dy.renew_cg()
    h, c = b.encode(tree, lambda leaf: dy.inputVector(emb[leaf.word]))
    vals = [[p.as_array().astype(np.float64) for p in layer] for layer in b.get_parameters()]

    def compose(x, kids):
        hs, cs = [], []
        for layer in range(layers):
            hk = [None if k is None else (k[0][layer], k[1][layer]) for k in kids]
            hh, cc = nary_ref(vals[layer], N, H, x, hk)
            hs.append(hh)
            cs.append(cc)
            x = hh
        return hs, cs

    ref_h, ref_c = run_reference(tree, emb, compose)
    np.testing.assert_allclose(h.npvalue(), ref_h[-1], atol=1e-5)
    np.testing.assert_allclose(c.npvalue(), ref_c[-1], atol=1e-5)


def test_childsum_matches_reference():
    rng = np.random.default_rng(1)
    pc = dy.ParameterCollection()
    I, H = 3, 4
    b = dy.ChildSumTreeLSTMBuilder(I, H, pc)
    randomize(b.get_parameters()[0], rng)
    tree = parse_tree(TREE)
    emb = embeddings(rng, "abcdef", I)
    dy.renew_cg()
    per_node = b.encode(tree, lambda leaf: dy.inputVector(emb[leaf.word]), per_node=True)
    vals = [p.as_array().astype(np.float64) for p in b.get_parameters()[0]]
    ref_h, ref_c = run_reference(tree, emb, lambda x, kids: childsum_ref(vals, H, x, kids))
    node, h, c = per_node[-1]
    assert node is tree and len(per_node) == len(tree)
    np.testing.assert_allclose(h.npvalue(), ref_h, atol=1e-5)
    np.testing.assert_allclose(c.npvalue(), ref_c, atol=1e-5)


@pytest.mark.parametrize("kind", ["nary", "childsum"])
def test_gradient_matches_finite_differences(kind):
    rng = np.random.default_rng(2)
    pc = dy.ParameterCollection()
    b = dy.NaryTreeLSTMBuilder(2, 3, 3, pc) if kind == "nary" else dy.ChildSumTreeLSTMBuilder(3, 3, pc)
    params = b.get_parameters()[0]
    randomize(params, rng)
    tree = parse_tree("(0 (1 (2 a) (3 b)) (4 c))")
    emb = embeddings(rng, "abc", 3)

    def loss_value():
        dy.renew_cg()
        h, c = b.encode(tree, lambda leaf: dy.inputVector(emb[leaf.word]))
        loss = dy.dot_product(h, h) + dy.sum_elems(c)
        return loss

    loss = loss_value()
    loss.value()
    loss.backward()
    eps = 1e-2
    for p in params:
        grad = p.grad_as_array()
        base = p.as_array().copy()
        for idx in list(np.ndindex(base.shape))[:6]:
            bumped = base.copy()
            bumped[idx] += eps
            p.set_value(bumped)
            up = loss_value().scalar_value()
            bumped[idx] -= 2 * eps
            p.set_value(bumped)
            down = loss_value().scalar_value()
            p.set_value(base)
            assert abs((up - down) / (2 * eps) - grad[idx]) < 2e-3, (p.name(), idx)


def test_add_input_api_equals_encode():
    rng = np.random.default_rng(3)
    pc = dy.ParameterCollection()
    b = dy.NaryTreeLSTMBuilder(2, 3, 4, pc)
    randomize(b.get_parameters()[0], rng)
    xs = [rng.normal(size=3) for _ in range(3)]
    dy.renew_cg()
    seq = b.initial_state()
    seq.add_input(0, [], dy.inputVector(xs[0]))
    seq.add_input(1, [], dy.inputVector(xs[1]))
    seq.add_input(2, [0, 1])
    seq.add_input(3, [], dy.inputVector(xs[2]))
    top = seq.add_input(4, [2, 3])
    tree = Tree("r", [Tree("n", [Tree("l", word="0"), Tree("l", word="1")]), Tree("l", word="2")])
    h, _ = b.encode(tree, lambda leaf: dy.inputVector(xs[int(leaf.word)]))
    np.testing.assert_allclose(top.npvalue(), h.npvalue(), atol=1e-6)
    np.testing.assert_allclose(seq.back().npvalue(), h.npvalue(), atol=1e-6)
    # the builder's own sequence (DyNet's start_new_sequence style)
    b.start_new_sequence()
    b.add_input("a", [], dy.inputVector(xs[0]))
    b.add_input("b", [None, "a"])
    assert b._seq.h("b").dim()[0] == (4,)


def test_deep_tree_has_no_recursion_limit():
    pc = dy.ParameterCollection()
    b = dy.NaryTreeLSTMBuilder(2, 2, 3, pc)
    node = Tree(0, word="x")
    for _ in range(3000):
        node = Tree(0, [node, Tree(0, word="x")])
    dy.renew_cg()
    x = dy.inputVector([0.1, -0.2])
    h, _ = b.encode(node, lambda leaf: x)
    assert np.all(np.isfinite(h.npvalue()))


def test_errors_name_expected_and_got():
    pc = dy.ParameterCollection()
    b = dy.NaryTreeLSTMBuilder(2, 3, 4, pc)
    cs = dy.ChildSumTreeLSTMBuilder(3, 4, pc)
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"expected an input of dimension \(3,\), got \(2,\)"):
        b.compose(dy.inputVector([1.0, 2.0]), [])
    with pytest.raises(ValueError, match=r"expected an input of dimension \(3,\), got \(5,\)"):
        cs.compose(dy.inputVector([1.0] * 5), [])
    seq = b.initial_state()
    leaf = seq.add_input(0, [], dy.inputVector([1.0, 2.0, 3.0]))
    assert leaf.dim()[0] == (4,)
    with pytest.raises(ValueError, match="at most N=2 children, got 3"):
        seq.add_input(1, [0, 0, 0])
    with pytest.raises(ValueError, match="child 7 of node 2 has not been added"):
        seq.add_input(2, [7])
    with pytest.raises(ValueError, match="already added"):
        seq.add_input(0, [], dy.inputVector([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="needs an input or at least one child"):
        seq.add_input(3, [])

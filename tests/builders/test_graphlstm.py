"""Graph-LSTM against the same equations in NumPy, on a graph with cycles."""
import numpy as np
import pytest

import dynagraph as dy


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def cell_ref(vals, H, x, kids):
    """kids: (h, c, type); vals: W_iou, b_iou, W_f, b_f, then (U_iou^m, U_f^m) per type."""
    a = vals[1] + vals[0] @ x
    fx = vals[3] + vals[2] @ x
    for h, _, m in kids:
        a = a + vals[4 + 2 * m] @ h
    c = sig(a[:H]) * np.tanh(a[2 * H:])
    for h, ck, m in kids:
        c = c + sig(fx + vals[5 + 2 * m] @ h) * ck
    return sig(a[H:2 * H]) * np.tanh(c), c


def reference(vals_f, vals_b, H, xs, edges, order):
    pos = {node: p for p, node in enumerate(order)}
    out = {}
    for vals, visit, before in ((vals_f, order, lambda i, j: pos[i] < pos[j]),
                                (vals_b, order[::-1], lambda i, j: pos[i] > pos[j])):
        states = {}
        for j in visit:
            kids = [(states[i][0], states[i][1], m) for i, jj, m in edges if jj == j and before(i, j)]
            states[j] = cell_ref(vals, H, xs[j], kids)
        out[len(out)] = states
    return [np.concatenate([out[0][j][0], out[1][j][0]]) for j in range(len(xs))]


EDGES = [(0, 1, 0), (1, 2, 0), (2, 3, 0), (3, 4, 0),      # adjacency
         (1, 0, 1), (2, 0, 1), (4, 1, 1), (0, 4, 2),      # "dependencies", cycles included
         (3, 1, 2), (2, 2, 0), (1, 3, 2)]                 # a self-loop and a second edge into 3


@pytest.mark.parametrize("order", [None, [4, 2, 0, 3, 1]])
def test_matches_reference(order):
    rng = np.random.default_rng(0)
    pc = dy.ParameterCollection()
    I, H, n = 3, 4, 5
    g = dy.GraphLSTMBuilder(3, I, H, pc)
    fwd, bwd = g.get_parameters()
    for p in fwd + bwd:
        p.set_value(rng.uniform(-0.6, 0.6, size=p.shape()))
    xs = [rng.normal(size=I) for _ in range(n)]
    dy.renew_cg()
    outs = g.transduce([dy.inputVector(x) for x in xs], EDGES, order=order)
    vf = [p.as_array().astype(np.float64) for p in fwd]
    vb = [p.as_array().astype(np.float64) for p in bwd]
    ref = reference(vf, vb, H, xs, EDGES, list(range(n)) if order is None else order)
    for o, r in zip(outs, ref):
        assert o.dim()[0] == (2 * H,)
        np.testing.assert_allclose(o.npvalue(), r, atol=1e-5)


def test_gradients_reach_exactly_the_edge_types_used():
    rng = np.random.default_rng(1)
    pc = dy.ParameterCollection()
    g = dy.GraphLSTMBuilder(3, 2, 3, pc)
    dy.renew_cg()
    outs = g.transduce([dy.inputVector(rng.normal(size=2)) for _ in range(5)], EDGES)
    loss = dy.esum([dy.sum_elems(o) for o in outs])
    loss.backward()
    fwd, bwd = g.get_parameters()
    # forward DAG (i < j) uses types 0 and 2; backward DAG (i > j) types 1 and 2
    for params, used in ((fwd, {0, 2}), (bwd, {1, 2})):
        for m in range(3):
            total = sum(np.abs(p.grad_as_array()).sum() for p in params[4 + 2 * m: 6 + 2 * m])
            assert (total > 0) == (m in used), (m, used)


def test_split_and_errors():
    pc = dy.ParameterCollection()
    g = dy.GraphLSTMBuilder(2, 2, 3, pc)
    fwd, bwd, _ = g.split_edges(3, [(0, 1, 0), (2, 0, 1), (1, 1, 0)])
    assert fwd == [[], [(0, 0)], []] and bwd == [[(2, 1)], [], []]
    dy.renew_cg()
    xs = [dy.inputVector([1.0, 2.0])] * 3
    with pytest.raises(ValueError, match="edge type 2 outside 0..1"):
        g.transduce(xs, [(0, 1, 2)])
    with pytest.raises(ValueError, match="outside 0..2"):
        g.transduce(xs, [(0, 3, 0)])
    with pytest.raises(ValueError, match="permutation"):
        g.transduce(xs, [], order=[0, 0, 1])
    with pytest.raises(ValueError, match=r"expected node inputs of dimension \(2,\), got \(3,\)"):
        g.transduce([dy.inputVector([1.0, 2.0, 3.0])], [])

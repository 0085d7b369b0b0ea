"""Groups whose members all read the very same argument node (autobatch.cc, gather_group).

A batch-1 argument common to every member is left unbatched only when the op broadcasts it
over the group: against another, batched argument, or (pick) over the members' indices. A
group with nothing else carrying the batch (tanh(x) twice, x + x twice, W * x twice) once
computed its first member only, the others reading zeros. Every case compares values, every
parameter's gradient and the shared argument's gradient with the unbatched executor."""
import numpy as np
import pytest

import dynagraph as dy

H = 6


def _model(seed=11):
    """Fresh parameters (no gradient yet) with values from `seed`."""
    rng = np.random.default_rng(seed)
    pc = dy.ParameterCollection()
    p = {"W": pc.add_parameters((H, H)), "U": pc.add_parameters((H, H)), "b": pc.add_parameters(H)}
    for v in p.values():
        v.set_value(rng.normal(0, 0.5, v.shape()))
    return pc, p


def _inputs(p, batch=1):
    rng = np.random.default_rng(5)
    if batch == 1:
        a = dy.inputVector(list(rng.uniform(-1, 1, H)))
        c = dy.inputVector(list(rng.uniform(-1, 1, H)))
    else:
        a = dy.inputTensor(rng.uniform(-1, 1, (H, batch)), batched=True)
        c = dy.inputTensor(rng.uniform(-1, 1, (H, batch)), batched=True)
    x = p["W"] * a + p["b"]  # the shared argument: a node of the graph, not a parameter
    return a, c, x


def _unary(p, w):
    a, c, x = _inputs(p)
    t1, t2 = dy.tanh(x), dy.tanh(x)
    w += [x, t1, t2]
    return dy.sum_elems(t1 + 2.0 * dy.cmult(t2, t2))


def _unary_mixed(p, w):
    a, c, x = _inputs(p)
    t1, u, t2, t3 = dy.tanh(x), dy.tanh(c), dy.tanh(x), dy.tanh(x)
    w += [x, t1, u, t2, t3]
    return dy.sum_elems(t1 + 2.0 * t2 + dy.cmult(t3, u) + u)


def _binary_same_operands(p, w):
    a, c, x = _inputs(p)
    s1, s2 = x + x, x + x
    m1, m2 = dy.cmult(x, x), dy.cmult(x, x)
    w += [x, s1, s2, m1, m2]
    return dy.sum_elems(dy.cmult(s1, s2) + 3.0 * m1 - m2)


def _products(p, w):
    a, c, x = _inputs(p)
    y1, y2 = p["U"] * x, p["U"] * x
    z1, z2 = dy.tanh(y1), dy.tanh(y2)
    w += [x, y1, y2, z1, z2]
    return dy.sum_elems(z1 + dy.cmult(z2, y2))


def _shared_and_distinct(p, w):
    a, c, x = _inputs(p)
    # cmult(x, x) twice beside cmult(x, c) (x shared, c batched in its own group), W x and W c.
    m1, m2, m3 = dy.cmult(x, x), dy.cmult(x, c), dy.cmult(x, x)
    y1, y2, y3 = p["U"] * x, p["U"] * c, p["U"] * x
    w += [x, m1, m2, m3, y1, y2, y3]
    return dy.sum_elems(m1 + 2.0 * m2 - m3 + dy.cmult(y1, y3) + y2)


def _minibatched(p, w):
    a, c, x = _inputs(p, batch=3)
    t1, t2 = dy.tanh(x), dy.tanh(x)
    y1, y2 = p["U"] * x, p["U"] * x
    w += [x, t1, t2, y1, y2]
    return dy.sum_batches(dy.sum_elems(t1 + dy.cmult(t2, t2) + dy.cmult(y1, y2)))


def _picks(p, w):
    a, c, x = _inputs(p)
    # pick broadcasts a batch-1 x over its members' indices; pickneglogsoftmax does not.
    k1, k2, k3 = dy.pick(x, 0), dy.pick(x, 3), dy.pick(x, 0)
    n1, n2 = dy.pickneglogsoftmax(x, 2), dy.pickneglogsoftmax(x, 2)
    w += [x, k1, k2, k3, n1, n2]
    return k1 + 2.0 * k2 + 3.0 * k3 + n1 + 0.5 * n2


CASES = [_unary, _unary_mixed, _binary_same_operands, _products, _shared_and_distinct, _minibatched, _picks]


def _run(build, autobatch):
    pc, p = _model()
    dy.renew_cg(autobatching=autobatch)
    watch = []
    loss = build(p, watch)
    value = loss.value()
    values = [e.npvalue().copy() for e in watch]
    loss.backward(full=True)
    grads = {k: v.grad_as_array().copy() for k, v in p.items()}
    watched = [e.gradient().copy() for e in watch]
    dy.renew_cg(autobatching=False)
    return value, values, grads, watched


@pytest.mark.parametrize("build", CASES, ids=lambda f: f.__name__.strip("_"))
def test_shared_argument_matches_unbatched(build):
    v0, vals0, g0, w0 = _run(build, False)
    v1, vals1, g1, w1 = _run(build, True)
    assert v1 == pytest.approx(v0, rel=1e-5, abs=1e-6)
    for i, (a, b) in enumerate(zip(vals1, vals0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"value of watched expression {i}")
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-5, atol=1e-6, err_msg=f"gradient of {k}")
    for i, (a, b) in enumerate(zip(w1, w0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"gradient of watched expression {i}")


def test_shared_argument_gradient_against_finite_differences():
    """The autobatched gradient of W against central differences of the unbatched loss."""
    pc, p = _model()
    dy.renew_cg(autobatching=True)
    loss = _unary(p, [])
    loss.value()
    loss.backward()
    grad = p["W"].grad_as_array().copy()
    W = p["W"].as_array().copy()
    eps = 1e-2
    rng = np.random.default_rng(1)
    for _ in range(5):
        r, c = rng.integers(H), rng.integers(H)
        vals = []
        for s in (eps, -eps):
            Wd = W.copy()
            Wd[r, c] += s
            p["W"].set_value(Wd)
            dy.renew_cg(autobatching=False)  # the unbatched loss: the one the gradient must match
            vals.append(_unary(p, []).value())
        p["W"].set_value(W)
        assert grad[r, c] == pytest.approx((vals[0] - vals[1]) / (2 * eps), rel=2e-2, abs=2e-3)
    dy.renew_cg(autobatching=False)


def _random_graph(p, inputs, seed):
    """A random graph of small ops whose nodes often repeat one another exactly (the same op
    on the same arguments), so groups mix shared and distinct arguments in every way."""
    rng = np.random.default_rng(seed)
    pool = list(inputs)
    ops = [
        lambda a, b: dy.tanh(a),
        lambda a, b: dy.logistic(a),
        lambda a, b: dy.cmult(a, b),
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: p["W"] * a,
        lambda a, b: p["U"] * a + p["b"],
        lambda a, b: dy.square(a),
    ]
    made = []
    for _ in range(int(rng.integers(20, 40))):
        if made and rng.random() < 0.4:  # an exact repeat of an earlier node
            o, ia, ib = made[int(rng.integers(len(made)))]
        else:
            o, ia, ib = int(rng.integers(len(ops))), int(rng.integers(len(pool))), int(rng.integers(len(pool)))
            if rng.random() < 0.3:
                ib = ia
        made.append((o, ia, ib))
        pool.append(ops[o](pool[ia], pool[ib]))
    tail = pool[len(inputs):]
    weights = rng.uniform(0.5, 1.5, len(tail))
    return dy.sum_elems(dy.esum([dy.tanh(e) * float(w) for e, w in zip(tail, weights)]))


def _run_random(seed, autobatch):
    pc, p = _model(seed % 7)
    dy.renew_cg(autobatching=autobatch)
    rng = np.random.default_rng(seed + 1000)
    inputs = [dy.inputVector(list(rng.uniform(-1, 1, H))) for _ in range(3)]
    loss = _random_graph(p, inputs, seed)
    value = loss.value()
    loss.backward(full=True)
    grads = [v.grad_as_array().copy() for v in p.values()] + [x.gradient().copy() for x in inputs]
    dy.renew_cg(autobatching=False)
    return value, grads


@pytest.mark.parametrize("threads", [1, 2])
def test_random_graphs_with_repeated_nodes_match_unbatched(threads):
    from dynagraph import _core
    before_threads = dy.get_num_threads()
    min_work = _core._autobatch_pool_min_work(0)  # every batched group may run on the pool
    try:
        dy.set_num_threads(threads)
        for seed in range(25):
            v0, g0 = _run_random(seed, False)
            v1, g1 = _run_random(seed, True)
            assert v1 == pytest.approx(v0, rel=1e-5, abs=1e-5), f"seed {seed}"
            for i, (a, b) in enumerate(zip(g1, g0)):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"seed {seed}, gradient {i}")
    finally:
        _core._autobatch_pool_min_work(min_work)
        dy.set_num_threads(before_threads)

"""set_num_threads(n > 1): a large autobatched group of an op that treats each batch
element on its own (op_table.def: DG_OP_SPLITS_BY_MEMBER) runs split into pieces of
its members over the threads, forward and the backward of its batched arguments, and
a weight's deferred gradient product runs split by columns. Each piece writes only
its own members' columns and computes them as the whole call would, so values and
gradients are bit-identical to one thread (compared with ==)."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

# _restore (autouse): threshold 0, so every group that may split, splits; threads, policy,
# stacking and fault injection restored after each test.
from test_autobatch_threads import _restore, assert_identical  # noqa: F401


def _pieces():
    s = dy.autobatch_stats()
    return np.array([s["pieces_forward"], s["pieces_backward"], s["pieces_outer"]])


def run(model, threads, seed=5):
    """The model's loss value and every gradient (parameters and inputs) at `threads` threads."""
    dy.set_num_threads(threads)
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    build = model(pc)
    dy.renew_cg(autobatching=True)
    loss, inputs = build()
    value = loss.value()
    loss.backward(full=True)
    grads = {f"p{i}": p.grad_as_array().copy() for i, p in enumerate(pc.parameters_list())}
    grads.update({f"l{i}": p.grad_as_array().copy() for i, p in enumerate(pc.lookup_parameters_list())})
    grads.update({f"in{i}": x.gradient().copy() for i, x in enumerate(inputs)})
    dy.renew_cg(autobatching=False)
    return value, grads


def tree_lstm(hid, trees=70, seed=1):
    """A Tree-LSTM over `trees` random trees (treenn.py's cell): groups of up to `trees` members."""
    def model(pc):
        rng = np.random.default_rng(seed)
        W = [pc.add_parameters((hid, hid)) for _ in range(3)]
        U = [pc.add_parameters((hid, 2 * hid)) for _ in range(5)]
        b = [pc.add_parameters(hid) for _ in range(5)]
        E = pc.add_lookup_parameters((50, hid))
        V = pc.add_parameters((5, hid))

        def tree(depth):
            if depth == 0 or rng.random() < 0.2:
                return int(rng.integers(50))
            return [tree(depth - 1), tree(depth - 1)]
        data = [(tree(4), int(rng.integers(5))) for _ in range(trees)]

        def node(t):
            if isinstance(t, int):
                x = E[t]
                i = dy.logistic(W[0] * x + b[0])
                o = dy.logistic(W[1] * x + b[1])
                u = dy.tanh(W[2] * x + b[2])
                c = dy.cmult(i, u)
                return dy.cmult(o, dy.tanh(c)), c
            (hl, cl), (hr, cr) = node(t[0]), node(t[1])
            e = dy.concatenate([hl, hr])
            i = dy.logistic(U[0] * e + b[0])
            o = dy.logistic(U[1] * e + b[1])
            u = dy.tanh(U[2] * e + b[2])
            fl = dy.logistic(U[3] * e + b[3])
            fr = dy.logistic(U[4] * e + b[4])
            c = dy.cmult(i, u) + dy.cmult(fl, cl) + dy.cmult(fr, cr)
            return dy.cmult(o, dy.tanh(c)), c

        def build():
            return dy.esum([dy.pickneglogsoftmax(V * node(t)[0], y) for t, y in data]), []
        return build
    return model


@pytest.mark.parametrize("hid", [48, 37])  # 37: members' blocks not a multiple of a vector
def test_tree_lstm_split_by_members_is_bit_identical(hid):
    model = tree_lstm(hid)
    one = run(model, 1)
    before = _pieces()
    two = run(model, 2)
    split = _pieces() - before
    # Backward pieces ran, and at 48 split weight gradients (at 37 each piece would be
    # too small, see kBlasSmallMacs); a level of several groups of like size runs them
    # whole, one per task (test_a_level_of_one_group_is_split splits forward).
    assert split[1] > 0 and (hid != 48 or split[2] > 0), split
    assert_identical(one, two)
    assert_identical(one, run(model, 3))


def test_a_weight_used_by_one_group_splits_its_gradient():
    """W used by one group of 256 products: its gradient is a single deferred term (no copy),
    which ran whole on the calling thread before it too was split by columns."""
    def model(pc):
        W = pc.add_parameters((128, 128))
        rng = np.random.default_rng(6)

        def build():
            xs = [dy.inputVector(rng.standard_normal(128)) for _ in range(256)]
            return dy.esum([dy.sum_elems(dy.tanh(W * x)) for x in xs]), xs
        return build
    one = run(model, 1)
    before = _pieces()
    two = run(model, 2)
    assert (_pieces() - before)[2] == 1  # the one weight-gradient GEMM, in pieces
    assert_identical(one, two)
    assert_identical(one, run(model, 3))


def test_one_thread_splits_nothing():
    before = _pieces()
    run(tree_lstm(32, trees=40), 1)
    assert (_pieces() == before).all()


def test_a_level_of_one_group_is_split():
    """One chain of products of 64 independent inputs: every level holds one group,
    which ran whole on the calling thread before groups were split."""
    def model(pc):
        W = pc.add_parameters((40, 40))
        b = pc.add_parameters(40)
        rng = np.random.default_rng(2)

        def build():
            xs = [dy.inputVector(rng.standard_normal(40)) for _ in range(64)]
            hs = [dy.tanh(W * dy.rectify(W * x + b)) for x in xs]
            return dy.esum([dy.squared_norm(h) for h in hs]), xs
        return build
    one = run(model, 1)
    before = _core.autobatch_stats()["waves_pooled"], _pieces()
    two = run(model, 2)
    assert dy.autobatch_stats()["waves_pooled"] > before[0]
    assert (_pieces() - before[1])[:2].min() > 0
    assert_identical(one, two)


ELEMENTWISE = {  # f(a, b, s, A): a, b batched over the group; s (a vector), A (a matrix) shared
    "add": lambda a, b, s, A: a + b,
    "sub": lambda a, b, s, A: a - b,
    "cmult": lambda a, b, s, A: dy.cmult(a, b),
    "cdiv": lambda a, b, s, A: dy.cdiv(a, dy.logistic(b) + 0.5),
    "esum": lambda a, b, s, A: dy.esum([a, b, a]),
    "negate": lambda a, b, s, A: -a + b,
    "scalars": lambda a, b, s, A: (a + 2.0) * 0.5 - b,
    "rectify": lambda a, b, s, A: dy.rectify(a) + b,
    "elu": lambda a, b, s, A: dy.elu(a) + b,
    "exp": lambda a, b, s, A: dy.exp(a * 0.1) + b,
    "square": lambda a, b, s, A: dy.square(a) + b,
    "concatenate": lambda a, b, s, A: dy.concatenate([a, b, a]),
    "broadcast": lambda a, b, s, A: dy.cmult(a + s, b - s),
    "affine": lambda a, b, s, A: dy.affine_transform([s, A, a]),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_each_splitting_op_is_bit_identical(name):
    f = ELEMENTWISE[name]

    def model(pc):
        W = pc.add_parameters((29, 29))
        S = pc.add_parameters(29)
        A = pc.add_parameters((29, 29))
        rng = np.random.default_rng(4)

        def build():
            xs = [dy.inputVector(rng.standard_normal(29)) for _ in range(50)]
            ys = [dy.inputVector(rng.standard_normal(29)) for _ in range(50)]
            s, a = dy.parameter(S), dy.parameter(A)
            outs = [f(dy.tanh(W * x), dy.logistic(W * y), s, a) for x, y in zip(xs, ys)]
            return dy.esum([dy.sum_elems(dy.cmult(o, o)) for o in outs]), xs + ys
        return build
    one = run(model, 1)
    before = _pieces()
    two = run(model, 2)
    assert (_pieces() - before)[1] > 0  # some batched argument's gradient was split
    assert_identical(one, two)


def test_finite_differences_through_split_backward():
    dy.set_num_threads(2)
    dy.init(seed=7)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((40, 40))
    b = pc.add_parameters(40)
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal(40) for _ in range(48)]

    def loss():
        hs = [dy.tanh(W * dy.logistic(W * dy.inputVector(x) + b)) for x in xs]
        return dy.esum([dy.sum_elems(dy.cmult(h, h)) for h in hs])
    dy.renew_cg(autobatching=True)
    before = _pieces()
    e = loss()
    e.value()
    e.backward()
    assert ((_pieces() - before)[:2] > 0).all()  # forward and backward pieces (W's product: too small to split)
    grad = W.grad_as_array().copy()
    W0 = W.as_array().copy()
    eps = 1e-2
    for r, c in [(0, 0), (3, 17), (39, 5), (11, 38)]:
        vals = []
        for s in (eps, -eps):
            Wd = W0.copy()
            Wd[r, c] += s
            W.set_value(Wd)
            dy.renew_cg(autobatching=True)
            vals.append(loss().value())
        W.set_value(W0)
        assert grad[r, c] == pytest.approx((vals[0] - vals[1]) / (2 * eps), rel=2e-2, abs=2e-3)


def test_small_groups_are_not_split():
    _core._autobatch_pool_min_work(1e12)
    before = _pieces()
    run(tree_lstm(32, trees=40), 2)
    assert (_pieces() == before).all()


def test_pool_handoff():
    """Back-to-back jobs find the worker awake (spinning): it sleeps only when the caller is
    away longer than the spin (descheduled on a loaded box), not once per job as a hand-off
    through the condition variable alone would. Counted, not timed."""
    dy.set_num_threads(2)
    assert _core._pool_handoff_ns(10, 2) > 0  # the pool started
    jobs = 2000
    best = jobs
    for _ in range(3):  # a burst of load may put the caller to sleep for a while: the best of 3
        before = _core._pool_worker_sleeps()
        ns = _core._pool_handoff_ns(jobs, 2)
        assert 0 < ns < 5e7
        best = min(best, _core._pool_worker_sleeps() - before)
    assert best < jobs // 10
    dy.set_num_threads(1)
    assert _core._pool_worker_sleeps() == 0  # no pool
    assert 0 <= _core._pool_handoff_ns(200, 2) < 1e6  # no pool: the tasks run here, in order


def test_an_exception_in_a_split_group_is_raised_once_and_the_pool_still_works():
    def model(pc):
        W = pc.add_parameters((40, 40))
        rng = np.random.default_rng(6)

        def build():
            xs = [dy.inputVector(rng.standard_normal(40)) for _ in range(64)]
            return dy.esum([dy.sum_elems(W * dy.tanh(x)) for x in xs]), xs  # tanh: the first group, split
        return build
    errors = []
    for threads in (1, 2):
        dy.set_num_threads(threads)
        _core._set_autobatch_fault(64)  # the first group of 64+ members raises in its forward
        pc = dy.ParameterCollection()
        build = model(pc)
        dy.renew_cg(autobatching=True)
        loss, _ = build()
        before = _pieces()
        with pytest.raises(IndexError, match="fault injected") as err:
            loss.value()
        errors.append(str(err.value))
        _core._set_autobatch_fault(0)
        if threads == 2:
            assert _pieces()[0] > before[0]  # it was a split group
        assert_identical(run(model, threads), run(model, 1))
    assert errors[0] == errors[1]


def test_tree_lstm_at_treenn_sizes_and_the_default_threshold_is_bit_identical():
    _core._autobatch_pool_min_work(65536)  # the default
    model = tree_lstm(128)
    one = run(model, 1)
    before = _pieces()
    two = run(model, 2)
    assert ((_pieces() - before) > 0).all()  # products split forward and backward, weight gradients by columns
    assert_identical(one, two)

"""The engine hooks dynagraph.distributed builds on: gradient hook, sufficient factors, _clear_grad."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

pytestmark = pytest.mark.distributed


@pytest.fixture
def hooks():
    yield
    _core.set_param_grad_hook(None)
    _core.set_collect_factors(False)
    dy.renew_cg(autobatching=False)


def _model():
    pc = dy.ParameterCollection()
    return pc, pc.add_parameters((3, 4), name="W"), pc.add_parameters(3, name="b"), pc.add_lookup_parameters((10, 4), name="E")


def test_hook_reports_each_parameter_once_after_its_consumers(hooks):
    pc, W, b, E = _model()
    calls = []
    _core.set_param_grad_hook(lambda name, is_lookup: calls.append((name, is_lookup, W.grad_as_array().copy())))
    dy.renew_cg()
    y = dy.affine_transform([dy.parameter(b), dy.parameter(W), dy.lookup(E, 2)])
    loss = dy.dot_product(y, y) + dy.dot_product(dy.parameter(W) * dy.lookup(E, 5), y)
    loss.backward()
    names = [c[0] for c in calls]
    assert names.count(W.name()) == 1 and names.count(b.name()) == 1 and names.count(E.name()) == 2
    w_call = next(c for c in calls if c[0] == W.name())
    assert not w_call[1]
    np.testing.assert_array_equal(w_call[2], W.grad_as_array())  # final when reported


@pytest.mark.parametrize("autobatch", [False, True])
def test_hook_waits_for_every_trainable_node_of_a_parameter(hooks, autobatch):
    """W, const_parameter(W), W again: two trainable nodes of W in one graph (issue 24).
    The hook reports W once, with its whole gradient, after the last of them; a
    parameter with one node is still reported while backward goes on below it."""
    pc, W, b, E = _model()
    calls = []
    _core.set_param_grad_hook(lambda name, is_lookup: calls.append(
        (name, W.grad_as_array().copy() if name == W.name() else None)))
    rng = np.random.default_rng(1)
    dy.renew_cg(autobatching=autobatch)  # the fixture turns autobatching off again
    xs = [dy.inputVector(list(rng.normal(size=4))) for _ in range(3)]
    h = dy.tanh(dy.parameter(W) * xs[0] + dy.parameter(b))
    h = h + dy.const_parameter(W) * xs[1]
    h = h + dy.parameter(W) * (xs[2] + dy.lookup(E, 1))
    loss = dy.dot_product(h, h)
    loss.backward()
    names = [c[0] for c in calls]
    assert names.count(W.name()) == 1 and names.count(b.name()) == 1
    got = next(c[1] for c in calls if c[0] == W.name())
    np.testing.assert_array_equal(got, W.grad_as_array())  # every node's part was in when reported
    assert np.abs(got).sum() > 0


@pytest.mark.parametrize("autobatch", [False, True])
@pytest.mark.parametrize("batched", [False, True])
def test_factors_rebuild_the_gradient(hooks, batched, autobatch):
    """Also under autobatching (docs/distributed.md says factors are captured there:
    backward then runs node by node)."""
    pc, W, b, E = _model()
    _core.set_collect_factors(True)
    dy.renew_cg(autobatching=autobatch)
    rng = np.random.default_rng(0)
    if batched:
        X = dy.inputTensor(rng.normal(size=(4, 5)).astype(np.float32), batched=True)
        y = dy.affine_transform([dy.parameter(b), dy.parameter(W), X])
        loss = dy.dot_product(y, y)
    else:
        terms = [dy.tanh(dy.parameter(W) * dy.inputVector(list(rng.normal(size=4)))) for _ in range(3)]
        loss = dy.esum([dy.dot_product(t, t) for t in terms])
    loss.backward()
    factors, dense_only = _core.take_factors()
    assert W.name() not in dense_only
    us = [u for n, u, v in factors if n == W.name()]
    vs = [v for n, u, v in factors if n == W.name()]
    k = sum(u.shape[1] for u in us)
    assert k == (5 if batched else 3)
    rebuilt = sum(u @ v.T for u, v in zip(us, vs))
    np.testing.assert_allclose(rebuilt, W.grad_as_array(), rtol=1e-5, atol=1e-6)
    assert _core.take_factors() == ([], dense_only)  # factors taken; the dense marks stay until the next set


def test_parameter_used_outside_products_is_dense_only(hooks):
    pc, W, b, E = _model()
    _core.set_collect_factors(True)
    dy.renew_cg()
    y = dy.parameter(W) * dy.lookup(E, 1)
    loss = dy.dot_product(y, y) + dy.sum_elems(dy.parameter(W)) if hasattr(dy, "sum_elems") else \
        dy.dot_product(y, y) + dy.trace_of_product(dy.parameter(W), dy.parameter(W))
    loss.backward()
    _, dense_only = _core.take_factors()
    assert W.name() in dense_only


def test_clear_grad():
    pc, W, b, E = _model()
    dy.renew_cg()
    y = dy.parameter(W) * dy.lookup(E, 7)
    dy.dot_product(y, y).backward()
    assert E._touched_rows() == [7] and np.abs(W.grad_as_array()).sum() > 0
    W._clear_grad()
    E._clear_grad()
    assert E._touched_rows() == [] and not W.grad_as_array().any() and not E.grad_as_array().any()


def test_hook_rejects_non_callable():
    with pytest.raises(ValueError):
        _core.set_param_grad_hook(3)


@pytest.mark.parametrize("uses,cap,want_k", [(1, True, 1), (3, True, None), (3, False, 3)])
def test_factor_cap_gives_up_when_factors_outgrow_the_gradient(hooks, uses, cap, want_k):
    # W is 3 x 4: K factor pairs cost 7K values against 12 for the gradient, so K = 1 is the most
    # that cap=True keeps; beyond it W is marked dense and its factors are dropped.
    pc, W, b, E = _model()
    _core.set_collect_factors(True, cap=cap)
    dy.renew_cg()
    terms = [dy.parameter(W) * dy.lookup(E, i) for i in range(uses)]
    dy.esum([dy.dot_product(t, t) for t in terms]).backward()
    factors, dense_only = _core.take_factors()
    mine = [(u, v) for n, u, v in factors if n == W.name()]
    if want_k is None:
        assert W.name() in dense_only and mine == []
    else:
        assert W.name() not in dense_only
        assert len(mine) == 1 and mine[0][0].shape == (3, want_k)  # one entry per parameter
        np.testing.assert_allclose(mine[0][0] @ mine[0][1].T, W.grad_as_array(), rtol=1e-5, atol=1e-6)


def test_hybrid_never_sends_factors_larger_than_the_gradient():
    from dynagraph.distributed.sfb import choose_encoding
    # One worker: BestScheme alone would pick SFB (no peers, zero traffic) whatever K is.
    assert choose_encoding("hybrid", (128, 128), 2048, True, 1, 1) == "ps"
    assert choose_encoding("hybrid", (128, 128), 16, True, 1, 1) == "sfb"
    assert choose_encoding("sfb", (128, 128), 2048, True, 1, 1) == "sfb"  # forced SFB stays SFB
    assert choose_encoding("hybrid", (1024, 1024), 16, True, 8, 8) == "sfb"


def test_factors_are_complete_with_autobatching(hooks):
    pc, W, b, E = _model()
    rng = np.random.default_rng(1)
    xs = [list(rng.normal(size=4)) for _ in range(5)]
    dy.renew_cg(autobatching=True)
    _core.set_collect_factors(True)
    terms = [dy.tanh(dy.parameter(W) * dy.inputVector(x)) for x in xs]  # one batched product
    dy.esum([dy.dot_product(t, t) for t in terms]).backward()
    factors, dense_only = _core.take_factors()
    (u, v), = [(u, v) for n, u, v in factors if n == W.name()]
    assert u.shape == (3, 5)
    np.testing.assert_allclose(u @ v.T, W.grad_as_array(), rtol=1e-5, atol=1e-6)
    dy.renew_cg(autobatching=False)


def test_factors_and_dense_marks_outlive_their_collection(hooks):
    """Factors and dense marks are read after backward and kept across renew_cg(): a collection
    deleted meanwhile must neither leave them pointing into freed storage (the names are read
    from it) nor let a new parameter at a reused address inherit another's dense mark."""
    import gc

    def record():
        pc = dy.ParameterCollection()
        W = pc.add_parameters((3, 4), name="gone_w")
        D = pc.add_parameters((3, 4), name="gone_dense")
        dy.renew_cg()
        x = dy.inputVector([1.0, 2.0, 3.0, 4.0])
        y = dy.parameter(W) * x + dy.sum_elems(dy.parameter(D)) * dy.sum_elems(dy.parameter(D) * x)
        dy.sum_elems(y).backward()

    _core.set_collect_factors(True)
    record()
    dy.renew_cg()  # the graph lets go of the storages; only the factor entries still refer to them
    gc.collect()
    for _ in range(20):  # new storages, likely at the freed addresses
        pc2 = dy.ParameterCollection()
        pc2.add_parameters((3, 4))
    factors, dense_only = _core.take_factors()
    assert [name for name, _, _ in factors] == ["/gone_w"]
    assert dense_only == {"/gone_dense"}
    # A fresh parameter is not mistaken for the dense one, whatever address it got.
    pc3 = dy.ParameterCollection()
    V = pc3.add_parameters((3, 4), name="fresh")
    dy.renew_cg()
    dy.sum_elems(dy.parameter(V) * dy.inputVector([1.0, 0.0, 0.0, 0.0])).backward()
    factors, dense_only = _core.take_factors()
    assert [name for name, _, _ in factors] == ["/fresh"] and "/fresh" not in dense_only

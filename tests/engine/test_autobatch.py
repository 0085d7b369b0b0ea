"""The autobatching executor gives the unbatched executor's values and gradients."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynagraph as dy
from dynagraph import _core

DIM = 4


def make_model(seed):
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    return pc, {
        "W": pc.add_parameters((DIM, 2 * DIM)),
        "U": pc.add_parameters((DIM, DIM)),
        "b": pc.add_parameters(DIM),
        "E": pc.add_lookup_parameters((10, DIM)),
    }


def encode(p, t, leaf):
    """The expression of tree t: leaves through ``leaf(word)``, chains, gates and pairs."""
    if isinstance(t, int):
        return leaf(t)
    if t[0] == "chain":
        h = encode(p, t[1], leaf)
        for _ in range(t[2]):
            h = dy.tanh(p["U"] * h + p["b"])
        return h
    left, right = encode(p, t[1], leaf), encode(p, t[2], leaf)
    if t[0] == "gate":
        return dy.logistic(p["U"] * left + dy.cmult(right, p["b"]))
    return dy.tanh(p["W"] * dy.concatenate([left, right]) + p["b"])


def build_forest(p, forest):
    """forest: list of (kind, payload) trees; returns the summed loss."""
    losses = []
    for tree in forest:
        h = encode(p, tree, lambda w: p["E"][w])
        label = len(str(tree)) % DIM
        losses.append(dy.pickneglogsoftmax(h, label) + dy.squared_norm(dy.softmax(h)) + dy.pick(h, label))
    return dy.esum(losses)


trees = st.recursive(
    st.integers(0, 9),
    lambda kids: st.one_of(st.tuples(st.sampled_from(["pair", "gate"]), kids, kids),
                           st.tuples(st.just("chain"), kids, st.integers(1, 3))),
    max_leaves=6,
)


def build_minibatched_forest(p, forest, batch):
    """As build_forest, with every tree run over a minibatch of `batch` (lookup_batch, batched losses)."""
    losses = []
    for n, tree in enumerate(forest):
        h = encode(p, tree, lambda w: dy.lookup_batch(p["E"], [(w + k) % 10 for k in range(batch)]))
        labels = [(n + k) % DIM for k in range(batch)]
        loss = (dy.pickneglogsoftmax_batch(h, labels) + dy.pick_batch(h, labels)
                + dy.squared_norm(dy.softmax(h)) + dy.dot_product(h, dy.transpose(dy.transpose(h))))
        if n % 2:  # a mask, as for sentences that ended: a non-parameter batched operand
            loss = dy.cmult(loss, dy.inputTensor(np.arange(batch, dtype=np.float32) % 2, batched=True))
        losses.append(loss)
    return dy.sum_batches(dy.esum(losses))


def run(forest, autobatch, seed, batch=0, policy="height"):
    pc, p = make_model(seed)
    dy.set_autobatch_policy(policy)
    dy.renew_cg(autobatching=autobatch)
    loss = build_minibatched_forest(p, forest, batch) if batch else build_forest(p, forest)
    value = loss.value()
    loss.backward()
    grads = {k: v.grad_as_array().copy() for k, v in p.items()}
    dy.renew_cg(autobatching=False)
    dy.set_autobatch_policy("height")
    return value, grads


def assert_same(forest, seed, batch=0, policy="height"):
    v0, g0 = run(forest, False, seed, batch)
    v1, g1 = run(forest, True, seed, batch, policy)
    assert v1 == pytest.approx(v0, rel=1e-5, abs=1e-5)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-4, atol=1e-5, err_msg=k)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forest=st.lists(trees, min_size=1, max_size=5), seed=st.integers(1, 1000),
       policy=st.sampled_from(["height", "depth"]))
def test_batched_equals_unbatched(forest, seed, policy):
    assert_same(forest, seed, policy=policy)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forest=st.lists(trees, min_size=1, max_size=4), seed=st.integers(1, 1000), batch=st.integers(2, 3),
       policy=st.sampled_from(["height", "depth"]))
def test_minibatched_graphs_batched_equal_unbatched(forest, seed, batch, policy):
    """Nodes that are minibatches themselves (bd > 1) join groups batch after batch."""
    assert_same(forest, seed, batch, policy)


def test_policy_names_are_checked():
    with pytest.raises(ValueError, match="'height' or 'depth'"):
        dy.set_autobatch_policy("breadth")
    assert dy.get_autobatch_policy() == "height"


def _per_step_loss_groups(policy):
    """A 6-step minibatched RNN with a softmax loss at every step (dynet-benchmark's rnnlm-batch form)."""
    pc, p = make_model(11)
    V = pc.add_parameters((7, DIM))
    dy.set_autobatch_policy(policy)
    dy.renew_cg(autobatching=True)
    h = dy.lookup_batch(p["E"], [0, 1, 2])
    losses = []
    for t in range(6):
        losses.append(dy.pickneglogsoftmax_batch(V * h, [t % 7, (t + 1) % 7, (t + 2) % 7]))
        h = dy.tanh(p["U"] * h + dy.lookup_batch(p["E"], [t, t + 1, t + 2]))
    loss = dy.sum_batches(dy.esum(losses))
    before = _core.autobatch_stats()["groups"]
    value = loss.value()
    groups = _core.autobatch_stats()["groups"] - before
    dy.renew_cg(autobatching=False)
    dy.set_autobatch_policy("height")
    return value, groups


def test_per_step_losses_wait_and_run_as_one_group_under_the_height_policy():
    (v_depth, g_depth), (v_height, g_height) = _per_step_loss_groups("depth"), _per_step_loss_groups("height")
    assert v_height == pytest.approx(v_depth, rel=1e-5)
    # depth: the 6 products V*h and the 6 losses run step by step (12 groups among the rest);
    # height: they wait for the last step and run as one product and one loss group.
    assert g_depth - g_height == 10


def test_autobatching_groups_same_signature_nodes():
    pc, p = make_model(3)
    before = _core.autobatch_stats()
    dy.renew_cg(autobatching=True)
    hs = [dy.tanh(p["U"] * p["E"][i] + p["b"]) for i in range(8)]
    loss = dy.esum([dy.dot_product(h, h) for h in hs])
    loss.value()
    after = _core.autobatch_stats()
    size = dy.cg().size()
    dy.renew_cg(autobatching=False)
    # 8 lookups, 8 tanh(U x + b) (one affine_transform node with tanh folded in:
    # test_absorb_bias.py, test_absorb_activation.py), 8 dot products: three batched groups,
    # plus the two parameter nodes and the final esum alone.
    assert size == 27
    assert after["nodes"] - before["nodes"] == 27
    assert after["groups"] - before["groups"] == 6


def test_init_flag_switches_executor():
    dy.init(autobatch=True)
    assert _core.get_autobatch()
    dy.init(autobatch=False)
    assert not _core.get_autobatch()


def _dead_branch_gradients(autobatch):
    pc, p = make_model(5)
    dy.renew_cg(autobatching=autobatch)
    # Eight same-signature chains; only the even ones reach the loss, so the
    # odd ones share groups with live nodes but receive no gradient.
    hs = [dy.tanh(p["U"] * p["E"][i] + p["b"]) for i in range(8)]
    loss = dy.esum([dy.dot_product(h, h) for h in hs[::2]])
    loss.value()
    loss.backward()
    out = [h.gradient().copy() for h in hs], p["U"].grad_as_array().copy(), p["E"].grad_as_array().copy()
    dy.renew_cg(autobatching=False)
    return out


def test_gradients_of_intermediates_and_dead_branches_match_unbatched():
    (h0, u0, e0), (h1, u1, e1) = _dead_branch_gradients(False), _dead_branch_gradients(True)
    for a, b in zip(h0, h1):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert all(not h.any() for h in h1[1::2])  # dead branches read as exact zeros
    np.testing.assert_allclose(u1, u0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e1, e0, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("autobatch", [False, True])
@pytest.mark.parametrize("uses,batch", [(4, 3), (40, 16)])  # 640 columns: applied in several flushes
def test_weight_gradient_of_hand_batched_products_matches_numpy(autobatch, uses, batch):
    """W used by several batched products: its gradient is the sum of dY X^T over uses."""
    pc, p = make_model(7)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((DIM, batch)).astype(np.float32) for _ in range(uses)]
    cs = [rng.standard_normal((DIM, batch)).astype(np.float32) for _ in range(uses)]
    dy.renew_cg(autobatching=autobatch)
    U = p["U"]
    terms = [dy.dot_product(U * dy.inputTensor(x, batched=True), dy.inputTensor(c, batched=True))
             for x, c in zip(xs, cs)]
    loss = dy.sum_batches(dy.esum(terms))
    loss.backward()
    expected = sum(c @ x.T for x, c in zip(xs, cs))
    np.testing.assert_allclose(U.grad_as_array(), expected, rtol=1e-4, atol=1e-4)
    dy.renew_cg(autobatching=False)


def test_nodes_with_int_attributes_batch_only_when_the_attributes_agree():
    pc, p = make_model(4)
    dy.renew_cg(autobatching=True)
    xs = [p["E"][i] for i in range(4)]  # one lookup group
    lo = [dy.pick_range(x, 0, 2) for x in xs]  # one group
    hi = [dy.pick_range(x, 2, 4) for x in xs]  # another: a different span
    loss = dy.esum([dy.dot_product(a, b) for a, b in zip(lo, hi)])
    before = _core.autobatch_stats()
    value = loss.value()
    groups = _core.autobatch_stats()["groups"] - before["groups"]
    E = p["E"].as_array()
    expected = sum(float(E[i, :2] @ E[i, 2:]) for i in range(4))
    dy.renew_cg(autobatching=False)
    assert value == pytest.approx(expected, rel=1e-5)
    # lookup, pick_range x2, dot_product, esum, and the lookup parameter is not a node: 5 groups
    assert groups == 5

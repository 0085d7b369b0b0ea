"""Products of different weights over the same batched operand (a cell's gates) run by
the autobatching executor as one GEMM over the weights stacked when
dy.set_autobatch_stacking(True) (groups of at least 32 members, partners as far from the
end of the graph as the group chosen): values and
gradients to each weight and to the operand equal the unbatched graph's, stacking on or
off, and the weights' gradients match finite differences."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

IN, HID, MEMBERS = 5, 4, 36  # 32 members at least are stacked


@pytest.fixture(autouse=True)
def _defaults_after():
    yield  # a failed test leaves the executor's settings as the next test expects
    dy.set_autobatch_stacking(False)
    dy.set_autobatch_policy("height")


def _model(seed=3, rows=(HID, HID, HID, HID + 2)):
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    return pc, {"W": [pc.add_parameters((r, IN)) for r in rows], "E": pc.add_lookup_parameters((60, IN))}


def _stats():
    s = _core.autobatch_stats()
    return np.array([s["products_stacked"], s["stacked_sets"]])


# The gates' products go through chains of one length (equal heights: they join one set).
_CHAINS = (dy.logistic, dy.tanh, dy.square, dy.logistic)


def _gates(p, xs, chains=_CHAINS):
    losses = []
    for i, x in enumerate(xs):
        for g, W in enumerate(p["W"]):
            losses.append(dy.sum_elems(chains[g](dy.parameter(W) * x)) * float((i % 5 + 1) * (g + 1)))
    return dy.esum(losses)


def _leaves(p, n=MEMBERS, order=None):
    xs = [dy.tanh(p["E"][i]) for i in range(n)]
    return [xs[i] for i in order] if order is not None else xs


def _run(build, autobatch, stacking=True, seed=3, policy="height"):
    pc, p = _model(seed)
    dy.set_autobatch_stacking(stacking)
    dy.set_autobatch_policy(policy)
    try:
        dy.renew_cg(autobatching=autobatch)
        loss = build(p)
        before = _stats()
        value = loss.value()
        loss.backward()
        counts = _stats() - before
        grads = [W.grad_as_array().copy() for W in p["W"]] + [p["E"].grad_as_array().copy()]
    finally:
        dy.set_autobatch_stacking(False)
        dy.set_autobatch_policy("height")
        dy.renew_cg(autobatching=False)
    return value, grads, counts


def _check_same(build, expect_sets, policy="height"):
    v0, g0, _ = _run(build, False)
    v_off, g_off, c_off = _run(build, True, stacking=False, policy=policy)
    v_on, g_on, c_on = _run(build, True, stacking=True, policy=policy)
    assert c_off.tolist() == [0, 0]
    assert c_on[1] == expect_sets, c_on
    for v, g in ((v_off, g_off), (v_on, g_on)):
        assert v == pytest.approx(v0, rel=1e-5, abs=1e-6)
        for k, (a, b) in enumerate(zip(g, g0)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=f"parameter {k}")
    return c_on


def test_stacking_is_off_by_default_and_can_be_switched():
    assert dy.get_autobatch_stacking() is False
    dy.set_autobatch_stacking(True)
    try:
        assert dy.get_autobatch_stacking() is True
    finally:
        dy.set_autobatch_stacking(False)


def test_gates_of_different_heights_form_one_set():
    counts = _check_same(lambda p: _gates(p, _leaves(p)), expect_sets=1)
    assert counts[0] == 4  # all four products, the taller weight included


def test_small_groups_are_not_stacked():
    _check_same(lambda p: _gates(p, _leaves(p, n=20)), expect_sets=0)


def test_operand_gathered_and_its_gradient_scattered():
    # The operands in an order other than their block's: gathered, and the stacked
    # product's operand gradient goes back through the scatter.
    order = [(7 * i) % MEMBERS for i in range(MEMBERS)]
    _check_same(lambda p: _gates(p, _leaves(p, order=order)), expect_sets=1)


def test_a_gate_without_gradient_counts_as_zeros():
    # Gate 2's chain passes no gradient: its block of the stacked gradient is zeros.
    chains = (dy.logistic, dy.tanh, dy.nobackprop, dy.logistic)
    counts = _check_same(lambda p: _gates(p, _leaves(p), chains), expect_sets=1)
    assert counts[0] == 4


def _uneven(p):
    # Gate 1's path to the loss is longest, gate 3's shortest, gate 2 feeds nothing.
    losses = []
    for i, x in enumerate(_leaves(p)):
        y = [dy.parameter(W) * x for W in p["W"]]
        losses += [dy.sum_elems(dy.logistic(y[0])), dy.sum_elems(dy.tanh(y[1])) * float(i % 3 + 1),
                   dy.sum_elems(y[3])]
    return dy.esum(losses)


def test_partners_nearer_the_end_wait_under_the_height_rule():
    # The group run first is gate 1's; the others lead less far and wait, as they would unstacked.
    _check_same(_uneven, expect_sets=0)


def test_under_the_depth_rule_all_join_and_an_unused_gate_adds_zeros():
    counts = _check_same(_uneven, expect_sets=1, policy="depth")
    assert counts[0] == 4


def test_levels_reuse_the_stacked_weights():
    # Two levels over the same four weights (the second's operands come from the
    # first's gates), as a Tree-LSTM's levels: two sets, the second reusing the stacked copy.
    def build(p):
        hs = []
        for i, x in enumerate(_leaves(p)):
            y = [dy.parameter(W) * x for W in p["W"]]
            mix = dy.cmult(dy.logistic(y[0]), dy.tanh(y[1])) + dy.cmult(dy.logistic(y[2]), dy.pickrange(y[3], 0, HID))
            hs.append(dy.concatenate([mix, dy.pickrange(dy.tanh(y[3]), HID, HID + 1)]))  # (IN,)
        return _gates(p, hs)
    _check_same(build, expect_sets=2)


def test_one_shared_operand_is_not_stacked():
    # Every member reads the same node: the operand is not batched, nothing to stack.
    def build(p):
        x = dy.tanh(p["E"][0])
        return dy.esum([dy.sum_elems(dy.logistic(dy.parameter(W) * x)) * float(k + 1 + i)
                        for k, W in enumerate(p["W"]) for i in range(MEMBERS)])
    _check_same(build, expect_sets=0)


def test_weight_gradients_match_finite_differences():
    def loss_value(p):
        dy.renew_cg(autobatching=True)
        return _gates(p, _leaves(p)).value()

    pc, p = _model(seed=11)
    dy.set_autobatch_stacking(True)
    dy.renew_cg(autobatching=True)
    loss = _gates(p, _leaves(p))
    before = _stats()
    loss.value()
    loss.backward()
    assert (_stats() - before)[1] == 1
    eps = 1e-2
    rng = np.random.default_rng(0)
    for k, W in enumerate(p["W"]):
        analytic = W.grad_as_array().copy()
        base = W.as_array().copy()
        for r, c in [tuple(int(rng.integers(0, s)) for s in base.shape) for _ in range(4)]:
            plus, minus = base.copy(), base.copy()
            plus[r, c] += eps
            minus[r, c] -= eps
            W.set_value(plus)
            fp = loss_value(p)
            W.set_value(minus)
            fm = loss_value(p)
            W.set_value(base)
            numeric = (fp - fm) / (2 * eps)
            assert analytic[r, c] == pytest.approx(numeric, rel=2e-2, abs=2e-2), (k, r, c)
    dy.set_autobatch_stacking(False)
    dy.renew_cg(autobatching=False)


def test_updated_weights_are_stacked_afresh():
    # The stacked copy lives for one forward: after an update the next graph stacks the new values.
    def two_steps(stacking):
        pc, p = _model(seed=5)
        trainer = dy.SimpleSGDTrainer(pc, 0.05)
        dy.set_autobatch_stacking(stacking)
        try:
            out = []
            for _ in range(2):
                dy.renew_cg(autobatching=True)
                loss = _gates(p, _leaves(p))
                out.append(loss.value())
                loss.backward()
                trainer.update()
        finally:
            dy.set_autobatch_stacking(False)
            dy.renew_cg(autobatching=False)
        return out
    on, off = two_steps(True), two_steps(False)
    assert on[1] != pytest.approx(on[0])
    assert on == pytest.approx(off, rel=1e-5)

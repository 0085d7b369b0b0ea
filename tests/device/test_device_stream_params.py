"""Parameters that do not fit stream, one by one (issue 25, docs/memory.md): when
the parameters placed on a device take more than half of its budget, the largest
stream until the rest fit in half beside the room the largest streamed one takes
when it comes in (its value and gradient) -- the others stay resident. A streamed parameter's
values live on the host in pinned memory; its node's value is brought in a few
steps ahead of the node on the copy stream, like any swapped value
(``param_prefetches`` counts those first copies; with prefetching off they are
fetched on demand). Training equals the unbudgeted run (to float rounding: a
streamed parameter's update runs on the host), with SGD and with Adam, whose
state joins the count after the first update (so more parameters stream)."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

from test_device_memory import no_budget_after  # noqa: F401 (autouse: no budget left behind)

DEV = "EMU:0"
KIB = 1024



def run(budget, trainer="sgd", prefetch=4, steps=3, policy="swap"):
    """Three sentences of an rnnlm-like model per graph: a 40x32 lookup table and
    two 32x32 matrices (10, 8 and 8 KiB with their gradients) and a 128x32 output
    matrix (32 KiB with its gradient: the largest)."""
    dy.init(seed=11, device=DEV, device_mem=budget, memory_policy=policy, prefetch=prefetch)
    dy.renew_cg()
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((40, 32))
    Wx, Wh = pc.add_parameters((32, 32)), pc.add_parameters((32, 32))
    Wy = pc.add_parameters((128, 32))
    tr = dy.SimpleSGDTrainer(pc, learning_rate=0.1) if trainer == "sgd" else dy.AdamTrainer(pc, alpha=0.01)
    rng = np.random.default_rng(3)
    dy.reset_device_memory_stats(DEV)
    losses, grads, streaming = [], None, []
    for step in range(steps):
        dy.renew_cg()
        terms = []
        for _ in range(3):
            h = dy.zeros(32)
            for w in rng.integers(0, 40, 5):
                h = dy.tanh(Wx * E[int(w)] + Wh * h)
                terms.append(dy.pickneglogsoftmax(Wy * h, int(rng.integers(128))))
        loss = dy.esum(terms)
        losses.append(loss.value())
        loss.backward()
        if step == 0:
            grads = [p.grad_as_array() for p in (Wx, Wh, Wy)]
        streaming.append(dy.device_memory_stats(DEV)["params_streaming"])
        tr.update()
    params = [p.as_array() for p in (Wx, Wh, Wy)] + [E.as_array()]
    return np.array(losses), grads, params, dy.device_memory_stats(DEV), streaming


def same_training(run_, ref):
    np.testing.assert_allclose(run_[0], ref[0], rtol=1e-6, atol=1e-6)
    for a, b in zip(run_[1], ref[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    for a, b in zip(run_[2], ref[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert ref[0][-1] != ref[0][0]  # it trained


BUDGET = 96 * KIB  # half: 48 KiB; the parameters with their gradients: 10 + 8 + 8 + 32 KiB


def test_the_largest_parameters_stream_the_rest_stay_resident_with_sgd():
    ref = run(0)
    got = run(BUDGET)
    s = got[3]
    # The output matrix streams (58 KiB > 48); the rest (26 KiB) beside the 32 KiB its value
    # and gradient take when they come in is still over 48: the lookup table (10 KiB)
    # streams too; the two 32x32 matrices (16 KiB) stay resident.
    assert got[4] == [2, 2, 2]
    assert s["params_stream"] is True
    assert s["params_resident_bytes"] == 2 * 32 * 32 * 4 * 2
    assert 0 < s["peak_bytes"] <= BUDGET
    same_training(got, ref)


def test_adam_state_makes_more_parameters_stream():
    ref = run(0, "adam")
    got = run(BUDGET, "adam")
    # Step 1: the output matrix and the lookup table stream. The first update puts
    # Adam's two state slots beside the resident matrices (16 KiB more: 32 KiB, over
    # the 16 KiB beside the 32 KiB that come in): one of them (the older) streams
    # from the next graph on.
    assert got[4] == [2, 3, 3], got[4]
    assert 0 < got[3]["peak_bytes"] <= BUDGET
    same_training(got, ref)


def test_first_copies_are_prefetched_and_on_demand_without_prefetching():
    on = run(BUDGET, prefetch=4)[3]
    off = run(BUDGET, prefetch=0)[3]
    # The output matrix's node is preceded by its inputs' nodes: with K = 4 its first
    # copy in each graph is issued ahead of it, on the copy stream; with K = 0 never.
    assert on["param_prefetches"] >= 3, on
    assert on["prefetch_hits"] + on["prefetch_stalls"] > 0
    assert off["param_prefetches"] == 0 and off["demand_fetches"] >= 3, off
    assert on["streamed_params"] >= 3 and off["streamed_params"] >= 3


def test_slowed_copies_still_train_the_same():
    ref = run(0)
    _core._set_emu_copy_delay(500)  # each copy 0.5 ms late: a read before its event would see stale memory
    try:
        got = run(BUDGET, prefetch=2)
    finally:
        _core._set_emu_copy_delay(0)
    assert got[3]["param_prefetches"] > 0
    same_training(got, ref)


def test_streamed_values_live_in_pinned_memory_until_the_budget_goes():
    dy.init(device=DEV, device_mem=0)
    dy.renew_cg()
    before = dy.pinned_memory_stats(DEV)["in_use_bytes"]
    got = run(BUDGET, steps=1)
    during = dy.pinned_memory_stats(DEV)["in_use_bytes"]
    assert got[4] == [2]
    assert during - before >= 2 * (128 + 40) * 32 * 4  # the streamed parameters' values and gradients
    dy.init(device=DEV, device_mem=0)
    dy.renew_cg()  # the budget's plan goes: the parameter is resident again
    assert dy.device_memory_stats(DEV)["params_streaming"] == 0
    assert dy.pinned_memory_stats(DEV)["in_use_bytes"] < during


def after_update(budget, autobatching=False, prefetch=4, delay=0):
    """One graph: a loss over the four parameters; then, in the same graph, after
    ``backward()`` and ``update()``: the output matrix's node (built before the
    update) times a vector, and two lookups built after the loss (beyond its
    forward's end, computed after the update). Without a budget the node aliases
    the parameter's memory and the lookups gather the rows as they are then: all
    read the updated values."""
    dy.init(seed=11, device=DEV, device_mem=budget, memory_policy="swap", prefetch=prefetch)
    dy.renew_cg()
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((40, 32))
    Wx, Wh = pc.add_parameters((32, 32)), pc.add_parameters((32, 32))
    Wy = pc.add_parameters((128, 32))
    tr = dy.SimpleSGDTrainer(pc, learning_rate=0.5)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(32).astype(np.float32)
    _core._set_emu_copy_delay(delay)
    dy.renew_cg(autobatching=autobatching)
    W = dy.parameter_expr(Wy)
    h, terms = dy.zeros(32), []
    for w in (3, 7, 11, 7):
        h = dy.tanh(Wx * E[w] + Wh * h)
        terms.append(dy.pickneglogsoftmax(W * h, w))
    loss = dy.esum(terms)
    e7, e3 = E[7], dy.lookup(E, 3)  # after the loss: not in its forward
    old = (Wy.as_array(), E.as_array())
    loss.value()
    loss.backward()
    streaming = dy.device_memory_stats(DEV)["params_streaming"]
    tr.update()
    new = (Wy.as_array(), E.as_array())
    v = dy.inputVector(list(x))
    got = [(W * v).npvalue(), e7.npvalue(), e3.npvalue(), W.npvalue()]
    _core._set_emu_copy_delay(0)
    return got, old, new, x, streaming


@pytest.mark.parametrize("autobatching", [False, True], ids=["per-node", "autobatched"])
@pytest.mark.parametrize("prefetch,delay", [(0, 0), (4, 0), (4, 500)], ids=["K0", "K4", "K4-slow"])
def test_a_streamed_parameter_read_after_update_in_the_same_graph_is_the_updated_one(autobatching, prefetch, delay):
    ref, old, new, x, _ = after_update(0, autobatching)
    got, _, _, _, streaming = after_update(BUDGET, autobatching, prefetch, delay)
    assert streaming == 2  # the output matrix and the lookup table stream
    assert np.abs(new[0] - old[0]).max() > 1e-3 and np.abs(new[1][[3, 7]] - old[1][[3, 7]]).max() > 1e-3
    want = [new[0] @ x, new[1][7], new[1][3], new[0]]
    for r, g, w in zip(ref, got, want):
        np.testing.assert_allclose(r, w, rtol=1e-5, atol=1e-6)  # the unbudgeted run reads the new values
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def test_no_room_for_the_resident_parameters_makes_them_stream():
    ref = run(0)
    _core._fail_next_params_block()  # the first plan (first graph) finds no room for them in one piece
    got = run(BUDGET)
    assert got[4] == [4, 4, 4]  # all stream (none stays on the device uncounted)
    assert got[3]["params_resident_bytes"] == 0
    assert 0 < got[3]["peak_bytes"] <= BUDGET
    same_training(got, ref)


def batched(budget, prefetch, delay=0, steps=3):
    """Four sentences per graph under the autobatching executor: the agenda runs
    the 20 lookups of the streamed table as one group."""
    dy.init(seed=11, device=DEV, device_mem=budget, memory_policy="swap", prefetch=prefetch)
    dy.renew_cg()
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((40, 32))
    Wx, Wh = pc.add_parameters((32, 32)), pc.add_parameters((32, 32))
    Wy = pc.add_parameters((128, 32))
    tr = dy.SimpleSGDTrainer(pc, learning_rate=0.1)
    rng = np.random.default_rng(3)
    _core._set_emu_copy_delay(delay)
    dy.reset_device_memory_stats(DEV)
    losses = []
    for _ in range(steps):
        dy.renew_cg(autobatching=True)
        terms = []
        for _ in range(4):
            h = dy.zeros(32)
            for w in rng.integers(0, 40, 5):
                h = dy.tanh(Wx * E[int(w)] + Wh * h)
                terms.append(dy.pickneglogsoftmax(Wy * h, int(rng.integers(128))))
        loss = dy.esum(terms)
        losses.append(loss.value())
        loss.backward()
        tr.update()
    _core._set_emu_copy_delay(0)
    return np.array(losses), [p.as_array() for p in (Wx, Wh, Wy, E)], dy.device_memory_stats(DEV)


@pytest.mark.parametrize("delay", [0, 300], ids=["", "slow"])
def test_a_group_of_lookups_of_a_streamed_table_is_prefetched(delay):
    """The group's rows are gathered on the host into one pinned buffer in member
    order and copied in K steps ahead like a lone node's first copy: with K = 4
    two first copies per graph are issued ahead (the output matrix and the group;
    before, only the matrix: the group gathered its rows when it ran), none on
    demand; with K = 0 both come on demand. Training equals the unbudgeted run."""
    ref = batched(0, 4)
    on = batched(BUDGET, 4, delay)
    off = batched(BUDGET, 0)
    for got in (on, off):
        assert got[2]["params_streaming"] == 2  # the output matrix and the lookup table
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-6, atol=1e-6)
        for a, b in zip(got[1], ref[1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        assert got[2]["streamed_params"] == 3 * 21  # 20 looked-up rows and the matrix per graph
    assert on[2]["param_prefetches"] == 2 * 3 and on[2]["demand_fetches"] == 0, on[2]
    assert on[2]["prefetch_hits"] + on[2]["prefetch_stalls"] >= 2 * 3
    assert off[2]["param_prefetches"] == 0 and off[2]["demand_fetches"] == 3, off[2]
    assert on[2]["to_device_bytes"] == off[2]["to_device_bytes"]  # the same rows, copied earlier

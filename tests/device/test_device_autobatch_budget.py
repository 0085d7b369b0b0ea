"""The autobatching executor under a device memory budget (docs/memory.md): the
swap plan schedules by the executor's groups -- the agenda's order is taken
before anything runs, a value leaves after its last group, comes back K groups
ahead -- on EMU:0. Training with autobatching at 30 %, 10 % of the peak and
at the lowest budget the per-node executor fits gives what the autobatched run
without a budget gives, bit for bit when no group was split (and the per-node
run within float tolerance), with the peak under the budget, bytes moved
counted and prefetches arriving in time; random graphs likewise for every K
with slowed copies; the step schedule is built once per graph and cut back by
cg_revert."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

from test_device_memory import build, no_budget_after  # noqa: F401 (autouse)
from test_device_prefetch import random_graph

DEV = "EMU:0"



def train(kind, budget=0, autobatch=True, policy="swap", prefetch=4, steps=3, copies=3):
    """Losses, first-step gradients, final parameters and memory counters of a
    few steps over `copies` instances per graph (so the executor batches them)."""
    dy.init(seed=5, device=DEV, device_mem=budget, memory_policy=policy, prefetch=prefetch)
    dy.renew_cg(autobatching=autobatch)
    dy.reset_device_memory_stats(DEV)
    rng = np.random.default_rng(2)
    pc = dy.ParameterCollection()
    P, E, loss_fn = build(kind, pc)
    tr = dy.SimpleSGDTrainer(pc, learning_rate=0.1)
    losses, grads = [], None
    before = _core.autobatch_stats()["groups"]
    for step in range(steps):
        dy.renew_cg(autobatching=autobatch)
        loss = dy.esum([loss_fn(P, E, rng) for _ in range(copies)])
        losses.append(loss.value())
        loss.backward()
        if step == 0:
            grads = [p.grad_as_array() for p in P.values()]
        tr.update()
    groups = _core.autobatch_stats()["groups"] - before
    params = [p.as_array() for p in P.values()] + [E.as_array()]
    return np.array(losses), grads, params, dy.device_memory_stats(DEV), groups


def assert_equal(run, ref):
    np.testing.assert_array_equal(run[0], ref[0])
    for a, b in zip(run[1] + run[2], ref[1] + ref[2]):
        np.testing.assert_array_equal(a, b)


def assert_close(run, ref):
    np.testing.assert_allclose(run[0], ref[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(run[1] + run[2], ref[1] + ref[2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def reference():
    out = {}
    for kind in ("treelstm", "tagger", "rnnlm"):
        out[kind] = train(kind)
        out[kind + ":per_node"] = train(kind, autobatch=False)
        out[kind + ":peak"] = train(kind, budget="1GB")[3]["peak_bytes"]
    dy.init(device="CPU", device_mem=0)
    return out


def check_under_budget(run, ref, per_node, budget):
    s = run[3]
    # The same groups as without a budget: the same bits -- unless the parameters
    # streamed (their gradients then add up on the host, in another order).
    if s["groups_unbatched"] == 0 and not s["params_stream"]:
        assert run[4] == ref[4]
        assert_equal(run, ref)
    assert_close(run, ref)
    assert_close(run, per_node)
    assert 0 < s["peak_bytes"] <= budget
    assert s["batched_steps"] + s["groups_unbatched"] > 0
    assert s["to_host_bytes"] > 0 and s["swaps_out"] > 0
    assert s["prefetch_hits"] + s["prefetch_stalls"] <= s["prefetches"]


@pytest.mark.parametrize("kind, fraction", [("treelstm", 30), ("treelstm", 10), ("tagger", 30), ("tagger", 10),
                                            ("rnnlm", 30), ("rnnlm", 15)])
def test_autobatched_training_under_a_budget_equals_it_without(reference, kind, fraction):
    budget = (reference[kind + ":peak"] * fraction // 100) // 256 * 256
    run = train(kind, budget)
    check_under_budget(run, reference[kind], reference[kind + ":per_node"], budget)
    s = run[3]
    assert s["batched_steps"] > 0
    assert s["to_device_bytes"] > 0 and s["prefetches"] > 0 and s["prefetch_hits"] > 0


def runs(kind, budget, autobatch):
    try:
        return train(kind, budget, autobatch=autobatch)
    except MemoryError:
        return None


@pytest.mark.parametrize("kind", ["treelstm", "tagger", "rnnlm"])
def test_autobatched_fits_at_the_lowest_budget_the_per_node_executor_fits(reference, kind):
    """Bisection (in 256-byte steps) for the smallest budget at which the
    per-node executor trains the model; the autobatching executor trains it
    there too, with the same results. Scratch kept apart at the top of the
    pool, operands gathered again when they fit only scattered, and groups
    split in backward are what make it fit (each failed here before)."""
    lo, hi = 0, reference[kind + ":peak"]
    while hi - lo > 256:
        mid = (lo + hi) // 2 // 256 * 256
        if runs(kind, mid, False) is None:
            lo = mid
        else:
            hi = mid
    assert runs(kind, hi - 256, False) is None  # the per-node executor's limit
    assert hi < reference[kind + ":peak"] // 5  # far below the peak (2-10 % of it here)
    run = train(kind, hi)
    check_under_budget(run, reference[kind], reference[kind + ":per_node"], hi)


def test_operands_that_fit_only_scattered_are_gathered_again(reference):
    """rnnlm at 10 % of its peak: a node's operands fit the free memory in
    total but not in one piece (the blocks that cannot move lie between); all
    else leaves and they are brought back side by side, with the same results."""
    budget = (reference["rnnlm:peak"] // 10) // 256 * 256
    per_node = train("rnnlm", budget, autobatch=False)
    assert per_node[3]["regathers"] > 0 and per_node[3]["params_stream"]
    assert_close(per_node, reference["rnnlm:per_node"])  # streamed: gradients add up on the host
    run = train("rnnlm", budget)
    check_under_budget(run, reference["rnnlm"], reference["rnnlm:per_node"], budget)


def test_at_60_percent_the_groups_stay_batched(reference):
    for kind in ("treelstm", "tagger"):
        budget = (reference[kind + ":peak"] * 6 // 10) // 256 * 256
        run = train(kind, budget)
        assert run[3]["groups_unbatched"] == 0 and run[4] == reference[kind][4]
        assert run[3]["swaps_out"] > 0
        assert_equal(run, reference[kind])


@pytest.mark.parametrize("policy", ["recompute", "auto"])
def test_recompute_policies_with_autobatching(reference, policy):
    """A group's block is swapped (one member alone would not give it back);
    nodes that ran alone are recomputed as per node."""
    ref = reference["tagger"]
    budget = (reference["tagger:peak"] * 4 // 10) // 256 * 256
    run = train("tagger", budget, policy=policy)
    (assert_equal if run[3]["groups_unbatched"] == 0 else assert_close)(run, ref)
    assert 0 < run[3]["peak_bytes"] <= budget


def test_prefetch_off_fetches_on_demand(reference):
    ref = reference["tagger"]
    budget = (reference["tagger:peak"] * 4 // 10) // 256 * 256
    off = train("tagger", budget, prefetch=0)
    on = train("tagger", budget, prefetch=4)
    (assert_equal if off[3]["groups_unbatched"] == 0 else assert_close)(off, ref)
    assert off[3]["prefetches"] == 0 and off[3]["demand_fetches"] > 0
    assert on[3]["demand_fetches"] < off[3]["demand_fetches"]


def test_slow_copies_with_autobatching(reference):
    """Copies 2 ms slower: the compute stalls on prefetches, and still reads every value after its copy."""
    budget = (reference["treelstm:peak"] * 3 // 10) // 256 * 256
    _core._set_emu_copy_delay(2000)
    run = train("treelstm", budget, prefetch=8, steps=2)
    _core._set_emu_copy_delay(0)
    ref = reference["treelstm"]
    np.testing.assert_array_equal(run[0], ref[0][:2])
    for a, b in zip(run[1], ref[1]):
        np.testing.assert_array_equal(a, b)
    assert run[3]["prefetch_stalls"] > 0 and run[3]["batched_steps"] > 0


def test_a_group_too_large_for_the_budget_runs_node_by_node():
    """Eight 64x64 products of distinct inputs: one group's working set is
    larger than half of a 48 KiB budget, one node's is not."""
    def run(budget):
        dy.init(seed=1, device=DEV, device_mem=budget, memory_policy="swap")
        dy.renew_cg(autobatching=True)
        dy.reset_device_memory_stats(DEV)
        pc = dy.ParameterCollection()
        W = pc.add_parameters((64, 64))
        dy.renew_cg(autobatching=True)
        xs = [dy.inputVector(list(np.linspace(-1, 1, 64) * (k + 1))) for k in range(8)]
        loss = dy.sum_elems(dy.esum([dy.tanh(W * x) for x in xs]))
        value = loss.value()
        loss.backward()
        return value, W.grad_as_array(), dy.device_memory_stats(DEV)

    ref = run(0)
    got = run(64 * 1024)
    s = got[2]
    assert s["groups_unbatched"] > 0 and 0 < s["peak_bytes"] <= 64 * 1024
    assert got[0] == pytest.approx(ref[0], rel=1e-6)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-5, atol=1e-6)


def test_a_node_that_cannot_fit_is_still_a_memory_error():
    dy.init(device=DEV, device_mem=16 * 1024, memory_policy="swap")
    dy.renew_cg(autobatching=True)
    xs = [dy.inputVector([0.1] * 8192) for _ in range(3)]  # 32 KiB each
    with pytest.raises(MemoryError, match="device memory budget of EMU:0 exceeded"):
        dy.esum([dy.tanh(x) for x in xs]).npvalue()


# ---- random graphs x K x slowed copies, batched

def stress_run(seed, budget, prefetch):
    dy.init(seed=3, device=DEV, device_mem=budget, memory_policy="swap", prefetch=prefetch)
    dy.renew_cg(autobatching=True)
    dy.reset_device_memory_stats(DEV)
    pc = dy.ParameterCollection()
    W = [pc.add_parameters((32, 32)) for _ in range(3)]
    dy.renew_cg(autobatching=True)
    losses, picked = [], []
    for copy in range(3):  # the same random shape three times: the executor batches across copies
        rng = np.random.default_rng(seed)
        x = dy.inputVector(list(np.linspace(-1, 1, 32) * (copy + 1)))
        loss, nodes = random_graph(rng, W, x)
        losses.append(loss)
        picked += [nodes[k] for k in (1, 10, 20, 30)]
    loss = dy.esum(losses)
    value = loss.value()
    loss.backward()
    return value, [w.grad_as_array() for w in W], [p.npvalue() for p in picked], dy.device_memory_stats(DEV)


@pytest.mark.parametrize("seed", [0, 1])
def test_ordering_stress_random_graphs_batched(seed):
    ref = stress_run(seed, 0, 0)
    _core._set_emu_copy_delay(100)
    try:
        for prefetch in (1, 2, 4, 8):
            run = stress_run(seed, 48 * 1024, prefetch)
            s = run[3]
            assert run[0] == pytest.approx(ref[0], rel=1e-6)
            for a, b in zip(run[1] + run[2], ref[1] + ref[2]):
                if s["groups_unbatched"] == 0:  # the same groups: the same bits
                    np.testing.assert_array_equal(a, b)
                else:  # products of the groups that ran node by node round differently
                    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
            assert s["batched_steps"] > 0 and s["swaps_out"] > 0 and s["prefetches"] > 0
            assert s["peak_bytes"] <= 48 * 1024
    finally:
        _core._set_emu_copy_delay(0)


# ---- the step schedule: built once per graph, cut back by cg_revert

def products(W, count, scale):
    return [dy.tanh(W * dy.inputVector(list(np.linspace(-1, 1, 32) * (k + scale)))) for k in range(count)]


def test_the_step_schedule_is_built_once_per_graph():
    """Each node enters the schedule once: a second value(), backward() and a
    forward over a few new nodes add only those (no rebuild of the whole)."""
    dy.init(seed=1, device=DEV, device_mem=24 * 1024, memory_policy="swap")  # the peak is 23 KiB
    pc = dy.ParameterCollection()
    W = pc.add_parameters((32, 32))
    dy.renew_cg(autobatching=True)
    dy.reset_device_memory_stats(DEV)
    loss = dy.sum_elems(dy.esum(products(W, 6, 1)))
    loss.value()
    first = dy.device_memory_stats(DEV)
    nodes = first["schedule_nodes"]
    assert nodes == 1 + 6 * 3 + 2 and first["batched_steps"] > 0
    loss.value()
    loss.backward()
    assert dy.device_memory_stats(DEV)["schedule_nodes"] == nodes
    doubled = loss * 2.0  # one node more
    doubled.value()
    doubled.backward()
    s = dy.device_memory_stats(DEV)
    assert s["schedule_nodes"] == nodes + 1 and s["schedule_trims"] == 0


def test_cg_revert_after_a_batched_forward_under_a_budget():
    """Nodes evaluated in groups under a budget, then reverted: the plan drops
    their memory and steps, and the graph built after the revert trains as it
    would have without them (and without a budget)."""
    def run(budget):
        dy.init(seed=1, device=DEV, device_mem=budget, memory_policy="swap")
        pc = dy.ParameterCollection()
        W = pc.add_parameters((32, 32))
        dy.renew_cg(autobatching=True)
        dy.reset_device_memory_stats(DEV)
        base = dy.esum(products(W, 3, 1))
        base.value()
        dy.cg_checkpoint()
        dy.sum_elems(dy.esum(products(W, 5, 7))).value()  # evaluated, then removed
        dy.cg_revert()
        loss = dy.sum_elems(dy.esum([base] + products(W, 4, 3)))
        value = loss.value()
        loss.backward()
        return value, W.grad_as_array(), dy.device_memory_stats(DEV)

    ref = run(0)
    got = run(24 * 1024)
    s = got[2]
    assert s["schedule_trims"] == 1 and s["batched_steps"] > 0
    assert 0 < s["peak_bytes"] <= 24 * 1024
    assert got[0] == pytest.approx(ref[0], rel=1e-6)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-5, atol=1e-6)


def test_at_the_peak_nothing_splits_or_moves():
    """At 100 % of the autobatched run's unconstrained peak the groups run as they
    did without a budget: none split, nothing leaves (a group's arguments that lie
    in place in one block are not counted as a copy, and while nothing has left
    the device a forward group is held to backward's test, not to half of it:
    the largest groups of this graph were split here before)."""
    def run(budget):
        dy.init(seed=1, device=DEV, device_mem=budget, memory_policy="swap", prefetch=4)
        dy.renew_cg(autobatching=True)
        pc = dy.ParameterCollection()
        E = pc.add_lookup_parameters((500, 16))
        Wx, Wh, Wy = pc.add_parameters((16, 16)), pc.add_parameters((16, 16)), pc.add_parameters((500, 16))
        by = pc.add_parameters((500,))
        rng = np.random.default_rng(5)
        dy.renew_cg(autobatching=True)
        dy.reset_device_memory_stats(DEV)
        losses = []
        for sent in rng.integers(0, 500, (12, 9)):
            h = dy.zeros(16)
            for w, nxt in zip(sent[:-1], sent[1:]):
                h = dy.tanh(Wx * E[int(w)] + Wh * h)
                losses.append(dy.pickneglogsoftmax(Wy * h + by, int(nxt)))
        loss = dy.esum(losses)
        value = loss.value()
        loss.backward()
        return value, Wy.grad_as_array(), dy.device_memory_stats(DEV)

    free = run(1 << 30)
    got = run(free[2]["peak_bytes"] // 256 * 256)
    s = got[2]
    assert s["groups_unbatched"] == 0 and s["batched_steps"] == free[2]["batched_steps"], s
    assert s["swaps_out"] == 0 and s["to_host_bytes"] == 0
    assert got[0] == free[0]
    np.testing.assert_array_equal(got[1], free[1])

"""The autobatching executor under a device memory budget (docs/memory.md): the
swap plan schedules by the executor's groups -- the agenda's order is taken
before anything runs, a value leaves after its last group, comes back K groups
ahead -- on EMU:0. Training with autobatching at 30 % and 10 % of the peak
gives what the autobatched run without a budget gives, bit for bit (and the
per-node run within float tolerance), with the peak under the budget, bytes
moved counted and prefetches arriving in time; random graphs likewise for
every K with slowed copies."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

from test_device_memory import build
from test_device_prefetch import random_graph

DEV = "EMU:0"


@pytest.fixture(autouse=True)
def no_budget_after():
    yield
    _core._set_emu_copy_delay(0)
    dy.init(device="CPU", device_mem=0, memory_policy="auto", prefetch=4)
    dy.renew_cg(autobatching=False)


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


# rnnlm at 40 %: at 30 %, its sum over 24 scalar losses holds 48 pool blocks of
# 256 bytes (values and gradients) beside its scratch -- more than the budget;
# at 40 % values leave the device but none is read again (no prefetch to count).
@pytest.mark.parametrize("kind, fraction", [("treelstm", 30), ("treelstm", 10), ("tagger", 30), ("tagger", 10),
                                            ("rnnlm", 40)])
def test_autobatched_training_under_a_budget_equals_it_without(reference, kind, fraction):
    ref = reference[kind]
    budget = (reference[kind + ":peak"] * fraction // 100) // 256 * 256
    run = train(kind, budget)
    s = run[3]
    if s["groups_unbatched"] == 0:  # the same groups as without a budget: the same bits
        assert run[4] == ref[4]
        assert_equal(run, ref)
    assert_close(run, ref)
    assert_close(run, reference[kind + ":per_node"])
    assert 0 < s["peak_bytes"] <= budget
    assert s["batched_steps"] > 0
    assert s["to_host_bytes"] > 0 and s["swaps_out"] > 0
    assert s["prefetch_hits"] + s["prefetch_stalls"] <= s["prefetches"]
    if kind != "rnnlm":
        assert s["to_device_bytes"] > 0 and s["prefetches"] > 0 and s["prefetch_hits"] > 0


def test_at_30_percent_the_groups_stay_batched(reference):
    budget = (reference["treelstm:peak"] * 3 // 10) // 256 * 256
    run = train("treelstm", budget)
    assert run[3]["groups_unbatched"] == 0 and run[4] == reference["treelstm"][4]
    assert_equal(run, reference["treelstm"])


@pytest.mark.parametrize("policy", ["recompute", "auto"])
def test_recompute_policies_with_autobatching(reference, policy):
    """A group's block is swapped (one member alone would not give it back);
    nodes that ran alone are recomputed as per node."""
    ref = reference["tagger"]
    budget = (reference["tagger:peak"] * 3 // 10) // 256 * 256
    run = train("tagger", budget, policy=policy)
    assert_equal(run, ref)
    assert 0 < run[3]["peak_bytes"] <= budget


def test_prefetch_off_fetches_on_demand(reference):
    ref = reference["tagger"]
    budget = (reference["tagger:peak"] * 3 // 10) // 256 * 256
    off = train("tagger", budget, prefetch=0)
    on = train("tagger", budget, prefetch=4)
    assert_equal(off, ref)
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

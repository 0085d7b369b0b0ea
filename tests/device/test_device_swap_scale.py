"""The swap plan's cost per node does not grow with the graph (issue 25): under
a budget, choosing what leaves and checking a group's room look at a few queued
values per node and per eviction (device_memory_stats()['plan_visits']), not at
every value of the graph, so a graph four times larger costs about the same per
node. Counted,
not timed: the counter is what a scan of the graph would make grow."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy

from test_device_memory import no_budget_after  # noqa: F401 (autouse: no budget left behind)

DEV = "EMU:0"
HIDDEN, VOCAB, SEQ = 16, 40, 8



def step(budget, sentences, autobatch):
    """One training step on `sentences` separate sentences (an rnnlm) under `budget`; its counters."""
    dy.init(seed=3, device=DEV, device_mem=budget, memory_policy="swap", prefetch=4)
    dy.renew_cg(autobatching=autobatch)
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((VOCAB, HIDDEN))
    Wx, Wh = pc.add_parameters((HIDDEN, HIDDEN)), pc.add_parameters((HIDDEN, HIDDEN))
    Wy = pc.add_parameters((VOCAB, HIDDEN))
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.1)
    words = np.random.default_rng(sentences).integers(0, VOCAB, (sentences, SEQ + 1))
    dy.renew_cg(autobatching=autobatch)
    dy.reset_device_memory_stats(DEV)
    losses = []
    for sent in words:
        h = dy.zeros(HIDDEN)
        for w, nxt in zip(sent[:-1], sent[1:]):
            h = dy.tanh(Wx * E[int(w)] + Wh * h)
            losses.append(dy.pickneglogsoftmax(Wy * h, int(nxt)))
    loss = dy.esum(losses)
    value = loss.value()
    loss.backward()
    trainer.update()
    assert np.isfinite(value)
    return dy.device_memory_stats(DEV)


@pytest.mark.parametrize("autobatch", [False, True], ids=["per_node", "autobatched"])
def test_plan_visits_per_node_stay_flat_as_the_graph_grows(autobatch):
    per_node = []
    for sentences in (4, 16):
        peak = step(1 << 30, sentences, autobatch)["peak_bytes"]
        budget = peak * 2 // 5 // 256 * 256  # 40 % of the unconstrained peak: values leave all the time
        s = step(budget, sentences, autobatch)
        nodes = s["schedule_nodes"]
        assert nodes > 0 and s["swaps_out"] > nodes // 4, s  # the plan is busy evicting
        assert s["peak_bytes"] <= budget
        # Per node and per value moved out: a larger graph under a tight budget may swap more per node.
        per_node.append(s["plan_visits"] / (nodes + s["swaps_out"] + s["recomputes"]))
    small, large = per_node
    # A scan of every value per eviction would make this grow about 4x (and more); a queue keeps it flat.
    assert 0 < large < 1.5 * small, per_node
    assert large < 20, per_node


def value_after_each_node(budget, n):
    """A chain of n tanh(W h) steps, value() read after each (each forward() adds
    two nodes), then the sum of them all; its loss and counters."""
    dy.init(seed=3, device=DEV, device_mem=budget, memory_policy="swap", prefetch=4)
    dy.renew_cg()
    pc = dy.ParameterCollection()
    W = pc.add_parameters((HIDDEN, HIDDEN))
    dy.renew_cg()
    dy.reset_device_memory_stats(DEV)
    h = dy.inputVector(list(np.linspace(-1, 1, HIDDEN)))
    hs = []
    for _ in range(n):
        h = dy.tanh(W * h)
        h.value()
        hs.append(h)
    loss = dy.sum_elems(dy.esum(hs))
    value = loss.value()
    loss.backward()
    return value, W.grad_as_array(), dy.device_memory_stats(DEV)


def test_value_after_each_node_keys_only_what_the_new_nodes_read():
    """A forward() that appends nodes moves every backward time; the queue keys
    backward uses by node, so it re-keys only the values the new nodes read --
    not every value of the graph per forward() (which grew with the graph)."""
    per_node = []
    for n in (60, 240):
        ref = value_after_each_node(0, n)
        peak = value_after_each_node(1 << 30, n)[2]["peak_bytes"]
        budget = peak * 2 // 5 // 256 * 256
        value, grad, s = value_after_each_node(budget, n)
        assert value == ref[0]
        np.testing.assert_array_equal(grad, ref[1])
        assert s["swaps_out"] > n // 2 and s["peak_bytes"] <= budget, s
        per_node.append(s["plan_visits"] / (s["schedule_nodes"] + s["swaps_out"]))
    small, large = per_node
    assert 0 < large < 1.5 * small, per_node

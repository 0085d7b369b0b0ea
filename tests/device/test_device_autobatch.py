"""The autobatching executor on the emulated device EMU:0 (docs/gpu.md): for a
Tree-LSTM over 16 trees, a BiLSTM tagger over several sentences, a minibatched
rnnlm-like model, lookups with repeated ids and a graph that mixes CPU and
device nodes, the batched executor on EMU:0 gives the values and gradients of
the batched executor on the CPU and of the per-node executor on EMU:0, with
the same groups as on the CPU; it issues far fewer device launches than the
per-node executor; under a device memory budget it gives the unbudgeted
values with the graph's memory under the budget."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

DEV = "EMU:0"
TOL = dict(rtol=1e-4, atol=1e-5)  # the device's BLAS and kernels differ from the CPU's in the last bits


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    dy.init(device="CPU", device_mem=0, memory_policy="auto")
    dy.renew_cg(autobatching=False)


# ---- models

def treelstm_params(pc, dx=6, dh=8):
    P = {"E": pc.add_lookup_parameters((20, dx)), "Wout": pc.add_parameters((4, dh))}
    for g in "iou":
        P["W" + g] = pc.add_parameters((dh, dx))
        P["b" + g] = pc.add_parameters((dh,), init=0.1)
    for g in ("i", "fl", "fr", "o", "u"):
        P["U" + g] = pc.add_parameters((dh, 2 * dh))
        P["c" + g] = pc.add_parameters((dh,), init=0.1)
    return P


def treelstm_loss(P, rng, n_trees=16):
    """Binary Tree-LSTMs (leaf: input, output and update gates; node: two forget
    gates) over random trees of 3 to 7 leaves; one softmax loss per root."""
    def leaf(w):
        x = P["E"][w]
        i = dy.logistic(dy.affine_transform([P["bi"], P["Wi"], x]))
        o = dy.logistic(dy.affine_transform([P["bo"], P["Wo"], x]))
        c = dy.cmult(i, dy.tanh(P["Wu"] * x + P["bu"]))
        return dy.cmult(o, dy.tanh(c)), c

    def node(left, right):
        hc = dy.concatenate([left[0], right[0]])
        g = {k: dy.affine_transform([P["c" + k], P["U" + k], hc]) for k in ("i", "fl", "fr", "o", "u")}
        c = (dy.cmult(dy.logistic(g["i"]), dy.tanh(g["u"])) + dy.cmult(dy.logistic(g["fl"]), left[1])
             + dy.cmult(dy.logistic(g["fr"]), right[1]))
        return dy.cmult(dy.logistic(g["o"]), dy.tanh(c)), c

    losses = []
    for _ in range(n_trees):
        frontier = [leaf(int(w)) for w in rng.integers(0, 20, int(rng.integers(3, 8)))]
        while len(frontier) > 1:
            k = int(rng.integers(0, len(frontier) - 1))
            frontier[k:k + 2] = [node(frontier[k], frontier[k + 1])]
        losses.append(dy.pickneglogsoftmax(P["Wout"] * frontier[0][0], int(rng.integers(0, 4))))
    return dy.esum(losses)


def tagger_params(pc):
    return {"E": pc.add_lookup_parameters((20, 6)), "fw": dy.VanillaLSTMBuilder(1, 6, 8, pc),
            "bw": dy.VanillaLSTMBuilder(1, 6, 8, pc), "Wt": pc.add_parameters((5, 16)), "bt": pc.add_parameters((5,))}


def tagger_loss(P, rng, n_sentences=6):
    """A BiLSTM tagger over several sentences of 3 to 6 words (one graph; the
    sentences' steps batch together)."""
    losses = []
    for _ in range(n_sentences):
        words = rng.integers(0, 20, int(rng.integers(3, 7)))
        xs = [P["E"][int(w)] for w in words]
        fw = P["fw"].initial_state().transduce(xs)
        bw = P["bw"].initial_state().transduce(xs[::-1])[::-1]
        for f, b, w in zip(fw, bw, words):
            losses.append(dy.pickneglogsoftmax(P["Wt"] * dy.concatenate([f, b]) + P["bt"], int(w) % 5))
    return dy.esum(losses)


def rnnlm_params(pc):
    return {"E": pc.add_lookup_parameters((20, 6)), "Wx": pc.add_parameters((8, 6)), "Wh": pc.add_parameters((8, 8)),
            "bh": pc.add_parameters((8,)), "Wy": pc.add_parameters((20, 8)), "by": pc.add_parameters((20,))}


def rnnlm_loss(P, rng, n_minibatches=3, batch=4, length=6):
    """An RNN language model over minibatches of 4 sentences (lookup_batch,
    pickneglogsoftmax_batch): the minibatches' steps batch end to end."""
    losses = []
    for _ in range(n_minibatches):
        sents = rng.integers(0, 20, (batch, length))
        h = dy.zeros(8)
        for t in range(length - 1):
            x = dy.lookup_batch(P["E"], [int(w) for w in sents[:, t]])
            h = dy.tanh(P["Wx"] * x + P["Wh"] * h + P["bh"])
            losses.append(dy.sum_batches(dy.pickneglogsoftmax_batch(P["Wy"] * h + P["by"],
                                                                    [int(w) for w in sents[:, t + 1]])))
    return dy.esum(losses)


def lookup_params(pc):
    return {"E": pc.add_lookup_parameters((6, 5)), "W": pc.add_parameters((3, 5))}


def lookup_loss(P, rng):
    """Many lookups of a few rows (ids repeat within groups and across them),
    single and batched: the rows' gradients add up on the device."""
    terms = [dy.sum_elems(dy.tanh(P["W"] * P["E"][int(i)])) for i in rng.integers(0, 3, 24)]
    terms += [dy.sum_batches(dy.sum_elems(dy.logistic(P["W"] * dy.lookup_batch(P["E"], [1, 1, 4, 1]))))
              for _ in range(3)]
    return dy.esum(terms)


MODELS = {"treelstm": (treelstm_params, treelstm_loss), "tagger": (tagger_params, tagger_loss),
          "rnnlm": (rnnlm_params, rnnlm_loss), "lookups": (lookup_params, lookup_loss)}


def run(kind, device, autobatch, budget=0):
    """The loss, the gradients of every parameter (builders' through their
    collection) and the autobatcher's groups, of one graph of `kind`."""
    dy.init(seed=3, device=device, device_mem=budget, memory_policy="swap")
    pc = dy.ParameterCollection()
    make, loss_fn = MODELS[kind]
    P = make(pc)
    dy.renew_cg(autobatching=autobatch)
    if budget:
        dy.reset_device_memory_stats(DEV)
    before = _core.autobatch_stats()["groups"]
    loss = loss_fn(P, np.random.default_rng(11))
    assert loss.device() == device
    value = loss.value()
    loss.backward()
    groups = _core.autobatch_stats()["groups"] - before
    grads = [p.grad_as_array() for p in pc.parameters_list()] + [p.grad_as_array() for p in pc.lookup_parameters_list()]
    stats = dy.device_memory_stats(DEV) if budget else None
    dy.renew_cg(autobatching=False)
    return value, grads, groups, stats


def assert_same(a, b):
    np.testing.assert_allclose(a[0], b[0], **TOL)
    assert len(a[1]) == len(b[1]) > 1
    for ga, gb in zip(a[1], b[1]):
        np.testing.assert_allclose(ga, gb, **TOL)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_batched_on_the_device_equals_batched_on_the_cpu_and_unbatched(kind):
    # A device graph keeps W * x + b and f(W * x + b) as separate nodes (graph/absorb.cc): so
    # does the CPU run whose groups are compared; the CPU's merged nodes give the same values.
    before = _core._set_absorb_bias(False), _core._set_absorb_activation(False)
    try:
        cpu = run(kind, "CPU", True)
    finally:
        _core._set_absorb_bias(before[0])
        _core._set_absorb_activation(before[1])
    cpu_merged = run(kind, "CPU", True)
    emu = run(kind, DEV, True)
    emu_per_node = run(kind, DEV, False)
    assert_same(emu, cpu)
    assert_same(emu, cpu_merged)
    if kind != "lookups":  # (no W * x + b there)
        assert cpu_merged[2] < cpu[2]
    assert_same(emu, emu_per_node)
    assert any(np.abs(g).sum() > 0 for g in emu[1])  # gradients reached the parameters
    # The device runs the same groups as the CPU, far fewer than its nodes.
    assert emu[2] == cpu[2] > 0
    assert emu_per_node[2] == 0


def test_the_batched_executor_issues_far_fewer_device_launches():
    """A 16-tree Tree-LSTM's forward and backward on EMU:0: launches of the
    autobatching executor against the per-node executor's."""
    counts = {}
    for autobatch in (False, True):
        dy.init(seed=3, device=DEV)
        pc = dy.ParameterCollection()
        P = treelstm_params(pc)
        dy.renew_cg(autobatching=autobatch)
        loss = treelstm_loss(P, np.random.default_rng(11))
        dy.reset_device_launch_stats(DEV)
        loss.value()
        loss.backward()
        counts[autobatch] = dy.device_launch_stats(DEV)
    per_node, batched = counts[False], counts[True]
    assert per_node["total"] >= 5 * batched["total"], (per_node, batched)
    assert per_node["kernels"] >= 5 * batched["kernels"]
    assert batched["gemms"] + batched["batched_gemms"] < per_node["gemms"] + per_node["batched_gemms"]
    with pytest.raises(ValueError, match="device_launch_stats"):
        dy.device_launch_stats("CPU")


def test_a_groups_gathered_arguments_go_up_as_one_address_copy():
    """Inputs made alternately (a_0, b_0, a_1, ...) lie apart, so a group of cmult(a_i, b_i) gathers
    both arguments: two gather launches but one upload of both address arrays, so the forward copies
    as many times as cmult(a_i, c) with c shared, which gathers one; values are the CPU's."""
    def run(shared, device=DEV, autobatch=True):
        dy.init(seed=1, device=device)
        dy.renew_cg(autobatching=autobatch)
        rng = np.random.default_rng(0)
        a, b = [], []
        for _ in range(8):
            a.append(dy.inputVector(rng.standard_normal(5).tolist()))
            b.append(dy.inputVector(rng.standard_normal(5).tolist()))
        c = dy.inputVector(rng.standard_normal(5).tolist())
        loss = dy.esum([dy.sum_elems(dy.cmult(a[i], c if shared else b[i])) for i in range(8)])
        dy.reset_device_launch_stats(DEV)
        gathered = _core.autobatch_stats()["args_gathered"]
        value = loss.value()
        return value, dy.device_launch_stats(DEV), _core.autobatch_stats()["args_gathered"] - gathered
    two, one = run(False), run(True)
    assert two[2] == 2 and one[2] == 1
    assert two[1]["kernels"] == one[1]["kernels"] + 1  # a launch per gathered argument
    assert two[1]["copies"] == one[1]["copies"]  # but one address upload for the group
    for shared, got in ((False, two), (True, one)):
        np.testing.assert_allclose(got[0], run(shared, "CPU", False)[0], **TOL)


def test_products_of_two_batched_operands_are_one_strided_batched_gemm():
    """A group of products whose operands are both computed values (no shared
    weight) runs as one strided-batched sgemm, forward and backward."""
    def run_products(device, autobatch):
        dy.init(seed=1, device=device)
        pc = dy.ParameterCollection()
        A = pc.add_parameters((3, 4))
        B = pc.add_parameters((4, 2))
        dy.renew_cg(autobatching=autobatch)
        terms = [dy.sum_elems(dy.tanh(A * (1.0 + 0.1 * k)) * dy.logistic(B - 0.2 * k)) for k in range(8)]
        loss = dy.esum(terms)
        if device == DEV:
            dy.reset_device_launch_stats(DEV)
        value = loss.value()
        loss.backward()
        stats = dy.device_launch_stats(DEV) if device == DEV else None
        return value, [A.grad_as_array(), B.grad_as_array()], stats
    ref = run_products("CPU", False)
    batched = run_products(DEV, True)
    per_node = run_products(DEV, False)
    np.testing.assert_allclose(batched[0], ref[0], **TOL)
    for g, g0 in zip(batched[1], ref[1]):
        np.testing.assert_allclose(g, g0, **TOL)
    # 8 products: one strided-batched sgemm forward, one per argument backward; none per node.
    assert batched[2]["batched_gemms"] == 3, batched[2]
    assert per_node[2]["batched_gemms"] == 0 and per_node[2]["gemms"] >= 8 * 3


def mixed_loss(Pc, Pd, rng):
    """Per chain: tanh(Wc x) on the CPU, to EMU:0, logistic(Wd h) there, the
    chain's sum back to the CPU; chains batch on each device separately."""
    terms = []
    for _ in range(6):
        x = dy.inputVector([float(v) for v in rng.normal(size=4)])
        h = dy.tanh(Pc["W"] * x + Pc["b"])
        hd = dy.to_device(h, DEV)
        y = dy.logistic(Pd["W"] * hd + Pd["b"])
        terms.append(dy.to_device(dy.sum_elems(dy.cmult(y, y)), "CPU"))
    return dy.esum(terms)


def run_mixed(autobatch):
    dy.init(seed=4, device="CPU")
    pc = dy.ParameterCollection()
    Pc = {"W": pc.add_parameters((5, 4)), "b": pc.add_parameters((5,), init=0.1)}
    Pd = {"W": pc.add_parameters((3, 5), device=DEV), "b": pc.add_parameters((3,), init=0.2, device=DEV)}
    dy.renew_cg(autobatching=autobatch)
    before = _core.autobatch_stats()["groups"]
    loss = mixed_loss(Pc, Pd, np.random.default_rng(5))
    assert loss.device() == "CPU"
    value = loss.value()
    loss.backward()
    groups = _core.autobatch_stats()["groups"] - before
    return value, [p.grad_as_array() for p in pc.parameters_list()], groups


def test_a_graph_of_cpu_and_device_nodes_batches_per_device():
    batched, per_node = run_mixed(True), run_mixed(False)
    assert_same(batched, per_node)
    assert all(np.abs(g).sum() > 0 for g in batched[1])
    # 6 chains of ~10 nodes: groups per step on each device, never a mixed one (that would fail in the op).
    assert 0 < batched[2] < 40


@pytest.mark.parametrize("kind", ["treelstm", "rnnlm"])
def test_under_a_device_budget_values_equal_and_memory_stays_under_it(kind):
    """Under a budget the batched executor hands the graph to the per-node
    executor, whose swap plan keeps it under the budget (docs/memory.md)."""
    free = run(kind, DEV, True)
    peak = run(kind, DEV, True, budget="1GB")[3]["peak_bytes"]
    budget = (peak * 4 // 10) // 256 * 256
    value, grads, groups, stats = run(kind, DEV, True, budget=budget)
    assert_same((value, grads), free)
    assert 0 < stats["peak_bytes"] <= budget < peak
    assert stats["swaps_out"] > 0


def test_stacked_products_stay_on_the_cpu():
    """set_autobatch_stacking (a CPU optimisation: weights stacked into one GEMM) leaves
    device groups alone: the tagger on EMU:0 still equals the CPU's."""
    dy.set_autobatch_stacking(True)
    try:
        cpu = run("tagger", "CPU", True)
        emu = run("tagger", DEV, True)
    finally:
        dy.set_autobatch_stacking(False)
    assert_same(emu, cpu)

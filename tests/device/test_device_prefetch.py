"""Transfers that overlap (docs/memory.md): under a device memory budget, copies
go through the device's copy stream -- on EMU:0 a worker thread that runs a
FIFO of copies beside the compute -- with events for ordering: values and
gradients come back K nodes ahead of their use (prefetch), a block copied out
is reused only after its copy, and parameters that do not fit stream from the
host. Everything must equal the unbudgeted run bit for bit, for every K, with
copies slowed down (so that a missing wait reads stale memory), run after run."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

from test_device_memory import build, no_budget_after  # noqa: F401 (autouse)

DEV = "EMU:0"



def train(kind, budget=0, policy="swap", prefetch=4, steps=3, trainer="sgd"):
    dy.init(seed=5, device=DEV, device_mem=budget, memory_policy=policy, prefetch=prefetch)
    dy.renew_cg()
    dy.reset_device_memory_stats(DEV)
    rng = np.random.default_rng(2)
    pc = dy.ParameterCollection()
    P, E, loss_fn = build(kind, pc)
    tr = dy.SimpleSGDTrainer(pc, learning_rate=0.1) if trainer == "sgd" else dy.AdamTrainer(pc, alpha=0.01)
    losses, grads = [], None
    for step in range(steps):
        dy.renew_cg()
        loss = loss_fn(P, E, rng)
        losses.append(loss.value())
        loss.backward()
        if step == 0:
            grads = [p.grad_as_array() for p in P.values()]
        tr.update()
    params = [p.as_array() for p in P.values()] + [E.as_array()]
    return np.array(losses), grads, params, dy.device_memory_stats(DEV)


def assert_same(run, ref):
    np.testing.assert_array_equal(run[0], ref[0])
    for a, b in zip(run[1], ref[1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(run[2], ref[2]):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def reference():
    out = {}
    for kind in ("treelstm", "tagger", "rnnlm"):
        out[kind] = train(kind)
        out[kind + ":peak"] = train(kind, budget="1GB")[3]["peak_bytes"]
    dy.init(device="CPU", device_mem=0)
    return out


@pytest.mark.parametrize("kind", ["treelstm", "tagger", "rnnlm"])
def test_prefetch_on_and_off_equal_the_unbudgeted_run(reference, kind):
    budget = (reference[kind + ":peak"] * 3 // 10) // 256 * 256
    off = train(kind, budget, prefetch=0)
    on = train(kind, budget, prefetch=4)
    assert_same(off, reference[kind])
    assert_same(on, reference[kind])
    s_off, s_on = off[3], on[3]
    assert s_off["prefetches"] == 0 and s_off["demand_fetches"] > 0
    assert s_on["prefetches"] > 0 and s_on["prefetch_hits"] > 0
    assert s_on["prefetch_hits"] + s_on["prefetch_stalls"] <= s_on["prefetches"]
    assert s_on["demand_fetches"] < s_off["demand_fetches"]
    for s in (s_off, s_on):
        assert 0 < s["peak_bytes"] <= budget


def test_slow_copies_stall_and_still_give_the_same_results(reference):
    """Each copy takes 2 ms more: prefetches have not arrived when the compute needs them
    (stalls), copies-out are still running when their block is wanted (waits) -- and the
    results are the same, so every read waited for its copy."""
    budget = (reference["rnnlm:peak"] * 3 // 10) // 256 * 256
    _core._set_emu_copy_delay(2000)
    run = train("rnnlm", budget, prefetch=8, steps=2)
    _core._set_emu_copy_delay(0)
    ref = reference["rnnlm"]
    np.testing.assert_array_equal(run[0], ref[0][:2])
    for a, b in zip(run[1], ref[1]):
        np.testing.assert_array_equal(a, b)
    assert run[3]["prefetch_stalls"] > 0


# ---- ordering stress: random graphs, a tiny budget, K = 1..8, slowed copies

def random_graph(rng, W, x):
    """A random DAG over 32-wide vectors: each new node reads one or two earlier ones."""
    nodes = [x]
    for _ in range(40):
        a = nodes[int(rng.integers(len(nodes)))]
        b = nodes[int(rng.integers(len(nodes)))]
        op = int(rng.integers(6))
        if op == 0:
            v = dy.tanh(W[int(rng.integers(len(W)))] * a)
        elif op == 1:
            v = dy.logistic(a + b)
        elif op == 2:
            v = dy.cmult(a, b)
        elif op == 3:
            v = dy.tanh(a - 0.5 * b)
        elif op == 4:
            v = W[int(rng.integers(len(W)))] * dy.tanh(a)
        else:
            v = dy.rectify(a) + b
        nodes.append(v)
    return dy.sum_elems(dy.esum(nodes[-8:])), nodes


def stress_run(seed, budget, prefetch):
    dy.init(seed=3, device=DEV, device_mem=budget, memory_policy="swap", prefetch=prefetch)
    dy.renew_cg()
    dy.reset_device_memory_stats(DEV)
    rng = np.random.default_rng(seed)
    pc = dy.ParameterCollection()
    W = [pc.add_parameters((32, 32)) for _ in range(3)]
    x = dy.inputVector(list(np.linspace(-1, 1, 32)))
    loss, nodes = random_graph(rng, W, x)
    value = loss.value()
    loss.backward()
    picked = [nodes[k].npvalue() for k in (1, 10, 20, 30)]
    return value, [w.grad_as_array() for w in W], picked, dy.device_memory_stats(DEV)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ordering_stress_random_graphs(seed):
    ref = stress_run(seed, 0, 0)
    _core._set_emu_copy_delay(100)
    try:
        for prefetch in range(1, 9):
            for _ in range(2):
                run = stress_run(seed, 20 * 1024, prefetch)
                assert run[0] == ref[0]
                for a, b in zip(run[1] + run[2], ref[1] + ref[2]):
                    np.testing.assert_array_equal(a, b)
                s = run[3]
                assert s["swaps_out"] > 0 and s["prefetches"] > 0 and s["peak_bytes"] <= 20 * 1024
    finally:
        _core._set_emu_copy_delay(0)


# ---- parameters larger than the budget

def big_model_run(budget, trainer="sgd", steps=3):
    dy.init(seed=7, device=DEV, device_mem=budget, memory_policy="swap", prefetch=4)
    dy.renew_cg()
    dy.reset_device_memory_stats(DEV)
    pc = dy.ParameterCollection()
    Ws = [pc.add_parameters((64, 64)) for _ in range(6)]  # 6 x 16 KiB of values (+ gradients)
    E = pc.add_lookup_parameters((50, 64))
    tr = dy.SimpleSGDTrainer(pc, learning_rate=0.05) if trainer == "sgd" else dy.AdamTrainer(pc, alpha=0.01)
    rng = np.random.default_rng(4)
    losses = []
    for _ in range(steps):
        dy.renew_cg()
        h = E[int(rng.integers(50))]
        for W in Ws:
            h = dy.tanh(W * h)
        loss = dy.pickneglogsoftmax(h, int(rng.integers(64)))
        losses.append(loss.value())
        loss.backward()
        tr.update()
    return np.array(losses), [W.as_array() for W in Ws] + [E.as_array()], dy.device_memory_stats(DEV)


@pytest.mark.parametrize("trainer", ["sgd", "adam"])
def test_parameters_larger_than_the_budget_stream(trainer):
    ref = big_model_run(0, trainer)
    budget = 48 * 1024  # the parameters' values alone are 6 x 16 KiB + 12.5 KiB
    run = big_model_run(budget, trainer)
    s = run[2]
    assert s["params_stream"] is True and s["streamed_params"] > 0
    assert 0 < s["peak_bytes"] <= budget
    np.testing.assert_allclose(run[0], ref[0], rtol=1e-6, atol=1e-7)
    for a, b in zip(run[1], ref[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert ref[0][-1] != ref[0][0]  # it trained


def test_resident_parameters_count_against_the_budget():
    dy.init(seed=7, device=DEV, device_mem="4MB", memory_policy="swap")
    dy.renew_cg()
    pc = dy.ParameterCollection()
    W = pc.add_parameters((128, 128))  # 64 KiB of values, 64 KiB of gradient
    dy.renew_cg()
    dy.reset_device_memory_stats(DEV)
    x = dy.inputVector([0.1] * 128)
    y = dy.tanh(W * x)
    y.npvalue()
    s = dy.device_memory_stats(DEV)
    assert s["params_stream"] is False
    assert s["in_use_bytes"] >= 2 * 128 * 128 * 4  # the resident parameter is held in the budget


def test_a_parameter_larger_than_the_whole_budget_is_a_memory_error():
    dy.init(device=DEV, device_mem=16 * 1024, memory_policy="swap")
    dy.renew_cg()
    pc = dy.ParameterCollection()
    W = pc.add_parameters((128, 128))  # 64 KiB
    dy.renew_cg()
    x = dy.inputVector([0.1] * 128)
    with pytest.raises(MemoryError, match=r"65536 bytes needed for node \d+ \(parameter, shape \{128,128\}\)"):
        (W * x).npvalue()


def test_cuda_array_interface_under_a_budget_names_the_budget():
    dy.init(device=DEV, device_mem="1MB")
    dy.renew_cg()
    x = dy.inputVector([0.5] * 16)
    y = dy.tanh(x)
    with pytest.raises(AttributeError, match="under a device memory budget"):
        _core._cuda_array_interface(y)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((4, 4))
    dy.renew_cg()
    with pytest.raises(AttributeError, match="aliases a parameter"):
        _core._cuda_array_interface(W.expr())


def test_prefetch_argument_is_checked():
    for bad in (-1, 1.5, "4", True):
        with pytest.raises(ValueError, match="prefetch"):
            dy.init(prefetch=bad)
    dy.init(device_mem="EMU:0:1MB", prefetch=7)
    assert dy.device_memory_stats(DEV)["prefetch"] == 7

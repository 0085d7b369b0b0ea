"""Device memory budgets (docs/memory.md): on the emulated device EMU:0 with a
budget far below what a graph needs at once, training gives the same values,
gradients and parameters as without one -- a Tree-LSTM, a BiLSTM tagger and an
RNN language model, each under swapping and under recomputation -- the graph
memory never exceeds the budget, the bytes moved are counted, and a budget
too small for even one node is a MemoryError naming the budget and the need.
Also the free-list pool under the budget and the size strings of init()."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core
from dynagraph import _config, _core

DEV = "EMU:0"


@pytest.fixture(autouse=True)
def no_budget_after():
    """Every test leaves no budget, copy delay or non-default executor behind (the budget
    tests' modules import this fixture)."""
    yield
    _core._set_emu_copy_delay(0)
    dy.init(device="CPU", device_mem=0, memory_policy="auto", prefetch=4)
    dy.renew_cg(autobatching=False)  # the executor choice sticks: later tests expect the default


# ---- init(device_mem=...) sizes

def test_sizes_with_units():
    assert _config._parse_bytes(4096, "device_mem") == 4096
    assert _config._parse_bytes("256MB", "device_mem") == 256 * 10**6
    assert _config._parse_bytes("1.5 KiB", "device_mem") == 1536
    assert _config._parse_bytes("2gib", "device_mem") == 2 * 2**30
    assert _config._device_budgets("EMU:0:64KB") == {"EMU:0": 64000}
    for bad in ("lots", "12XB", "MB", "-3MB"):
        with pytest.raises(ValueError, match="device_mem"):
            dy.init(device_mem=bad)
    with pytest.raises(TypeError, match="device_mem"):
        dy.init(device_mem=1.5)
    with pytest.raises(ValueError, match="memory_policy"):
        dy.init(memory_policy="evict")
    with pytest.raises(ValueError, match="TPU"):
        dy.init(device_mem="TPU:0:1MB")


def test_budget_and_policy_are_reported():
    dy.init(device_mem="EMU:0:3MiB", memory_policy="swap")
    s = dy.device_memory_stats(DEV)
    assert s["budget"] == 3 * 2**20 and s["policy"] == "swap"
    dy.init(device_mem=0)
    assert dy.device_memory_stats(DEV)["budget"] == 0


# ---- the free-list pool

def test_block_pool_best_fit_and_merging():
    p = _core._TestBlockPool(4096)
    a, b, c = p.allocate(1000), p.allocate(256), p.allocate(1)
    assert (a, b, c) == (0, 1024, 1280)  # 256-byte blocks, in address order
    assert p.in_use() == 1536 and p.largest_free() == 4096 - 1536
    p.free(b)
    assert p.allocate(200) == 1024  # the freed block fits best
    p.free(1024)
    p.free(a)  # merges with the free block after it
    assert p.largest_free() == 4096 - 1536 and p.free_blocks() == 2
    p.free(c)  # everything merges into one block
    assert p.free_blocks() == 1 and p.largest_free() == 4096 and p.in_use() == 0
    assert p.peak() == 1536
    assert p.allocate(4097) == -1  # does not fit: the caller evicts


def test_block_pool_takes_long_lived_blocks_from_the_top():
    """Scratch comes from the top end (allocate_top), values best fit from the
    bottom: the two meet only when the pool is full."""
    p = _core._TestBlockPool(4096)
    assert p.allocate(1000) == 0
    assert p.allocate_top(300) == 4096 - 512  # the end of the highest free block
    assert p.allocate_top(256) == 4096 - 768
    assert p.allocate(256) == 1024  # best fit, from the start of the free block
    assert p.largest_free() == 4096 - 768 - 1280
    p.free(0)
    assert p.allocate(200) == 0  # the smallest fitting free block (1024 bytes) beats the larger one
    assert p.allocate_top(2048) == 1280  # exactly the free block under the top ones
    assert p.allocate_top(64) == 1024 - 256  # the end of the highest free block left, [256, 1024)
    assert p.in_use() == 4096 - 512 and p.largest_free() == 512 and p.allocate_top(1024) == -1
    p.reset()
    assert p.free_blocks() == 1 and p.in_use() == 0


def test_block_pool_does_not_crumble():
    rng = np.random.default_rng(0)
    p = _core._TestBlockPool(1 << 16)
    live = {}
    for _ in range(2000):
        if live and (rng.random() < 0.5 or len(live) > 40):
            off = list(live)[int(rng.integers(len(live)))]
            p.free(off)
            del live[off]
        else:
            n = int(rng.integers(1, 2000))
            off = p.allocate(n)
            if off >= 0:
                for o, m in live.items():  # no overlap with a live block
                    assert off + n <= o or o + m <= off
                live[off] = n
    for off in list(live):
        p.free(off)
    assert p.free_blocks() == 1 and p.in_use() == 0


# ---- models built from ops with device kernels (matmul, logistic, tanh, cmult, ...)

def gate_cell(P, x, h):
    """A GRU-like cell: z = logistic(Wz x + Uz h + bz), c = tanh(Wc x + Uc (r*h) + bc)."""
    z = dy.logistic(P["Wz"] * x + P["Uz"] * h + P["bz"])
    r = dy.logistic(P["Wr"] * x + P["Ur"] * h + P["br"])
    c = dy.tanh(P["Wc"] * x + P["Uc"] * dy.cmult(r, h) + P["bc"])
    return dy.cmult(1.0 - z, h) + dy.cmult(z, c)


def cell_params(pc, din, dh, prefix=""):
    P = {}
    for g in "zrc":
        P[prefix + "W" + g] = pc.add_parameters((dh, din))
        P[prefix + "U" + g] = pc.add_parameters((dh, dh))
        P[prefix + "b" + g] = pc.add_parameters((dh,), init=0.1)
    return P


def sub(P, prefix):
    return {k[len(prefix):]: v for k, v in P.items() if k.startswith(prefix)}


def treelstm_loss(P, E, rng):
    """A binary tree over 8 leaves: node = cell(left, right) (the right child as input)."""
    frontier = [dy.tanh(E[int(w)]) for w in rng.integers(0, 20, 8)]
    while len(frontier) > 1:
        k = int(rng.integers(0, len(frontier) - 1))
        frontier[k:k + 2] = [gate_cell(P, frontier[k + 1], frontier[k])]
    return dy.pickneglogsoftmax(P["Wo"] * frontier[0], int(rng.integers(0, 4)))


def tagger_loss(P, E, rng):
    """BiLSTM-tagger-like: a left-to-right and a right-to-left chain, a tag per word."""
    words = rng.integers(0, 20, 7)
    xs = [E[int(w)] for w in words]
    h0 = dy.zeros(16)
    fw, h = [], h0
    for x in xs:
        h = gate_cell(sub(P, "f"), x, h)
        fw.append(h)
    bw, h = [], h0
    for x in reversed(xs):
        h = gate_cell(sub(P, "b"), x, h)
        bw.append(h)
    losses = [dy.pickneglogsoftmax(P["Wo"] * dy.concatenate([f, b]), int(w) % 4)
              for f, b, w in zip(fw, reversed(bw), words)]
    return dy.esum(losses)


def rnnlm_loss(P, E, rng):
    """rnnlm-like: predict each next word of a sentence from an RNN over the words before it."""
    sent = rng.integers(0, 20, 9)
    h = dy.zeros(16)
    losses = []
    for w, nxt in zip(sent[:-1], sent[1:]):
        h = dy.tanh(P["Wx"] * E[int(w)] + P["Wh"] * h + P["bh"])
        losses.append(dy.pickneglogsoftmax(P["Wy"] * h + P["by"], int(nxt)))
    return dy.esum(losses)


def build(kind, pc):
    E = pc.add_lookup_parameters((20, 12))
    if kind == "treelstm":
        P = cell_params(pc, 16, 16)
        E = pc.add_lookup_parameters((20, 16))
        P["Wo"] = pc.add_parameters((4, 16))
        return P, E, treelstm_loss
    if kind == "tagger":
        P = {**cell_params(pc, 12, 16, "f"), **cell_params(pc, 12, 16, "b")}
        P["Wo"] = pc.add_parameters((4, 32))
        return P, E, tagger_loss
    P = {"Wx": pc.add_parameters((16, 12)), "Wh": pc.add_parameters((16, 16)),
         "bh": pc.add_parameters((16,)), "Wy": pc.add_parameters((20, 16)), "by": pc.add_parameters((20,))}
    return P, E, rnnlm_loss


def train(kind, budget=0, policy="auto", steps=3):
    """Losses, the gradients of the first step, the final parameters and the memory counters."""
    dy.init(seed=5, device=DEV, device_mem=budget, memory_policy=policy)
    dy.renew_cg()
    dy.reset_device_memory_stats(DEV)
    rng = np.random.default_rng(2)
    pc = dy.ParameterCollection()
    P, E, loss_fn = build(kind, pc)
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.1)
    losses, grads = [], None
    for step in range(steps):
        dy.renew_cg()
        loss = loss_fn(P, E, rng)
        assert loss.device() == DEV
        losses.append(loss.value())
        loss.backward()
        if step == 0:
            grads = [p.grad_as_array() for p in P.values()]
        trainer.update()
    params = [p.as_array() for p in P.values()] + [E.as_array()]
    return np.array(losses), grads, params, dy.device_memory_stats(DEV)


@pytest.fixture(scope="module")
def unbudgeted():
    out = {}
    for kind in ("treelstm", "tagger", "rnnlm"):
        out[kind] = train(kind)
        dy.init(device="CPU")
    return out


@pytest.mark.parametrize("kind", ["treelstm", "tagger", "rnnlm"])
@pytest.mark.parametrize("policy", ["swap", "recompute", "auto"])
def test_training_under_a_budget_equals_training_without(unbudgeted, kind, policy):
    losses0, grads0, params0, _ = unbudgeted[kind]
    peak = train(kind, budget="1GB")[3]["peak_bytes"]  # what the graph holds with nothing moved
    budget = (peak * 3 // 10) // 256 * 256
    losses, grads, params, stats = train(kind, budget=budget, policy=policy)
    assert losses0[-1] < losses0[0] or kind == "treelstm"  # trees differ per step
    np.testing.assert_array_equal(losses, losses0)
    for g, g0 in zip(grads, grads0):
        np.testing.assert_array_equal(g, g0)
    for p, p0 in zip(params, params0):
        np.testing.assert_array_equal(p, p0)
    assert 0 < stats["peak_bytes"] <= budget < peak
    assert stats["schedule_nodes"] > 0
    if policy == "swap":
        # Values went out and came back. Which ones come back through a prefetch that arrives
        # (swaps_in) or are re-read from their host source depends on when the copy stream's
        # events complete (a block is reused only after its copy), so only the bytes are fixed.
        assert stats["to_host_bytes"] > 0 and stats["to_device_bytes"] > 0 and stats["swaps_out"] > 0
        assert stats["recomputes"] == 0
    if policy == "recompute":
        assert stats["recomputes"] > 0


def test_a_budget_too_small_is_a_memory_error():
    dy.init(device=DEV, device_mem=4096)
    dy.renew_cg()
    x = dy.inputVector([0.5] * 2048)
    need = r"budget of EMU:0 exceeded: 8192 bytes needed for node 0 \(input, shape \{2048\}\).* budget is 4096 bytes"
    with pytest.raises(MemoryError, match=need):
        dy.tanh(x).npvalue()


def test_values_read_after_backward_and_intermediate_gradients():
    """npvalue() of an early value and gradient() of an intermediate node after backward,
    when the budget forced both off the device, equal the unconstrained ones."""
    def run(budget):
        dy.init(seed=1, device=DEV, device_mem=budget, memory_policy="swap")
        dy.renew_cg()
        pc = dy.ParameterCollection()
        W = pc.add_parameters((32, 32))
        h = dy.inputVector([0.01 * i for i in range(32)])
        hs = []
        for _ in range(12):
            h = dy.tanh(W * h)
            hs.append(h)
        loss = dy.sum_elems(h)
        loss.backward()
        return hs[0].npvalue(), hs[2].gradient(), W.grad_as_array()
    ref = run(0)
    small = run(14 * 1024)
    assert dy.device_memory_stats(DEV)["swaps_out"] > 0
    for a, b in zip(small, ref):
        np.testing.assert_array_equal(a, b)


def test_a_view_of_a_value_needs_no_room_of_its_own():
    """The hook keeps room for a node's value before the op runs; a reshape's
    value is a view of its argument, so a budget that holds the argument alone
    still runs it (the kept room is skipped when there is none)."""
    dy.init(device=DEV, device_mem=40 * 1024, memory_policy="swap")
    dy.renew_cg()
    data = np.arange(8192, dtype=np.float32)  # 32 KiB
    y = dy.reshape(dy.inputVector(list(data)), (64, 128))
    np.testing.assert_array_equal(y.npvalue(), data.reshape(128, 64).T)
    assert dy.device_memory_stats(DEV)["peak_bytes"] <= 40 * 1024
    dy.init(device_mem=0)

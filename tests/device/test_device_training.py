"""Training on the emulated device EMU:0 equals training on the CPU: an MLP
over minibatches (SGD) and an N-ary Tree-LSTM over small trees (Adam), with
parameters and inputs on EMU:0 -- the forward and backward kernels and the
trainers' update kernels all run on the device path."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    dy.init(device="CPU")
    dy.renew_cg()


def train_mlp(device, steps=6):
    dy.init(seed=3, device=device)
    rng = np.random.default_rng(0)
    pc = dy.ParameterCollection()
    W1 = pc.add_parameters((16, 8))
    b1 = pc.add_parameters((16,), init=0.1)
    W2 = pc.add_parameters((4, 16))
    b2 = pc.add_parameters((4,))
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.2)
    losses = []
    for _ in range(steps):
        x = rng.standard_normal((8, 5)).astype(np.float32)
        labels = list(rng.integers(0, 4, 5))
        dy.renew_cg()
        h = dy.rectify(dy.affine_transform([b1, W1, dy.inputTensor(x, batched=True)]))
        scores = dy.affine_transform([b2, W2, dy.tanh(h)])
        loss = dy.sum_batches(dy.pickneglogsoftmax_batch(scores, labels)) * (1 / 5)
        assert loss.device() == device
        losses.append(loss.value())
        loss.backward()
        trainer.update()
    return np.array(losses), [p.as_array() for p in (W1, b1, W2, b2)]


def test_mlp_trains_the_same_on_emu_and_cpu():
    cpu_losses, cpu_params = train_mlp("CPU")
    emu_losses, emu_params = train_mlp("EMU:0")
    assert cpu_losses[-1] < cpu_losses[0]  # it learns
    np.testing.assert_allclose(emu_losses, cpu_losses, rtol=1e-4, atol=1e-6)
    for a, b in zip(emu_params, cpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def random_tree(rng, n_leaves):
    """(node ids bottom-up with children) for a random binary tree over leaves 0..n-1."""
    nodes = [(i, []) for i in range(n_leaves)]
    frontier = list(range(n_leaves))
    next_id = n_leaves
    while len(frontier) > 1:
        k = int(rng.integers(0, len(frontier) - 1))
        left, right = frontier[k], frontier[k + 1]
        nodes.append((next_id, [left, right]))
        frontier[k:k + 2] = [next_id]
        next_id += 1
    return nodes


def train_treelstm(device, steps=5):
    dy.init(seed=11, device=device)
    rng = np.random.default_rng(1)
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((20, 6))
    builder = dy.NaryTreeLSTMBuilder(2, 1, 6, 8, pc)
    W = pc.add_parameters((3, 8))
    trainer = dy.AdamTrainer(pc, alpha=0.01)
    losses = []
    for _ in range(steps):
        n = int(rng.integers(2, 6))
        words = rng.integers(0, 20, n)
        label = int(rng.integers(0, 3))
        dy.renew_cg()
        seq = builder.initial_state()
        h = None
        for node, kids in random_tree(rng, n):
            x = dy.lookup(E, int(words[node])) if not kids else None
            h = seq.add_input(node, kids, x)
        loss = dy.pickneglogsoftmax(W * h, label)
        assert loss.device() == device
        losses.append(loss.value())
        loss.backward()
        trainer.update()
    return np.array(losses), [E.as_array(), W.as_array()]


def test_treelstm_trains_the_same_on_emu_and_cpu():
    cpu_losses, cpu_params = train_treelstm("CPU")
    emu_losses, emu_params = train_treelstm("EMU:0")
    np.testing.assert_allclose(emu_losses, cpu_losses, rtol=1e-4, atol=1e-6)
    for a, b in zip(emu_params, cpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [lambda pc: dy.SimpleSGDTrainer(pc, 0.1),
                                  lambda pc: dy.AdamTrainer(pc, alpha=0.05)], ids=["sgd", "adam"])
def test_update_kernels_match_the_cpu_rules(make):
    """The device update kernels against the CPU rules, over several steps with clipping."""
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((5, 4)).astype(np.float32)
    grads = [rng.standard_normal((5, 4)).astype(np.float32) * s for s in (1, 10, 0.1)]  # 10: clipped
    results = []
    for device in ("CPU", "EMU:0"):
        pc = dy.ParameterCollection()
        p = pc.add_parameters((5, 4), init=dy.NumpyInitializer(w0), device=device)
        trainer = make(pc)
        for g in grads:
            dy.renew_cg()
            _core.set_default_device(device)
            loss = dy.sum_elems(dy.cmult(dy.parameter(p), dy.inputTensor(g)))  # d loss / d p = g
            loss.backward()
            trainer.update()
        _core.set_default_device("CPU")
        results.append(p.as_array())
    assert not np.allclose(results[0], w0)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)

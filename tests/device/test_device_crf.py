"""A linear-chain CRF (dynagraph.builders.CRF: the forward recursion's
logsumexp_dim, the path score) runs forward and backward on the emulated
device EMU:0 with the CPU's loss and gradients, unbatched and batched, and a
small neural CRF tagger (emissions from an MLP, as the zoo's NN-CRF) trains to
the same losses and parameters on EMU:0 as on the CPU (Adam)."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph.builders import CRF

K, T, FEAT, HID = 4, 5, 3, 6


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    dy.init(device="CPU")
    dy.renew_cg()


def crf_loss_and_grads(device, batch):
    dy.init(seed=1, device=device)
    rng = np.random.default_rng(7)
    pc = dy.ParameterCollection()
    crf = CRF(K, pc)
    for p in crf.get_parameters():  # zero-initialised: give them values
        p.set_value(rng.standard_normal(p.shape()).astype(np.float32))
    em = rng.standard_normal((T, K, batch)).astype(np.float32)
    tags = [list(rng.integers(0, K, T)) for _ in range(batch)]
    dy.renew_cg()
    xs = [dy.inputTensor(em[t] if batch > 1 else em[t, :, 0], batched=batch > 1) for t in range(T)]
    loss = crf.neg_log_loss(xs, tags if batch > 1 else tags[0])
    total = dy.sum_batches(loss)
    assert total.device() == device
    value = loss.npvalue()
    total.backward(full=True)  # the emissions' gradients too
    return value, [p.grad_as_array() for p in crf.get_parameters()], [x.gradient() for x in xs]


@pytest.mark.parametrize("batch", [1, 3])
def test_crf_loss_and_gradients_on_emu_equal_the_cpu(batch):
    cpu_value, cpu_pgrads, cpu_xgrads = crf_loss_and_grads("CPU", batch)
    emu_value, emu_pgrads, emu_xgrads = crf_loss_and_grads("EMU:0", batch)
    assert np.all(cpu_value > 0)  # -log p of a path
    np.testing.assert_allclose(emu_value, cpu_value, rtol=1e-5, atol=1e-5)
    for g_emu, g_cpu in zip(emu_pgrads + emu_xgrads, cpu_pgrads + cpu_xgrads):
        assert np.any(g_cpu != 0)
        np.testing.assert_allclose(g_emu, g_cpu, rtol=1e-4, atol=1e-5)


def train_tagger(device, steps=4, batch=3):
    dy.init(seed=5, device=device)
    rng = np.random.default_rng(3)
    pc = dy.ParameterCollection()
    W1 = pc.add_parameters((HID, FEAT))
    b1 = pc.add_parameters((HID,))
    W2 = pc.add_parameters((K, HID))
    b2 = pc.add_parameters((K,))
    crf = CRF(K, pc)
    trainer = dy.AdamTrainer(pc, alpha=0.05)
    losses = []
    for _ in range(steps):
        points = rng.standard_normal((T, FEAT, batch)).astype(np.float32)
        tags = [list(rng.integers(0, K, T)) for _ in range(batch)]
        dy.renew_cg()
        em = [dy.affine_transform([b2, W2, dy.tanh(dy.affine_transform([b1, W1, dy.inputTensor(p, batched=True)]))])
              for p in points]
        loss = dy.sum_batches(crf.neg_log_loss(em, tags)) * (1.0 / batch)
        assert loss.device() == device
        losses.append(loss.value())
        loss.backward()
        trainer.update()
    return np.array(losses), [p.as_array() for p in [W1, b1, W2, b2] + crf.get_parameters()]


def test_neural_crf_trains_the_same_on_emu_and_cpu():
    cpu_losses, cpu_params = train_tagger("CPU")
    emu_losses, emu_params = train_tagger("EMU:0")
    assert not np.allclose(cpu_params[-3], 0)  # the CRF's transitions moved
    np.testing.assert_allclose(emu_losses, cpu_losses, rtol=1e-4, atol=1e-5)
    for a, b in zip(emu_params, cpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

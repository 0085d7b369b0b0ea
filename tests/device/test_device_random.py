"""The random ops on the emulated device EMU:0 (noise, the dropout variants,
random_normal/uniform/bernoulli/gumbel). The device draws from the
counter-based hash (kernels/noise.h), not the CPU's mt19937, so the numbers
differ from the CPU's: these tests check the distributions (moments against
the exact ones and against the CPU op's sample), the mask layouts, that
backward reuses forward's mask, and reproducibility under dy.set_seed."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

DEVICE = "EMU:0"
N = 20000


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    _core.set_default_device("CPU")
    dy.renew_cg()


def value_and_grad(make, x_arr, batched=False, device=DEVICE):
    """(value, d sum(y * w) / dx, w) for y = make(x) on `device`, w random weights."""
    dy.renew_cg()
    x = dy.inputTensor(x_arr, batched=batched, device=device)
    y = make(x)
    assert y.device() == device
    v = y.npvalue()
    w_arr = np.random.default_rng(0).standard_normal(v.shape).astype(np.float32)
    w = dy.inputTensor(w_arr, batched=batched, device=device)
    dy.sum_batches(dy.sum_elems(dy.cmult(y, w))).backward(full=True)
    return v, x.gradient(), w_arr


def sample(make, device):
    dy.renew_cg()
    _core.set_default_device(device)
    try:
        e = make()
        assert e.device() == device
        return e.npvalue()
    finally:
        _core.set_default_device("CPU")


EULER = 0.5772156649
RANDOM = {  # make, exact mean, exact std
    "random_normal": (lambda: dy.random_normal((N,), mean=1.0, stddev=2.0), 1.0, 2.0),
    "random_uniform": (lambda: dy.random_uniform((N,), -1.0, 3.0), 1.0, 4.0 / np.sqrt(12)),
    "random_bernoulli": (lambda: dy.random_bernoulli((N,), 0.3, scale=2.0), 0.6, 2.0 * np.sqrt(0.21)),
    "random_gumbel": (lambda: dy.random_gumbel((N,), mu=0.5, beta=2.0), 0.5 + 2.0 * EULER, 2.0 * np.pi / np.sqrt(6)),
}


@pytest.mark.parametrize("op", sorted(RANDOM))
def test_random_inputs_draw_the_cpu_distributions(op):
    make, mean, std = RANDOM[op]
    _core.set_seed(11)
    dev = sample(make, DEVICE)
    cpu = sample(make, "CPU")
    assert dev.shape == cpu.shape == (N,)
    for s in (dev, cpu):
        assert abs(s.mean() - mean) < 5 * std / np.sqrt(N), op
        assert abs(s.std() - std) < 0.03 * std, op
    assert not np.array_equal(dev, sample(make, DEVICE))  # the next graph draws new numbers


def test_random_input_ranges_and_values():
    _core.set_seed(5)
    u = sample(lambda: dy.random_uniform((N,), -1.0, 3.0), DEVICE)
    assert u.min() >= -1.0 and u.max() < 3.0
    b = sample(lambda: dy.random_bernoulli((N,), 0.3, scale=2.0), DEVICE)
    assert set(np.unique(b)) == {0.0, 2.0}
    n = sample(lambda: dy.random_normal((N,)), DEVICE)
    assert np.isfinite(n).all() and abs(np.mean(n ** 3)) < 0.1  # symmetric
    # batched shapes: every element drawn
    _core.set_default_device(DEVICE)
    dy.renew_cg()
    e = dy.random_normal((3, 4), batch_size=5)
    _core.set_default_device("CPU")
    assert e.dim() == ((3, 4), 5) and len(np.unique(e.npvalue())) == 60


def test_seed_makes_device_draws_reproducible():
    def draw():
        return sample(lambda: dy.random_normal((50,)), DEVICE)
    _core.set_seed(3)
    a = draw()
    _core.set_seed(3)
    np.testing.assert_array_equal(draw(), a)
    _core.set_seed(4)
    assert not np.array_equal(draw(), a)


def test_noise_is_gaussian_and_its_gradient_passes_through():
    _core.set_seed(9)
    x = np.full(N, 3.0, dtype=np.float32)
    v, g, w = value_and_grad(lambda e: dy.noise(e, 0.5), x)
    d = v - x
    assert abs(d.mean()) < 5 * 0.5 / np.sqrt(N)
    assert abs(d.std() - 0.5) < 0.02
    np.testing.assert_allclose(g, w)
    _core.set_seed(9)
    np.testing.assert_array_equal(value_and_grad(lambda e: dy.noise(e, 0.5), x)[0], v)


def mask_of(v, x):
    return v / x


def test_dropout_dim_shares_the_mask_along_the_axis():
    _core.set_seed(2)
    x = np.random.default_rng(1).uniform(1, 2, (40, 50, 3)).astype(np.float32)  # (40, 50) x batch 3
    v, g, w = value_and_grad(lambda e: dy.dropout_dim(e, 0, 0.5), x, batched=True)
    m = mask_of(v, x)
    np.testing.assert_allclose(m, np.broadcast_to(m[:1], m.shape), rtol=1e-6)  # whole columns share a value
    assert not np.allclose(m[..., 0], m[..., 1])  # batch elements have their own masks
    assert set(np.round(np.unique(m), 5)) == {0.0, 2.0}
    np.testing.assert_allclose(g, m * w, rtol=1e-6)  # backward applies forward's mask
    v, g, w = value_and_grad(lambda e: dy.dropout_dim(e, 1, 0.5), x, batched=True)
    m = mask_of(v, x)
    np.testing.assert_allclose(m, np.broadcast_to(m[:, :1], m.shape), rtol=1e-6)  # whole rows
    np.testing.assert_allclose(g, m * w, rtol=1e-6)
    assert abs((m[0] != 0).mean() - 0.5) < 5 * np.sqrt(0.25 / 150)


def test_dropout_dim_on_a_middle_axis():
    _core.set_seed(4)
    x = np.ones((6, 7, 8), dtype=np.float32)
    v, g, w = value_and_grad(lambda e: dy.dropout_dim(e, 1, 0.5), x)
    assert (v == v[:, :1, :]).all() and not (v == v[:1, :, :]).all()
    np.testing.assert_allclose(g, v * w, rtol=1e-6)


def test_dropout_batch_drops_whole_batch_elements():
    _core.set_seed(6)
    x = np.ones((5, 4, 400), dtype=np.float32)
    v, g, w = value_and_grad(lambda e: dy.dropout_batch(e, 0.25), x, batched=True)
    per_elem = v.reshape(20, 400)
    assert (per_elem == per_elem[:1]).all()
    assert set(np.unique(v)) == {0.0, np.float32(1 / 0.75)}
    assert abs((per_elem[0] != 0).mean() - 0.75) < 5 * np.sqrt(0.75 * 0.25 / 400)
    np.testing.assert_allclose(g, v * w, rtol=1e-6)


def test_block_dropout_drops_all_or_nothing():
    outcomes = set()
    for seed in range(1, 30):
        _core.set_seed(seed)
        v, g, w = value_and_grad(lambda e: dy.block_dropout(e, 0.5), np.ones((3, 4), dtype=np.float32))
        assert len(np.unique(v)) == 1
        np.testing.assert_allclose(g, v * w, rtol=1e-6)
        outcomes.add(float(v[0, 0]))
    assert outcomes == {0.0, 2.0}


def test_dropout_edges_match_the_cpu():
    x = np.ones((3, 4), dtype=np.float32)
    for make in (lambda e: dy.dropout_dim(e, 0, 0.0), lambda e: dy.dropout_batch(e, 0.0),
                 lambda e: dy.block_dropout(e, 0.0), lambda e: dy.noise(e, 0.0)):
        v, g, w = value_and_grad(make, x)
        np.testing.assert_array_equal(v, x)
        np.testing.assert_allclose(g, w)
    # p = 1: block_dropout gives zeros, the others DyNet's 0 * inf = NaN, on both
    dev = value_and_grad(lambda e: dy.block_dropout(e, 1.0), x)[0]
    np.testing.assert_array_equal(dev, np.zeros_like(x))
    np.testing.assert_array_equal(dev, value_and_grad(lambda e: dy.block_dropout(e, 1.0), x, device="CPU")[0])
    with pytest.warns(RuntimeWarning, match="NaN"):
        dev = value_and_grad(lambda e: dy.dropout_dim(e, 0, 1.0), x)[0]
    assert np.isnan(dev).all()


def lstm_gates_and_grads(device, seed, std, inputs):
    """Values of noisy vanilla_lstm_gates and the gradients of all five inputs on `device`."""
    dy.renew_cg()
    _core.set_seed(seed)
    xs = [dy.inputTensor(a, device=device) for a in inputs]
    g = dy.vanilla_lstm_gates(*xs, weightnoise_std=std)
    assert g.device() == device
    w = np.linspace(-1, 1, g.dim()[0][0]).astype(np.float32)
    dy.dot_product(g, dy.inputTensor(w, device=device)).backward(full=True)
    return [g.npvalue()] + [x.gradient() for x in xs]


def test_lstm_weight_noise_on_the_device_is_the_cpus_noise():
    """The CPU op draws LSTM weight noise from the device's counter-based stream: for one seed both
    add the same noise, so values and gradients (through the noisy weights) agree; a new graph draws
    fresh noise, and std 0 is the noiseless op."""
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal(s).astype(np.float32) for s in [(5,), (4,), (16, 5), (16, 4), (16,)]]
    for seed in (3, 8):
        cpu = lstm_gates_and_grads("CPU", seed, 0.3, inputs)
        dev = lstm_gates_and_grads(DEVICE, seed, 0.3, inputs)
        for a, b in zip(dev, cpu):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    clean = lstm_gates_and_grads(DEVICE, 3, 0.0, inputs)
    assert not np.allclose(dev[0], clean[0], atol=1e-3)
    np.testing.assert_allclose(clean[0], lstm_gates_and_grads("CPU", 3, 0.0, inputs)[0], rtol=1e-5, atol=1e-6)
    _core.set_seed(3)
    first = lstm_gates_and_grads(DEVICE, 3, 0.3, inputs)[0]
    dy.renew_cg()
    x = [dy.inputTensor(a, device=DEVICE) for a in inputs]
    again = dy.vanilla_lstm_gates(*x, weightnoise_std=0.3).npvalue()  # the counter moved on: fresh noise
    assert not np.allclose(again, first, atol=1e-3)


def test_compact_lstm_builder_weight_noise_on_the_device():
    """set_weightnoise on a builder whose parameters live on EMU:0: the CPU builder's output for the
    same seed and weights, fresh noise per step, and the clean output once set back to 0 (evaluation)."""
    outs = {}
    for device in ("CPU", DEVICE):
        dy.renew_cg()
        _core.set_seed(1)
        pc = dy.ParameterCollection()
        _core.set_default_device(device)
        try:
            lstm = dy.CompactVanillaLSTMBuilder(1, 3, 4, pc)
            wrng = np.random.default_rng(6)  # the same weights on both
            for p in pc.parameters_list():
                p.set_value(wrng.standard_normal(p.shape()).astype(np.float32))
            x = [dy.inputVector([0.5, -1.0, 2.0]) for _ in range(3)]
            lstm.set_weightnoise(0.0)
            clean = lstm.initial_state().transduce(x)[-1].npvalue()
            lstm.set_weightnoise(0.5)
            dy.renew_cg()
            _core.set_seed(21)
            x = [dy.inputVector([0.5, -1.0, 2.0]) for _ in range(3)]
            noisy = lstm.initial_state().transduce(x)[-1]
            assert noisy.device() == device
            noisy = noisy.npvalue()
            lstm.set_weightnoise(0.0)
            dy.renew_cg()
            x = [dy.inputVector([0.5, -1.0, 2.0]) for _ in range(3)]
            again = lstm.initial_state().transduce(x)[-1].npvalue()
        finally:
            _core.set_default_device("CPU")
        assert not np.allclose(noisy, clean, atol=1e-3)
        np.testing.assert_array_equal(again, clean)
        outs[device] = (clean, noisy)
    np.testing.assert_allclose(outs[DEVICE][0], outs["CPU"][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[DEVICE][1], outs["CPU"][1], rtol=1e-4, atol=1e-5)

"""Real-GPU tests (marked `cuda`): they skip, saying why, without a CUDA build
and a GPU, and fail instead when DYNAGRAPH_REQUIRE_GPU=1 (tools/gpu_check.sh
sets it). The same computations run on the emulated device EMU:0 in
tests/device/test_device_ops.py and test_device_training.py; here GPU:0 must
agree with the CPU."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

pytestmark = pytest.mark.cuda


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    _core.set_default_device("CPU")
    dy.renew_cg()


def mlp_loss(device, W, b, V, x, label):
    dy.renew_cg()
    _core.set_default_device(device)
    h = dy.tanh(dy.inputTensor(W) * dy.inputTensor(x) + dy.inputTensor(b))
    scores = dy.inputTensor(V) * h
    loss = dy.pickneglogsoftmax(scores, label)
    value = loss.value()
    loss.backward(full=True)
    return value


def test_gpu_is_listed():
    assert "GPU:0" in dy.available_devices()


def test_mlp_forward_backward_matches_cpu():
    rng = np.random.default_rng(0)
    W, b, V, x = (rng.standard_normal(s).astype(np.float32) for s in [(64, 32), (64,), (10, 64), (32,)])
    cpu = mlp_loss("CPU", W, b, V, x, 3)
    gpu = mlp_loss("GPU:0", W, b, V, x, 3)
    assert gpu == pytest.approx(cpu, rel=1e-4)


def test_large_product_through_cublas():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((512, 256)).astype(np.float32)
    c = rng.standard_normal((256, 384)).astype(np.float32)
    dy.renew_cg()
    y = dy.inputTensor(a, device="GPU:0") * dy.inputTensor(c, device="GPU:0")
    np.testing.assert_allclose(y.npvalue(), a.astype(np.float64) @ c, rtol=1e-3, atol=1e-3)


def test_dlpack_out_is_a_cuda_array():
    import cupy  # the `cuda` extra: a GPU machine running these tests has it
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0, 3.0], device="GPU:0") * 2
    assert x.__dlpack_device__() == (2, 0)
    np.testing.assert_array_equal(cupy.asnumpy(cupy.from_dlpack(x)), [2.0, 4.0, 6.0])


def test_cupy_array_in():
    import cupy
    a = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
    dy.renew_cg()
    x = dy.inputTensor(a, device="GPU:0")
    np.testing.assert_array_equal(x.npvalue(), cupy.asnumpy(a))


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adadelta", "rmsprop", "adam", "amsgrad"])
def test_resident_parameters_train_on_the_gpu_as_on_the_cpu(name):
    """Parameters resident on GPU:0 (atomic scatter-add with repeated lookup
    indices, every trainer's kernel, clipping's device reduction) against the CPU."""
    from test_device_params import TRAINERS, train

    cpu, cpu_trainer = train("CPU", TRAINERS[name])
    gpu, gpu_trainer = train("GPU:0", TRAINERS[name])
    assert gpu_trainer.clips == cpu_trainer.clips > 0
    for a, c in zip(gpu, cpu):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)

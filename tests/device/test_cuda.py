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


def test_dlpack_out_is_a_cuda_array_aliasing_graph_memory():
    import cupy  # the `cuda` extra: a GPU machine running these tests has it
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0, 3.0], device="GPU:0") * 2
    assert x.__dlpack_device__() == (2, 0)
    got = cupy.from_dlpack(x)
    assert got.data.ptr == cupy.from_dlpack(x).data.ptr  # zero-copy: the graph's memory both times
    for _ in range(3):  # graphs that would reuse the memory leave the exported value alone
        dy.renew_cg()
        (dy.inputVector([7.0, 8.0, 9.0], device="GPU:0") * 5).npvalue()
    np.testing.assert_array_equal(cupy.asnumpy(got), [2.0, 4.0, 6.0])
    with pytest.raises(BufferError, match="copy=False"):
        x.__dlpack__(dl_device=(1, 0), copy=False)  # to the host only as a copy


def test_cuda_array_interface_out():
    import cupy
    dy.renew_cg()
    x = dy.inputTensor(np.arange(6, dtype=np.float32).reshape(2, 3), device="GPU:0") * 1
    cai = x.__cuda_array_interface__
    assert cai["version"] == 3 and cai["typestr"] == "<f4" and cai["shape"] == (2, 3) and cai["strides"] == (4, 8)
    got = cupy.asarray(x)  # holds x, and x holds the pin
    assert got.data.ptr == cai["data"][0]
    dy.renew_cg()
    (dy.inputTensor(np.zeros((2, 3), np.float32), device="GPU:0") * 3).npvalue()
    np.testing.assert_array_equal(cupy.asnumpy(got), np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("order", ["C", "F"])
def test_cupy_array_in(order):
    import cupy
    a = cupy.asarray(cupy.arange(6, dtype=cupy.float32).reshape(2, 3), order=order)
    dy.renew_cg()
    x = dy.inputTensor(a, device="GPU:0")
    np.testing.assert_array_equal(x.npvalue(), cupy.asnumpy(a))
    v = cupy.arange(4, dtype=cupy.float32)
    y = dy.inputTensor(v, device="GPU:0")  # one axis: device to device
    v[0] = 100  # the graph keeps its own copy
    np.testing.assert_array_equal(y.npvalue(), [0.0, 1.0, 2.0, 3.0])


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


@pytest.mark.parametrize("kind", ["treelstm", "rnnlm", "lookups"])
def test_autobatching_on_the_gpu_equals_the_cpu(kind):
    """The autobatching executor on GPU:0 (gather / scatter-add kernels, strided-batched
    cuBLAS, atomic lookup gradients): the CPU's loss, gradients and groups, and far
    fewer launches than the per-node executor (tests/device/test_device_autobatch.py on EMU:0)."""
    from test_device_autobatch import run
    cpu = run(kind, "CPU", True)
    gpu = run(kind, "GPU:0", True)
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-4, atol=1e-5)
    for g, g0 in zip(gpu[1], cpu[1]):
        np.testing.assert_allclose(g, g0, rtol=1e-3, atol=1e-4)
    assert gpu[2] == cpu[2] > 0
    dy.reset_device_launch_stats("GPU:0")
    run(kind, "GPU:0", False)
    per_node = dy.device_launch_stats("GPU:0")["total"]
    dy.reset_device_launch_stats("GPU:0")
    run(kind, "GPU:0", True)
    assert per_node >= 2 * dy.device_launch_stats("GPU:0")["total"]  # EMU:0: 16x, 2.8x, 4.7x

"""Devices: names and errors, inputs and parameters on the emulated device
EMU:0, to_device, values out through npvalue and DLPack, the memory it uses,
and the bump arena behind device memory."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    _core.set_default_device("CPU")
    dy.renew_cg()


def test_device_names():
    assert dy.available_devices()[:2] == ["CPU", "EMU:0"]
    assert _core.device_name(_core.device_id("emu:0")) == "EMU:0"
    assert dy.get_device_info("EMU:0").name == "EMU:0"
    for bad in ("EMU:1", "TPU:0", "GPU:x", "GPU"):
        with pytest.raises(RuntimeError, match="Invalid device name"):
            dy.get_device_info(bad)


@pytest.mark.skipif(_core.have_cuda(), reason="checks the error of a build without CUDA")
def test_gpu_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="needs a CUDA build"):
        dy.inputVector([1.0], device="GPU:0")
    with pytest.raises(ValueError, match="CPU-only"):
        dy.init(device="GPU:0")


def test_init_device_sets_where_inputs_and_parameters_go():
    dy.init(device="EMU:0")
    try:
        pc = dy.ParameterCollection()
        p = pc.add_parameters((2, 3))
        dy.renew_cg()
        x = dy.inputVector([1.0, 2.0, 3.0])
        y = p * x
        assert x.device() == "EMU:0" and y.device() == "EMU:0"
        np.testing.assert_allclose(y.npvalue(), p.as_array() @ np.array([1.0, 2.0, 3.0]), rtol=1e-5)
    finally:
        dy.init(device="CPU")


def test_dynet_devices_flag_picks_the_first_device(monkeypatch):
    from dynagraph import _config
    assert _config._default_device("CPU,EMU:0") == "EMU:0"
    assert _config._default_device("CPU") == "CPU"
    with pytest.raises(ValueError, match="invalid device name"):
        _config._default_device("EMU:7")


def test_mixed_devices_are_refused_at_construction():
    dy.renew_cg()
    a = dy.inputVector([1.0, 2.0], device="EMU:0")
    b = dy.inputVector([3.0, 4.0])
    with pytest.raises(ValueError, match=r"add: arguments live on different devices \(argument 0 on EMU:0, "
                                         r"argument 1 on CPU\)"):
        _ = a + b


def test_op_without_device_kernel_is_refused_at_construction():
    dy.renew_cg()
    x = dy.inputTensor(np.eye(2), device="EMU:0")
    with pytest.raises(ValueError, match="inverse: this op has no kernel on device EMU:0"):
        dy.inverse(x)
    assert dy.inverse(dy.to_device(x, "CPU")).device() == "CPU"  # the way around it


def test_to_device_round_trip_carries_gradients():
    pc = dy.ParameterCollection()
    w = pc.add_parameters((3, 2), init=dy.NumpyInitializer(np.arange(6.0).reshape(3, 2)))
    dy.renew_cg()
    x = dy.inputVector([1.0, -2.0])
    h = dy.tanh(dy.to_device(dy.parameter(w), "EMU:0") * dy.to_device(x, "EMU:0"))
    assert h.device() == "EMU:0"
    loss = dy.sum_elems(dy.to_device(h, "CPU"))
    assert loss.device() == "CPU"
    loss.backward()
    W = np.arange(6.0).reshape(3, 2)
    pre = W @ np.array([1.0, -2.0])
    np.testing.assert_allclose(loss.value(), np.tanh(pre).sum(), rtol=1e-5)
    want = np.outer(1 - np.tanh(pre) ** 2, [1.0, -2.0])
    np.testing.assert_allclose(w.grad_as_array(), want, rtol=1e-4, atol=1e-6)
    assert dy.to_device(x, "CPU") is x  # already there


def test_to_device_between_two_devices_goes_through_the_cpu():
    dy.renew_cg()
    x = dy.inputVector([1.0], device="EMU:0")
    assert dy.to_device(x, "EMU:0") is x


def test_parameters_on_a_device_keep_host_values_and_gradients():
    pc = dy.ParameterCollection()
    p = pc.add_parameters((2, 2), init=dy.NumpyInitializer(np.array([[1.0, 2.0], [3.0, 4.0]])), device="EMU:0")
    E = pc.add_lookup_parameters((4, 2), init=dy.NumpyInitializer(np.arange(8.0).reshape(4, 2)), device="EMU:0")
    dy.renew_cg()
    e = dy.lookup_batch(E, [3, 1, 3])
    y = dy.sum_batches(dy.sum_elems(p * e))
    assert e.device() == "EMU:0" and y.device() == "EMU:0"
    y.backward()
    rows = np.arange(8.0).reshape(4, 2)[[3, 1, 3]]
    P = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(y.value(), (P @ rows.T).sum(), rtol=1e-6)
    np.testing.assert_allclose(p.grad_as_array(), np.ones((2, 1)) @ rows.sum(0, keepdims=True), rtol=1e-6)
    g = E.grad_as_array()
    np.testing.assert_allclose(g[3], 2 * P.sum(0), rtol=1e-6)
    np.testing.assert_allclose(g[1], P.sum(0), rtol=1e-6)
    np.testing.assert_array_equal(g[[0, 2]], 0)


def test_npvalue_value_and_gradient_copy_from_the_device():
    dy.renew_cg()
    a = np.arange(6.0).reshape(2, 3)
    x = dy.inputTensor(a, device="EMU:0")
    y = dy.cmult(x, x)
    np.testing.assert_array_equal(y.npvalue(), a * a)
    s = dy.sum_elems(y)
    assert s.scalar_value() == pytest.approx((a * a).sum())
    assert dy.pick(dy.reshape(x, (6,)), 4).value() == pytest.approx(a.flatten(order="F")[4])
    s.backward(full=True)
    np.testing.assert_array_equal(x.gradient(), 2 * a)


def test_device_memory_is_counted_and_reused():
    dy.renew_cg()
    before = _core.device_memory("EMU:0")["allocated"]
    for _ in range(3):
        dy.renew_cg()
        x = dy.inputTensor(np.ones((64, 64)), device="EMU:0")
        dy.sum_elems(dy.tanh(x * x)).value()
    used = _core.device_memory("EMU:0")
    assert used["graph"] > 0 and used["allocated"] >= used["graph"] >= 64 * 64 * 4
    after_three = used["allocated"]
    dy.renew_cg()
    x = dy.inputTensor(np.ones((64, 64)), device="EMU:0")
    dy.sum_elems(dy.tanh(x * x)).value()
    assert _core.device_memory("EMU:0")["allocated"] == after_three  # the pools were reused, not grown
    assert after_three >= before


def test_device_op_names_lists_the_kernels():
    names = _core.device_op_names("EMU:0").split()
    assert "matmul" in names and "inverse" not in names
    with pytest.raises(ValueError, match="the CPU runs every op"):
        _core.device_op_names("CPU")


# ---- the bump arena (core/arena.h) over a host allocator
def test_arena_bumps_grows_and_resets():
    a = _core._TestArena()  # first chunk 1024 bytes, 256-byte alignment
    p1 = a.allocate(10)
    p2 = a.allocate(300)
    assert p1 % 256 == 0 and p2 == p1 + 256  # a bump past the rounded size
    assert a.used() == 256 + 512 and a.chunks() == 1
    p3 = a.allocate(512)  # does not fit the 1024-byte chunk: a second, larger chunk
    assert a.chunks() == 2 and a.capacity() == 1024 + 2048
    assert not (p1 <= p3 < p1 + 1024)
    big = a.allocate(10000)  # larger than the doubling: a chunk of its own size
    assert a.chunks() == 3 and big % 256 == 0
    assert a.allocator_bytes() == a.capacity()
    a.reset()
    assert a.used() == 0 and a.chunks() == 3  # chunks are kept for the next graph
    assert a.allocate(10) == p1  # and filled again from the first
    assert a.allocator_bytes() == a.capacity()


def test_arena_zero_bytes_still_gets_distinct_memory():
    a = _core._TestArena()
    assert a.allocate(0) != a.allocate(0)


def test_docs_list_exactly_the_device_ops():
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "gpu.md").read_text()
    section = text.split("## Ops with a device kernel")[1].split("Every other op")[0]
    listed = set(re.findall(r"^\* [^:]+: (.*)$", section, re.M))
    names = {n for line in listed for n in re.findall(r"`(\w+)`", line)}
    assert names == set(_core.device_op_names("EMU:0").split())

"""Zero-copy interop: DLPack out (aliasing graph memory that later graphs leave alone),
__cuda_array_interface__ (its dict, on EMU:0's memory), DLPack and CUDA arrays in."""
import ctypes

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

DEVICES = ["CPU", "EMU:0"]
A = np.arange(12.0, dtype=np.float32).reshape(3, 4)


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _value(device, scale=2.0, a=A):
    x = dy.inputTensor(np.stack([a, -a], axis=-1), batched=True, device=device)
    return dy.tanh(x * scale)


@pytest.mark.parametrize("device", DEVICES)
def test_dlpack_aliases_graph_memory(device):
    dy.renew_cg()
    y = _value(device)
    got = np.from_dlpack(y)
    assert got.dtype == np.float32 and got.shape == (3, 4, 2)
    want = np.stack([np.tanh(2 * A), np.tanh(-2 * A)], axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got, y.npvalue())
    again = np.from_dlpack(y)
    assert _address(again) == _address(got) and np.shares_memory(got, again)  # the graph's memory, twice
    assert not np.shares_memory(got, np.from_dlpack(y, copy=True))
    assert np.shares_memory(got, np.from_dlpack(y, copy=False))


@pytest.mark.parametrize("device", DEVICES)
def test_exported_memory_is_not_reused_by_later_graphs(device):
    # Without an export, a graph of the same shapes reuses the same memory ...
    dy.renew_cg()
    first = _address(np.from_dlpack(_value(device)))
    dy.renew_cg()
    kept = np.from_dlpack(_value(device))
    assert _address(kept) == first
    saved = kept.copy()
    # ... with one held, later graphs (that would have reused it) get fresh memory.
    for k in range(3):
        dy.renew_cg()
        z = _value(device, scale=-3.0 - k, a=A + 100)
        z.npvalue()
        assert not np.shares_memory(np.from_dlpack(z), kept)
    np.testing.assert_array_equal(kept, saved)


def test_released_export_frees_its_pinned_chunk():
    dy.renew_cg()
    exported = np.from_dlpack(dy.tanh(dy.inputTensor(np.ones((512, 512), np.float32), device="EMU:0")))
    dy.renew_cg()  # the chunk holding it is handed over to the export
    with_export = _core.device_memory("EMU:0")["allocated"]
    del exported
    assert _core.device_memory("EMU:0")["allocated"] < with_export - 512 * 512 * 4


def test_revert_leaves_exported_memory_alone():
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0, 3.0])
    dy.cg_checkpoint()
    kept = np.from_dlpack(x * 10.0)
    dy.cg_revert()
    for _ in range(3):
        (x * -1.0 + 7.0).npvalue()
    np.testing.assert_array_equal(kept, [10.0, 20.0, 30.0])


def test_parameter_values_export_as_copies():
    dy.renew_cg()
    pc = dy.ParameterCollection()
    W = pc.add_parameters((2, 2), init=1.0)
    w = dy.reshape(W, (4,))  # its value aliases the parameter, which update() changes
    with pytest.raises(BufferError, match="copy=False.*parameter"):
        w.__dlpack__(copy=False)
    got = np.from_dlpack(w)
    dy.sum_elems(w).backward()
    dy.SimpleSGDTrainer(pc, 0.5).update()
    np.testing.assert_array_equal(got, np.ones(4))
    assert not np.allclose(W.as_array(), 1.0)


@pytest.mark.parametrize("device", DEVICES)
def test_dlpack_protocol_arguments(device):
    dy.renew_cg()
    y = _value(device)
    assert y.__dlpack_device__() == (1, 0)  # EMU:0's memory is host memory
    for kwargs in ({}, {"stream": None}, {"stream": -1}, {"max_version": (1, 0)}, {"dl_device": (1, 0)},
                   {"copy": None}):
        assert type(y.__dlpack__(**kwargs)).__name__ == "PyCapsule"
    with pytest.raises(ValueError, match="stream must be None"):
        y.__dlpack__(stream=1)
    with pytest.raises(TypeError, match="stream must be None or an int"):
        y.__dlpack__(stream="default")
    with pytest.raises(BufferError, match=r"to DLPack device \(2, 0\)"):
        y.__dlpack__(dl_device=(2, 0))
    with pytest.raises(TypeError, match="unexpected keyword argument 'copies'"):
        y.__dlpack__(copies=True)


def _read_floats(address: int, n: int) -> np.ndarray:
    return np.frombuffer((ctypes.c_float * n).from_address(address), dtype=np.float32).copy()


def test_cuda_array_interface_dict_and_lifetime_on_emu():
    dy.renew_cg()
    y = _value("EMU:0")
    cai = _core._cuda_array_interface(y)
    assert cai["version"] == 3 and cai["typestr"] == "<f4" and cai["stream"] is None
    assert cai["shape"] == (3, 4, 2) and cai["strides"] == (4, 12, 48)  # column-major, in bytes
    address, read_only = cai["data"]
    assert read_only is False and address == _address(np.from_dlpack(y))
    want = y.npvalue().flatten(order="F")
    np.testing.assert_array_equal(_read_floats(address, 24), want)
    for _ in range(3):  # the dict's memory stays pinned while y (the object it was read from) lives
        dy.renew_cg()
        _value("EMU:0", scale=5.0, a=-A).npvalue()
    np.testing.assert_array_equal(_read_floats(address, 24), want)
    # Only GPU values have the attribute: consumers that probe it take another path.
    dy.renew_cg()
    for device in DEVICES:
        assert not hasattr(dy.inputVector([1.0], device=device), "__cuda_array_interface__")


class _DLPackOnly:
    """Host data reachable only through DLPack (no __array__, no sequence protocol)."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


@pytest.mark.parametrize("device", DEVICES)
def test_input_tensor_reads_a_host_dlpack_object(device):
    dy.renew_cg()
    batch = np.stack([A, 2 * A], axis=-1)
    x = dy.inputTensor(_DLPackOnly(batch), batched=True, device=device)
    assert x.dim() == ((3, 4), 2)
    np.testing.assert_array_equal(x.npvalue(), batch)
    np.testing.assert_array_equal(dy.inputTensor(_DLPackOnly(A), device=device).npvalue(), A)


class _FakeCudaArray:
    def __init__(self, **cai):
        self.__cuda_array_interface__ = cai


def test_input_tensor_checks_cuda_arrays():
    dy.renew_cg()
    host = np.zeros((2, 3), np.float32)
    ok = {"shape": (2, 3), "typestr": "<f4", "data": (_address(host), False), "version": 3}
    with pytest.raises(ValueError, match=r"inputTensor: a CUDA array must be float32.*'<f8'"):
        dy.inputTensor(_FakeCudaArray(**{**ok, "typestr": "<f8"}))
    with pytest.raises(ValueError, match=r"must be contiguous, got shape \(2, 3\) with strides \(24, 8\)"):
        dy.inputTensor(_FakeCudaArray(**ok, strides=(24, 8)))
    with pytest.raises(ValueError, match="has no 'data'"):
        dy.inputTensor(_FakeCudaArray(shape=(2,), typestr="<f4"))
    if not _core.have_cuda():  # host memory is not EMU:0's: it would need the GPU's runtime
        with pytest.raises(ValueError, match="no CUDA"):
            dy.inputTensor(_FakeCudaArray(**ok), device="EMU:0")


@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("batched", [False, True])
def test_input_tensor_of_a_device_array_on_emu(order, batched):
    """EMU:0's own memory described by __cuda_array_interface__ enters an EMU:0 graph as a
    CUDA array does a GPU graph: device to device in column-major order, else converted."""
    dy.renew_cg()
    src = _value("EMU:0") if batched else dy.tanh(dy.inputTensor(A, device="EMU:0"))
    cai = dict(_core._cuda_array_interface(src))
    want = src.npvalue()
    if order == "C":  # the same memory read as a C-ordered array of the reversed shape
        cai["shape"], cai["strides"] = tuple(reversed(cai["shape"])), tuple(reversed(cai["strides"]))
        want = want.transpose()
    x = dy.inputTensor(_FakeCudaArray(**cai), batched=batched, device="EMU:0")
    assert x.device() == "EMU:0"
    np.testing.assert_array_equal(x.npvalue(), want)
    dy.sum_elems(dy.cmult(x, x)).backward(full=True)
    np.testing.assert_allclose(x.gradient(), 2 * want, rtol=1e-6)


def test_device_array_input_is_a_copy_and_cannot_be_set():
    dy.renew_cg()
    src = dy.inputVector([1.0, 2.0, 3.0], device="EMU:0") * 1.0
    x = dy.inputTensor(_FakeCudaArray(**_core._cuda_array_interface(src)), device="EMU:0")
    assert not np.shares_memory(np.from_dlpack(x), np.from_dlpack(src))
    np.testing.assert_array_equal(x.npvalue(), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="made from a device array"):
        x.set([0.0, 0.0, 0.0])

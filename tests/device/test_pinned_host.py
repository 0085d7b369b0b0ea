"""Pinned host memory (docs/memory.md): the pool of host buffers that device
transfers use -- page-locked on a GPU, aligned host memory on EMU:0 and the
CPU, the same pool and counters everywhere. Buffers come back to the pool
when their NumPy array is gone and are handed out again (reuse, counters);
bad shapes and dtypes are clear errors."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import dynagraph as dy

DEV = "EMU:0"


def test_array_is_writable_aligned_and_of_the_asked_shape():
    a = dy.pinned_empty((3, 5), device=DEV)
    assert a.shape == (3, 5) and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % 256 == 0
    a[:] = np.arange(15, dtype=np.float32).reshape(3, 5)
    np.testing.assert_array_equal(a.sum(axis=0), [15, 18, 21, 24, 27])
    b = dy.pinned_empty(7, dtype=np.int64, device=DEV)
    assert b.shape == (7,) and b.dtype == np.int64
    c = dy.pinned_empty((0, 4), device=DEV)
    assert c.size == 0


def test_buffer_is_reused_after_the_array_is_gone():
    dy.trim_pinned_memory(DEV)
    s0 = dy.pinned_memory_stats(DEV)
    assert s0["page_locked"] is False  # EMU:0: aligned host memory, nothing pinned
    assert s0["reserved_bytes"] == s0["in_use_bytes"]
    a = dy.pinned_empty(10_000, device=DEV)   # 40,000 bytes: the 64 KiB size class
    addr = a.ctypes.data
    s1 = dy.pinned_memory_stats(DEV)
    assert s1["allocations"] == s0["allocations"] + 1
    assert s1["in_use_bytes"] == s0["in_use_bytes"] + 65536
    assert s1["reserved_bytes"] == s0["reserved_bytes"] + 65536
    view = a[10:20]
    del a
    gc.collect()
    assert dy.pinned_memory_stats(DEV)["in_use_bytes"] == s1["in_use_bytes"]  # a view keeps the buffer
    del view
    gc.collect()
    s2 = dy.pinned_memory_stats(DEV)
    assert s2["in_use_bytes"] == s0["in_use_bytes"] and s2["releases"] == s0["releases"] + 1
    assert s2["reserved_bytes"] == s1["reserved_bytes"]  # cached, not freed
    b = dy.pinned_empty((100, 120), device=DEV)  # 48,000 bytes: same size class
    assert b.ctypes.data == addr
    s3 = dy.pinned_memory_stats(DEV)
    assert s3["reuses"] == s2["reuses"] + 1 and s3["allocations"] == s2["allocations"]
    assert s3["peak_in_use_bytes"] >= s3["in_use_bytes"]
    c = dy.pinned_empty(10_000, device=DEV)  # the cached buffer is taken: a new one
    assert c.ctypes.data != addr
    assert dy.pinned_memory_stats(DEV)["allocations"] == s3["allocations"] + 1
    del b, c
    gc.collect()
    dy.trim_pinned_memory(DEV)
    s4 = dy.pinned_memory_stats(DEV)
    assert s4["reserved_bytes"] == s4["in_use_bytes"] == s0["in_use_bytes"]
    assert s4["frees"] >= s3["frees"] + 2


def test_pools_are_per_device():
    dy.trim_pinned_memory("CPU")
    before = dy.pinned_memory_stats("CPU")["allocations"]
    a = dy.pinned_empty(5, device=DEV)
    assert dy.pinned_memory_stats("CPU")["allocations"] == before
    del a


def test_many_buffers_stay_distinct():
    arrays = [dy.pinned_empty(1000 + 37 * k, device=DEV) for k in range(40)]
    for k, a in enumerate(arrays):
        a[:] = k
    for k, a in enumerate(arrays):
        assert np.all(a == k)
    del arrays
    gc.collect()


def test_bad_arguments():
    with pytest.raises(ValueError, match="pinned_empty: shape must have sizes >= 0"):
        dy.pinned_empty((3, -1), device=DEV)
    with pytest.raises(TypeError, match="pinned_empty: shape"):
        dy.pinned_empty("big", device=DEV)
    with pytest.raises(TypeError):
        dy.pinned_empty(3, dtype="no-such-dtype", device=DEV)
    with pytest.raises(RuntimeError, match="Invalid device name"):
        dy.pinned_empty(3, device="TPU:0")

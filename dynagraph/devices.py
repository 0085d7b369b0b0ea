"""Computation devices, as DyNet names them ("CPU", "GPU:0", ...), plus the emulated GPU "EMU:0".

Every build has ``"CPU"`` and ``"EMU:0"``: the emulated device runs the CUDA
kernel bodies on the host (docs/gpu.md), so the GPU path runs and is tested
without a GPU. A CUDA build (``DYNAGRAPH_BACKEND=cuda``) adds ``"GPU:i"`` for
each GPU the CUDA runtime sees; ``HAVE_CUDA`` says whether this build has CUDA.
Asking for a GPU without one raises ``RuntimeError`` with DyNet's wording.
"""
from __future__ import annotations

from . import _core
from ._core import Expression

__all__ = ["HAVE_CUDA", "ERRMSG", "DeviceInfo", "available_devices", "get_device_info", "to_device",
           "device_memory_stats", "reset_device_memory_stats", "device_launch_stats",
           "reset_device_launch_stats", "pinned_empty", "pinned_memory_stats", "trim_pinned_memory"]

HAVE_CUDA = bool(_core.have_cuda())
ERRMSG = ("dynagraph was built without GPU support: build with DYNAGRAPH_BACKEND=cuda for 'GPU:0' "
          "(every build has the emulated device 'EMU:0').")


class DeviceInfo:
    """One computation device: ``id`` (index among devices of its type), ``name`` and ``type``."""

    __slots__ = ("id", "name", "type")

    def __init__(self, id: int = 0, name: str = "CPU", type: str = "CPU"):  # noqa: A002 (DyNet's names)
        self.id, self.name, self.type = id, name, type

    def __repr__(self) -> str:
        return f"DeviceInfo(id={self.id}, name={self.name!r}, type={self.type!r})"


def available_devices() -> list:
    """Names of the devices this build can compute on: "CPU", "EMU:0", then "GPU:i" per GPU."""
    return ["CPU", "EMU:0"] + [f"GPU:{i}" for i in range(_core.cuda_device_count())]


def _device_id(name) -> int:
    """The engine's number of a device name; RuntimeError (DyNet's) for an unknown or absent one."""
    if isinstance(name, bytes):
        name = name.decode()
    try:
        return _core.device_id(str(name))
    except ValueError as e:
        raise RuntimeError(f"Invalid device name: {name} ({e})") from None


def _check_device(name) -> str:
    """The canonical name of device ``name`` ("" is the default device); raises RuntimeError if unknown."""
    if name in ("", b""):
        return _core.get_default_device()
    return _core.device_name(_device_id(name))


def get_device_info(name) -> DeviceInfo:
    """The :class:`DeviceInfo` of the device called ``name``."""
    canonical = _check_device(name)
    kind, _, index = canonical.partition(":")
    return DeviceInfo(int(index or 0), canonical, kind)


def to_device(e: Expression, device_str) -> Expression:
    """``e``'s value on device ``device_str`` ("CPU", "EMU:0", "GPU:0"); gradients flow back.

    A value moves between the CPU and one device (or stays on its device); to
    go from one device to another, go through "CPU".
    """
    _device_id(device_str)
    name = device_str.decode() if isinstance(device_str, bytes) else str(device_str)
    if not isinstance(e, Expression):
        e = e.expr(True)  # Parameters / LookupParameters train, as in any other expression function
    if _core.device_name(_core.device_id(name)) == e.device():
        return e
    return _core.to_device(e, name)


def device_memory_stats(device: str = "") -> dict:
    """Counters of the graph's memory on ``device`` (default: the default device) since the last
    :func:`reset_device_memory_stats`: ``budget`` and ``policy`` (``dynagraph.init(device_mem=,
    memory_policy=)``), ``peak_bytes`` (the most the graph held at once), ``in_use_bytes``,
    ``to_host_bytes`` / ``to_device_bytes`` (moved by swapping and refetching), ``swaps_out``,
    ``swaps_in``, ``recomputes``, ``refetches``, ``schedule_ns`` / ``schedule_nodes`` (the
    cost of building the graphs' schedules), ``prefetch`` (``init(prefetch=)``), ``prefetches``
    (copies back issued ahead of their use on the copy stream), ``prefetch_hits`` /
    ``prefetch_stalls`` (arrived before the compute needed them / waited for),
    ``demand_fetches`` (brought back only when needed), ``freed_after_wait`` (allocations that
    waited for a copy-out to finish), ``params_stream`` (some of the device's parameters live
    on the host and stream in), ``params_streaming`` (how many), ``params_resident_bytes``
    (the bytes of those that stay on the device, held in the budget), ``streamed_params``
    (streamed parameter values copied in), ``param_prefetches`` (their first copies in a
    graph issued ahead of their nodes) and ``kept_over_update`` (values swapped rather than
    dropped because ``update()`` changed what they are computed from). docs/memory.md."""
    return dict(_core.device_memory_stats(_check_device(device)))


def reset_device_memory_stats(device: str = "") -> None:
    """Zeroes :func:`device_memory_stats`'s counters for ``device``; the peak restarts from now."""
    _core.reset_device_memory_stats(_check_device(device))


def device_launch_stats(device: str = "") -> dict:
    """What ``device``'s launcher issued since the last :func:`reset_device_launch_stats`:
    ``kernels`` (kernel launches), ``gemms`` (sgemm calls), ``batched_gemms``
    (strided-batched sgemm calls, one however many products), ``copies`` (host<->device and
    within the device) and their ``total``. The CPU has none (ValueError). docs/gpu.md."""
    return dict(_core.device_launch_stats(_check_device(device)))


def reset_device_launch_stats(device: str = "") -> None:
    """Zeroes :func:`device_launch_stats`'s counters for ``device``."""
    _core.reset_device_launch_stats(_check_device(device))


def pinned_empty(shape, dtype="float32", device: str = "") -> "numpy.ndarray":
    """An uninitialised NumPy array (C order) in the pinned host memory of ``device``'s transfers.

    On a GPU the memory is page-locked (``cudaHostAlloc``), so copies between it
    and the GPU run asynchronously on the GPU's copy engine; on "EMU:0" and the
    CPU it is ordinary aligned memory from the same kind of pool. Buffers are
    pooled: when the array (and every view of it) is gone its buffer is kept
    for the next request of its size class. :func:`pinned_memory_stats`.
    """
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = [int(k) for k in shape]
    except (TypeError, ValueError):
        raise TypeError(f"pinned_empty: shape must be an int or a sequence of ints, got {shape!r}") from None
    if any(k < 0 for k in shape):
        raise ValueError(f"pinned_empty: shape must have sizes >= 0, got {tuple(shape)}")
    return _core.pinned_empty(shape, dtype, _check_device(device))


def pinned_memory_stats(device: str = "") -> dict:
    """Counters of ``device``'s pinned host memory pool: ``page_locked`` (True on a GPU),
    ``reserved_bytes`` (held from the system: in use + cached), ``in_use_bytes``,
    ``peak_in_use_bytes``, ``allocations`` (buffers obtained from the system), ``reuses``
    (requests served by a cached buffer), ``releases`` and ``frees`` (buffers given back
    to the system by :func:`trim_pinned_memory`). docs/memory.md."""
    return dict(_core.pinned_memory_stats(_check_device(device)))


def trim_pinned_memory(device: str = "") -> None:
    """Gives ``device``'s cached (unused) pinned host buffers back to the system."""
    _core.trim_pinned_memory(_check_device(device))

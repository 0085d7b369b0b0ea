"""DyNet's less common ways of entering data: column-major raw buffers and sparse tensors.

Both copy their data into the graph now, like ``inputTensor``; the resulting
expressions accept ``Expression.set(values)`` to overwrite that data later.
"""
from __future__ import annotations

import numpy as np

from . import _core, _errors
from ._core import Expression

__all__ = ["inputTensorTranspose", "sparse_inputTensor"]


def _as_shape(dim, fn: str = "inputTensorTranspose", arg: str = "dim") -> tuple:
    return _errors.shape(dim, fn, arg)


def inputTensorTranspose(arr, dim=None, batch_size: int = 1) -> Expression:
    """A tensor from a flat buffer in column-major (DyNet's memory) order.

    arr: a 1-D array or list of ``prod(dim) * batch_size`` numbers.
    dim: the shape of one batch element (default: ``(len(arr),)``).
    batch_size: the number of batch elements, stored one after the other.
    Returns an expression of shape ``dim`` with ``batch_size`` batch elements.
    """
    flat = np.asarray(arr, dtype=np.float32)
    if flat.ndim != 1:
        raise ValueError(f"inputTensorTranspose: expected a 1-D array (a flat column-major view), got shape "
                         f"{flat.shape}")
    shape = (flat.size,) if dim is None else _as_shape(dim)
    batch = _errors.positive(batch_size, "inputTensorTranspose", "batch_size")
    if batch < 1 or any(d < 1 for d in shape):
        raise ValueError(f"inputTensorTranspose: dimensions {shape} and batch size {batch} must be positive")
    if int(np.prod(shape)) * batch != flat.size:
        raise ValueError(f"inputTensorTranspose: dimensions {shape} times batch size {batch} make "
                         f"{int(np.prod(shape)) * batch} values, but the array has {flat.size}")
    return _core.inputTensor(flat.reshape(shape + (batch,), order="F"), batched=True)


def _int_array(ix, axis: int) -> np.ndarray:
    arr = np.asarray(ix)
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"sparse_inputTensor: argument 'idxs' must hold ints, index array {axis} has dtype "
                        f"{arr.dtype}")
    return arr.astype(np.int64).ravel()


def sparse_inputTensor(idxs, values, shape, batched: bool = False, defval: float = 0, device: str = "") -> Expression:
    """A tensor equal to ``defval`` everywhere except at the given coordinates.

    idxs: one integer sequence per axis of ``shape`` (the batch axis included
    when ``batched``), all of the length of ``values``.
    values: the values at those coordinates.
    shape: the full shape; with ``batched=True`` its last axis is the batch.
    """
    from .devices import _check_device
    _check_device(device)
    shape = _as_shape(shape, "sparse_inputTensor", "shape")
    vals = np.asarray(values, dtype=np.float32).ravel()
    idxs = [_int_array(ix, axis) for axis, ix in enumerate(idxs)]
    if len(idxs) != len(shape):
        raise ValueError(f"sparse_inputTensor: {len(idxs)} index arrays for a shape with {len(shape)} axes "
                         f"{shape} (one array per axis is needed)")
    for axis, ix in enumerate(idxs):
        if ix.size != vals.size:
            raise ValueError(f"sparse_inputTensor: index array {axis} has {ix.size} entries but there are "
                             f"{vals.size} values")
        bad = (ix < 0) | (ix >= shape[axis])
        if bad.any():
            raise IndexError(f"sparse_inputTensor: index {int(ix[bad][0])} out of range for axis {axis} of "
                             f"length {shape[axis]}")
    dense = np.full(shape, float(defval), dtype=np.float32)
    dense[tuple(idxs)] = vals
    return _core.inputTensor(dense, batched=bool(batched))

"""Every way of entering data into the graph, in one place.

The common constructors are bound in C++ for speed (``inputTensor``,
``inputVector``, ``inputMatrix``, ``scalarInput``: ``csrc/python/bind_ops_core.cc``)
and re-exported from here; DyNet's other forms are written here on top of
them: zero inputs (``vecInput``, ``matInput``), one-hot vectors, column-major
raw buffers, sparse tensors. All copy their data into the graph now; the
expressions accept ``Expression.set(values)`` to overwrite that data later.
"""
from __future__ import annotations

import numpy as np

from . import _errors
from ._core import Expression, inputMatrix, inputTensor, inputVector, scalarInput
from .devices import _check_device

__all__ = ["inputTensor", "inputVector", "inputMatrix", "scalarInput", "vecInput", "matInput", "one_hot",
           "inputTensorTranspose", "sparse_inputTensor"]


def vecInput(dim: int, device: str = "") -> Expression:
    """A zero vector input of length ``dim`` (DyNet's vecInput)."""
    n = _errors.positive(dim, "vecInput", "dim")
    return inputVector(np.zeros(n, dtype=np.float32), device)


def matInput(d1: int, d2: int) -> Expression:
    """A zero matrix input of shape (d1, d2) (DyNet's matInput)."""
    shape = (_errors.positive(d1, "matInput", "d1"), _errors.positive(d2, "matInput", "d2"))
    return inputTensor(np.zeros(shape, dtype=np.float32))


def one_hot(d: int, idx, device: str = "") -> Expression:
    """One-hot vector(s) of length ``d``: ``idx`` an int, or a list of ints for a batch."""
    _check_device(device)
    d = _errors.positive(d, "one_hot", "d")
    if isinstance(idx, (list, tuple, np.ndarray)) and np.ndim(idx) > 0:
        idx = [_errors.index(i, "one_hot", "idx") for i in idx]
        if not idx:
            raise ValueError("one_hot: argument 'idx' is an empty list (one index per batch element needed)")
        arr = np.zeros((d, len(idx)), dtype=np.float32)
        for b, i in enumerate(idx):
            if not 0 <= i < d:
                raise IndexError(f"one_hot: index {i} out of range for dimension {d}")
            arr[i, b] = 1.0
        return inputTensor(arr, batched=True)
    i = _errors.index(idx, "one_hot", "idx")
    if not 0 <= i < d:
        raise IndexError(f"one_hot: index {i} out of range for dimension {d}")
    v = np.zeros(d, dtype=np.float32)
    v[i] = 1.0
    return inputVector(v)


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
    return inputTensor(flat.reshape(shape + (batch,), order="F"), batched=True)


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
    return inputTensor(dense, batched=bool(batched))


def _sparse_column_major(idxs, v, dim, batch_size: int = 1, defval: float = 0.0) -> Expression:
    """``defval`` everywhere except at the flat column-major positions ``idxs`` (batch
    included): ``ComputationGraph.inputSparseTensor``."""
    where = "ComputationGraph.inputSparseTensor"
    shape = tuple(_as_shape(dim, where)) + (_errors.positive(batch_size, where, "batch_size"),)
    flat = _errors.indices(idxs, where, "idxs")
    total = int(np.prod(shape))
    bad = [i for i in flat if not 0 <= i < total]
    if bad:
        raise IndexError(f"inputSparseTensor: index {bad[0]} out of range for {total} values")
    coords = np.unravel_index(np.asarray(flat, dtype=np.int64), shape, order="F")
    return sparse_inputTensor(coords, v, shape, batched=True, defval=defval)

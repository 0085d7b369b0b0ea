"""Values that leave the graph: ``Tensor``, ``values``/``npvalues`` and DyNet's
small mutable value holders (``FloatValue`` and friends).

A :class:`Tensor` is what ``Expression.tensor_value()`` returns: a copy of one
node's value together with its shape and batch size, with a few reductions
(``argmax``, ``topk``, sampling) that DyNet runs on the device. Here the device
is the CPU, so they run in NumPy.
"""
from __future__ import annotations

import numpy as np

from . import _config, _core
from ._core import Expression

__all__ = ["Tensor", "values", "npvalues", "FloatValue", "FloatVectorValue", "UnsignedValue",
           "UnsignedVectorValue"]


class Tensor:
    """A value with a shape ``(axes...)`` and a batch size, as DyNet's Tensor.

    ``data`` is stored with the batch as an explicit last axis, shape
    ``axes + (batch,)``; :meth:`as_numpy` drops that axis when the batch is 1,
    exactly as ``Expression.npvalue()`` does.
    """

    __slots__ = ("_data", "_axes", "_batch")

    def __init__(self, data, axes=None, batch: int = 1):
        data = np.asarray(data)
        if axes is None:  # a plain array: all of it is one batch element
            axes = data.shape or (1,)
            batch = 1
        axes, batch = tuple(int(a) for a in axes), int(batch)
        self._data = np.array(data, copy=True).reshape(axes + (batch,), order="F")
        self._axes, self._batch = axes, batch

    @classmethod
    def _of(cls, e: Expression, recalculate: bool = False) -> "Tensor":
        axes, batch = e.dim()
        return cls(e.npvalue(recalculate), axes, batch)

    # ---- conversion
    def dim(self) -> tuple:
        """Shape as ``((axes...), batch)``, as ``Expression.dim()``."""
        return self._axes, self._batch

    def as_numpy(self) -> np.ndarray:
        """A copy as a NumPy array: the axes, plus the batch as a last axis if > 1."""
        out = self._data if self._batch > 1 else self._data[..., 0]
        return np.array(out, copy=True)

    def as_list(self) -> list:
        """A flat list of the values in column-major order (batch elements concatenated)."""
        return self._data.ravel(order="F").tolist()

    def __repr__(self) -> str:
        kind = "int" if np.issubdtype(self._data.dtype, np.integer) else "float"
        return f"<dynagraph Tensor:{kind} shape {self._axes} batch {self._batch}>"

    # ---- reductions over one axis, per batch element
    def _axis(self, dim: int, num: int, what: str) -> int:
        dim, num = int(dim), int(num)
        if not 0 <= dim < len(self._axes):
            raise IndexError(f"Tensor.{what}: dim {dim} out of range for a tensor with {len(self._axes)} axes")
        if not 1 <= num <= self._axes[dim]:
            raise ValueError(f"Tensor.{what}: num must be in [1, {self._axes[dim]}], got {num}")
        return dim

    def _result(self, data: np.ndarray, dim: int, num: int) -> "Tensor":
        axes = list(self._axes)
        axes[dim] = num
        return Tensor(data, axes, self._batch)

    def topk(self, dim: int = 0, num: int = 1):
        """The ``num`` largest values along axis ``dim`` and their indices, largest first.

        Returns ``(values, indices)``, two Tensors whose axis ``dim`` has length ``num``.
        """
        dim = self._axis(dim, num, "topk")
        order = np.argsort(-self._data, axis=dim, kind="stable")
        idx = np.take(order, np.arange(num), axis=dim)
        vals = np.take_along_axis(self._data, idx, axis=dim)
        return self._result(vals, dim, num), self._result(idx.astype(np.int64), dim, num)

    def argmax(self, dim: int = 0, num: int = 1) -> "Tensor":
        """Indices of the ``num`` largest values along axis ``dim`` (an int Tensor; axis ``dim`` becomes ``num``)."""
        return self.topk(dim, num)[1]

    def categorical_sample_log_prob(self, dim: int = 0, num: int = 1) -> "Tensor":
        """Samples ``num`` indices along axis ``dim``, reading the values there as log-probabilities."""
        dim = self._axis(dim, 1, "categorical_sample_log_prob")
        num = int(num)
        if num < 1:
            raise ValueError(f"Tensor.categorical_sample_log_prob: num must be >= 1, got {num}")
        logp = np.moveaxis(self._data.astype(np.float64), dim, -1)
        p = np.exp(logp - logp.max(axis=-1, keepdims=True))
        cdf = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
        u = _config.rng().random(cdf.shape[:-1] + (num,))
        idx = np.empty(u.shape, dtype=np.int64)
        for pos in np.ndindex(*cdf.shape[:-1]):
            idx[pos] = np.minimum(np.searchsorted(cdf[pos], u[pos], side="right"), cdf.shape[-1] - 1)
        return self._result(np.moveaxis(idx, -1, dim), dim, num)


def _forward(exps: list, recalculate: bool) -> None:
    _core.forward_all(exps, bool(recalculate))  # recalculate: drops every computed value first


def values(exps, recalculate: bool = False) -> list:
    """``[e.value() for e in exps]``, evaluating them all in one forward pass."""
    exps = list(exps)
    _forward(exps, recalculate)
    return [e.value() for e in exps]


def npvalues(exps, recalculate: bool = False) -> list:
    """``[e.npvalue() for e in exps]``, evaluating them all in one forward pass."""
    exps = list(exps)
    _forward(exps, recalculate)
    return [e.npvalue() for e in exps]


class _Holder:
    """The value holders' common part: one value, kept as ``_convert`` makes it.

    A subclass says what it holds with ``_convert``, which turns what ``set``
    is given into the stored value (and raises on a value it can't hold).
    """

    def __init__(self, val):
        self.set(val)

    def get(self):
        return self._v

    def set(self, val) -> None:
        self._v = self._convert(val)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._v!r})"


def _unsigned(val, where: str) -> int:
    v = int(val)
    if v < 0:
        raise OverflowError(f"{where}: can't hold a negative value ({v})")
    return v


class FloatValue(_Holder):
    """A mutable float (DyNet passes these by reference to C++ code)."""

    def __init__(self, val: float = 0.0):
        super().__init__(val)

    @staticmethod
    def _convert(val) -> float:
        return float(val)


class UnsignedValue(_Holder):
    """A mutable non-negative int."""

    def __init__(self, val: int = 0):
        super().__init__(val)

    @staticmethod
    def _convert(val) -> int:
        return _unsigned(val, "UnsignedValue")


class _VectorHolder(_Holder):
    """A holder of a list; ``get`` returns a copy, so the holder changes only through ``set``."""

    def get(self) -> list:
        return list(self._v)

    def set(self, newval) -> None:
        self._v = self._convert(newval)

    def size(self) -> int:
        return len(self._v)


class FloatVectorValue(_VectorHolder):
    """A mutable list of floats."""

    @staticmethod
    def _convert(val) -> list:
        return [float(x) for x in val]


class UnsignedVectorValue(_VectorHolder):
    """A mutable list of non-negative ints."""

    @staticmethod
    def _convert(val) -> list:
        return [_unsigned(x, "UnsignedVectorValue") for x in val]

"""Parameters' and LookupParameters' methods written in Python (the types and
their storage methods are bound in ``csrc/python/bind_params.cc``).

As in DyNet, where both classes derive from Expression, a parameter stands for
its node in the current graph: ``W.value()``, ``W[0]``, ``W.vindex`` are those of
``dy.parameter(W)``. A lookup table stands for the whole table, a
(row shape..., rows) matrix; ``E[i]`` stays its row lookup.
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._extend import extends
from ._core import Expression
from .values import Tensor


class _StandsForItsNode:
    """What both parameter classes take from their node in the current graph."""

    # NumPy must not take `array + parameter` into an object array (see Expression).
    __array_ufunc__ = None

    def value(self, recalculate: bool = False):
        """Expression.value of this parameter's node in the current graph."""
        return _core.parameter(self).value(recalculate)

    def npvalue(self, recalculate: bool = False) -> np.ndarray:
        """Expression.npvalue of this parameter's node in the current graph."""
        return _core.parameter(self).npvalue(recalculate)

    def scalar_value(self, recalculate: bool = False) -> float:
        """Expression.scalar_value of this parameter's node in the current graph."""
        return _core.parameter(self).scalar_value(recalculate)

    def vec_value(self, recalculate: bool = False) -> list:
        """Expression.vec_value of this parameter's node in the current graph."""
        return _core.parameter(self).vec_value(recalculate)

    def tensor_value(self, recalculate: bool = False) -> Tensor:
        """Expression.tensor_value of this parameter's node in the current graph."""
        return Tensor._of(_core.parameter(self), recalculate)

    def forward(self, recalculate: bool = False) -> None:
        """Expression.forward of this parameter's node in the current graph."""
        _core.parameter(self).forward(recalculate)

    def backward(self, full: bool = False) -> None:
        """Expression.backward of this parameter's node in the current graph."""
        _core.parameter(self).backward(full)

    def gradient(self) -> np.ndarray:
        """Expression.gradient of this parameter's node in the current graph."""
        return _core.parameter(self).gradient()

    @property
    def vindex(self) -> int:
        """The index of this parameter's node in the current graph."""
        return _core.parameter(self).vindex

    @property
    def cg_version(self) -> int:
        """The version of the current graph (where this parameter's node is)."""
        return _core.parameter(self).cg_version

    def write_to_textfile(self, fname: str, key: str = "", append: bool = False) -> None:
        """:meth:`save` under DyNet's other name."""
        self.save(fname, key, append)

    def populate_from_textfile(self, fname: str, key: str = "") -> None:
        """:meth:`populate` under DyNet's other name."""
        self.populate(fname, key)


@extends(_core.Parameters)
class Parameters(_StandsForItsNode):
    def __getitem__(self, key) -> Expression:
        """Indexes this parameter's node as an Expression is indexed (``W[0]``, ``W[:, 1]``)."""
        return _core.parameter(self)[key]


def _row_index(table, row) -> int:
    r, n = int(row), table.shape()[0]
    if not 0 <= r < n:
        raise IndexError(f"row {r} out of range for {table.name()} with {n} rows")
    return r


@extends(_core.LookupParameters)
class LookupParameters(_StandsForItsNode):
    def dim(self) -> tuple:
        """((row shape..., rows), 1): the whole table's expression shape, as DyNet's."""
        return _core.parameter(self).dim()

    def __len__(self) -> int:
        """The number of rows, as DyNet's ``len(lp)``."""
        return self.shape()[0]

    def batch(self, i):
        """The rows ``i`` (a sequence of indices) as one batched expression (``lookup_batch``)."""
        return _core.lookup_batch(self, [int(k) for k in i])

    def rows_as_array(self, rows) -> np.ndarray:
        """The given rows as one array of shape (len(rows), *row_shape)."""
        return np.stack([self.row_as_array(int(r)) for r in rows])

    def _grad_rows(self) -> np.ndarray:
        """The gradient as (rows, *row_shape), a view: no copy of the table."""
        shape = self.shape()
        return self._grad_view().reshape((shape[0],) + tuple(reversed(shape[1:]))).transpose(
            (0,) + tuple(range(len(shape) - 1, 0, -1)))

    def row_grad_as_array(self, row) -> np.ndarray:
        """The gradient of one row, shaped like the row (float64, a copy)."""
        return self._grad_rows()[_row_index(self, row)].astype(np.float64)

    def rows_grad_as_array(self, rows) -> np.ndarray:
        """The gradients of the given rows, one array of shape (len(rows), *row_shape)."""
        return self._grad_rows()[[_row_index(self, r) for r in rows]].astype(np.float64)

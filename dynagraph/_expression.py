"""Expression's methods written in Python (the type and its fast methods are bound
in ``csrc/python/bind_graph.cc`` and ``expr_type.cc``)."""
from __future__ import annotations

import operator

import numpy as np

from . import _core
from ._extend import extends
from .values import Tensor


def _axis_slice(item: slice, n: int, where: str) -> tuple:
    start, stop, step = item.indices(n)
    if step < 1:
        raise ValueError(f"Expression slices need a positive step, got {step}")
    if stop <= start:
        raise ValueError(f"empty slice {item} of {where} (length {n}): expressions cannot be empty")
    return start, stop, step


def _int_index(item, n: int, where: str) -> int:
    try:
        i = operator.index(item)
    except TypeError:
        raise TypeError("Expression indices must be ints, slices or a tuple of them, got "
                        f"{type(item).__name__}") from None
    if not -n <= i < n:
        raise IndexError(f"index {i} out of range for {where} of length {n}")
    return i % n


@extends(_core.Expression)
class Expression:
    # NumPy must not take `array + expression` into an object array of expressions:
    # with this it returns NotImplemented, and Python raises TypeError.
    __array_ufunc__ = None

    def __getitem__(self, key) -> Expression:
        """Indexes the axes of an expression as NumPy does; one index more than the
        expression has axes indexes the batch, as in DyNet.

        An int picks one position and removes that axis (``x[1]`` on a 3x4 matrix is
        its second row, shape (4,)); negative ints count from the end. A slice keeps
        the axis (``x[0:2]`` is shape (2, 4)); steps > 1 are allowed. A tuple indexes
        several axes at once (``x[:, 1]`` is the second column). Every batch element
        is indexed the same way, unless the tuple has an entry for the batch
        (``x[:1, :2, :3]`` on a batch of (10, 10) matrices: the first 3 elements; an
        int there picks one batch element).
        """
        axes, batch = self.dim()
        items = key if isinstance(key, tuple) else (key,)
        batch_item = None
        if len(items) == len(axes) + 1:
            items, batch_item = items[:-1], items[-1]
        elif len(items) > len(axes):
            raise IndexError(f"too many indices ({len(items)}) for an expression of shape {tuple(axes)} "
                             f"and batch size {batch}")
        picks, strides, starts, stops, sliced = [], [], [], [], []
        for axis, item in enumerate(items):
            n = axes[axis]
            if isinstance(item, slice):
                start, stop, step = _axis_slice(item, n, f"axis {axis}")
                if (start, stop, step) != (0, n, 1):
                    sliced.append(axis)
            else:
                picks.append((axis, _int_index(item, n, f"axis {axis}")))
                start, stop, step = 0, n, 1
            strides.append(step)
            starts.append(start)
            stops.append(stop)
        batch_pick = None
        batch_range = (0, batch, 1)
        if isinstance(batch_item, slice):
            batch_range = _axis_slice(batch_item, batch, "the batch")
        elif batch_item is not None:
            batch_pick = _int_index(batch_item, batch, "the batch")
        x = self
        if batch_range != (0, batch, 1):
            strides += [1] * (len(axes) - len(strides)) + [batch_range[2]]
            starts += [0] * (len(axes) - len(starts)) + [batch_range[0]]
            stops += list(axes[len(stops):]) + [batch_range[1]]
            x = _core.strided_select(x, strides, starts, stops)
        elif len(sliced) == 1 and strides[sliced[0]] == 1:
            a = sliced[0]
            x = _core.pick_range(x, starts[a], stops[a], a)
        elif sliced:
            x = _core.strided_select(x, strides, starts, stops)
        for axis, i in reversed(picks):  # highest axis first: lower axis numbers stay valid
            x = _core.pick(x, i, axis)
        if batch_pick is not None:
            x = _core.pick_batch_elem(x, batch_pick)
        return x

    def set(self, values) -> None:
        """New data for an input expression, or new rows for a lookup, in this graph.

        On an input (vecInput, matInput, inputVector, inputTensor): ``values`` is a
        flat list in column-major order (DyNet's memory order), or an array of the
        expression's shape (with the batch as a last axis if > 1). On a lookup
        (``lp[5]``, ``lookup``, ``lookup_batch``): the new row index (a list of them
        for a batched lookup), as in DyNet. Every value computed from it is
        recomputed at the next ``value()``.
        """
        if isinstance(values, np.ndarray) and values.ndim > 1:
            values = values.ravel(order="F")
        elif isinstance(values, (list, tuple)) and values and isinstance(values[0], (list, tuple, np.ndarray)):
            values = np.asarray(values, dtype=np.float32).ravel(order="F")
        _core.set_input_values(self, values)

    def tensor_value(self, recalculate: bool = False) -> Tensor:
        """The value as a :class:`Tensor` (keeps shape and batch size)."""
        return Tensor._of(self, recalculate)

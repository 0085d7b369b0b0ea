"""Expression functions written in Python: exact compositions of engine ops
(no backward of their own) and DyNet's operator conveniences."""
from __future__ import annotations

import operator

import numpy as np

from . import _core, _errors
from ._core import Expression, LookupParameters, Parameters
from .devices import _check_device

__all__ = ["parameter", "const_parameter", "vecInput", "matInput", "one_hot", "colwise_add", "average",
           "parameter_expr",
           "mean_elems", "mean_dim", "mean_batches"]


def _parameters(what: str, params) -> tuple:
    for p in params:
        if not isinstance(p, (Parameters, LookupParameters)):
            raise TypeError(f"{what}: expected Parameters or LookupParameters, got {type(p).__name__}")
    return params


def parameter(*params):
    """Returns its arguments (one, or a tuple), as DyNet 2.2's ``dy.parameter`` does:
    a parameter stands for its node in whatever graph it is used in (a lookup
    table for the whole table), so what this returns stays valid after
    ``renew_cg()``."""
    _parameters("parameter", params)
    return params[0] if len(params) == 1 else params


def const_parameter(*params):
    """The parameters' values as constants of the current graph (no gradient):
    one expression, or a list of them."""
    exprs = [_core.const_parameter(p) for p in _parameters("const_parameter", params)]
    return exprs[0] if len(exprs) == 1 else exprs


def vecInput(dim: int, device: str = "") -> Expression:
    """A zero vector input of length ``dim`` (DyNet's vecInput)."""
    n = _errors.positive(dim, "vecInput", "dim")
    return _core.inputVector(np.zeros(n, dtype=np.float32), device)


def matInput(d1: int, d2: int) -> Expression:
    """A zero matrix input of shape (d1, d2) (DyNet's matInput)."""
    shape = (_errors.positive(d1, "matInput", "d1"), _errors.positive(d2, "matInput", "d2"))
    return _core.inputTensor(np.zeros(shape, dtype=np.float32))


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
        return _core.inputTensor(arr, batched=True)
    i = _errors.index(idx, "one_hot", "idx")
    if not 0 <= i < d:
        raise IndexError(f"one_hot: index {i} out of range for dimension {d}")
    v = np.zeros(d, dtype=np.float32)
    v[i] = 1.0
    return _core.inputVector(v)


def colwise_add(x: Expression, y: Expression) -> Expression:
    """Adds the column vector ``y`` (m,) to every column of ``x`` (m, n)."""
    return x + y


def average(xs) -> Expression:
    """Element-wise mean of a list of expressions of one shape."""
    xs = list(xs)
    if not xs:
        raise ValueError("average: needs at least one expression")
    return _core.esum(xs) * (1.0 / len(xs))


def mean_elems(x: Expression) -> Expression:
    """Mean of all elements of each batch element: shape (1,), batch kept."""
    axes, _ = x.dim()
    return _core.sum_elems(x) * (1.0 / float(np.prod(axes)))


def mean_dim(x: Expression, d, b: bool = False, n: int = 0) -> Expression:
    """Mean over the axes in ``d`` (removed from the shape) and, when ``b``, over the batch.

    ``n > 0`` replaces the divisor (useful with masked, zero-padded inputs), as in DyNet.
    """
    axes = _errors.indices(d, "mean_dim", "d")
    n = _errors.index(n, "mean_dim", "n")
    total = _core.sum_dim(x, axes, b)  # validates the axes
    if n > 0:
        count = n
    else:
        shape, batch = x.dim()
        count = int(np.prod([shape[a] for a in axes])) * (batch if b else 1)
    return total * (1.0 / count)


def mean_batches(x: Expression) -> Expression:
    """Mean over the batch: same shape, batch 1."""
    return _core.sum_batches(x) * (1.0 / x.dim()[1])


def parameter_expr(p: Parameters, update: bool = True) -> Expression:
    """``p.expr(update)``: the node of a Parameters or LookupParameters object."""
    _parameters("parameter_expr", (p,))
    return p.expr(update)


# ---- conveniences on parameters that need no C++ fast path
def _row_index(table: LookupParameters, row) -> int:
    r, n = int(row), table.shape()[0]
    if not 0 <= r < n:
        raise IndexError(f"row {r} out of range for {table.name()} with {n} rows")
    return r


def _install_parameter_methods() -> None:
    def lift(name, what):
        def method(self, *args, **kwargs):
            return getattr(_core.parameter(self), name)(*args, **kwargs)
        method.__name__ = name
        method.__doc__ = f"Expression.{name} of {what} node in the current graph."
        return method

    # As in DyNet, where both classes derive from Expression: a lookup table
    # stands for the whole table, a (row shape..., rows) matrix.
    for name in ("value", "npvalue", "scalar_value", "vec_value", "tensor_value", "forward", "backward",
                 "gradient"):
        if not hasattr(Parameters, name):
            setattr(Parameters, name, lift(name, "this parameter's"))
        if not hasattr(LookupParameters, name):
            setattr(LookupParameters, name, lift(name, "this lookup table's whole-table"))
    LookupParameters.dim = lambda self: _core.parameter(self).dim()
    LookupParameters.dim.__doc__ = "((row shape..., rows), 1): the whole table's expression shape, as DyNet's."

    def _grad_rows(self):  # the gradient as (rows, *row_shape), a view: no copy of the table
        shape = self.shape()
        return self._grad_view().reshape((shape[0],) + tuple(reversed(shape[1:]))).transpose(
            (0,) + tuple(range(len(shape) - 1, 0, -1)))

    def row_grad_as_array(self, row):
        """The gradient of one row, shaped like the row (float64, a copy)."""
        return _grad_rows(self)[_row_index(self, row)].astype(np.float64)

    def rows_grad_as_array(self, rows):
        """The gradients of the given rows, one array of shape (len(rows), *row_shape)."""
        return _grad_rows(self)[[_row_index(self, r) for r in rows]].astype(np.float64)
    LookupParameters.row_grad_as_array = row_grad_as_array
    LookupParameters.rows_grad_as_array = rows_grad_as_array

    base_getitem = LookupParameters.__getitem__

    def lookup_getitem(self, i):
        if isinstance(i, (list, tuple, np.ndarray)):
            return _core.lookup_batch(self, [int(k) for k in i])
        return base_getitem(self, i)
    LookupParameters.__getitem__ = lookup_getitem

    def rows_as_array(self, rows):
        """The given rows as one array of shape (len(rows), *row_shape)."""
        return np.stack([self.row_as_array(int(r)) for r in rows])
    LookupParameters.rows_as_array = rows_as_array
    LookupParameters.batch = lambda self, i: _core.lookup_batch(self, [int(k) for k in i])


_install_parameter_methods()

# NumPy must not take `array + expression` into an object array of expressions:
# with this it returns NotImplemented, and Python raises TypeError.
for _cls in (Expression, Parameters, LookupParameters):
    _cls.__array_ufunc__ = None


# ---- indexing: x[i], x[i:j], x[i:j:k], x[i, j:k, ...] (DyNet's Expression.__getitem__)
def _expression_getitem(self: Expression, key) -> Expression:
    """Indexes the axes of an expression (not the batch) as NumPy does.

    An int picks one position and removes that axis (``x[1]`` on a 3x4 matrix is
    its second row, shape (4,)); negative ints count from the end. A slice keeps
    the axis (``x[0:2]`` is shape (2, 4)); steps > 1 are allowed. A tuple indexes
    several axes at once (``x[:, 1]`` is the second column). Every batch element
    is indexed the same way.
    """
    axes = self.dim()[0]
    items = key if isinstance(key, tuple) else (key,)
    if len(items) > len(axes):
        raise IndexError(f"too many indices ({len(items)}) for an expression of shape {tuple(axes)}")
    picks, strides, starts, stops, sliced = [], [], [], [], []
    for axis, item in enumerate(items):
        n = axes[axis]
        if isinstance(item, slice):
            start, stop, step = item.indices(n)
            if step < 1:
                raise ValueError(f"Expression slices need a positive step, got {step}")
            if stop <= start:
                raise ValueError(f"empty slice {item} of axis {axis} (length {n}): expressions cannot be empty")
            if (start, stop, step) != (0, n, 1):
                sliced.append(axis)
        else:
            try:
                i = operator.index(item)
            except TypeError:
                raise TypeError("Expression indices must be ints, slices or a tuple of them, got "
                                f"{type(item).__name__}") from None
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for axis {axis} of length {n}")
            picks.append((axis, i % n))
            start, stop, step = 0, n, 1
        strides.append(step)
        starts.append(start)
        stops.append(stop)
    x = self
    if len(sliced) == 1 and strides[sliced[0]] == 1:
        a = sliced[0]
        x = _core.pick_range(x, starts[a], stops[a], a)
    elif sliced:
        x = _core.strided_select(x, strides, starts, stops)
    for axis, i in reversed(picks):  # highest axis first: lower axis numbers stay valid
        x = _core.pick(x, i, axis)
    return x


Expression.__getitem__ = _expression_getitem
# A parameter indexes as its node does (DyNet's Parameters is an Expression);
# a lookup table's [i] stays its row lookup.
Parameters.__getitem__ = lambda self, key: _expression_getitem(_core.parameter(self), key)
for _cls in (Parameters, LookupParameters):
    _cls.vindex = property(lambda self: _core.parameter(self).vindex,
                           doc="The index of this parameter's node in the current graph.")
    _cls.cg_version = property(lambda self: _core.parameter(self).cg_version)

"""Expression functions written in Python: exact compositions of engine ops
(no backward of their own) and DyNet's operator conveniences."""
from __future__ import annotations

import operator

import numpy as np

from . import _core
from ._core import Expression, LookupParameters, Parameters

__all__ = ["vecInput", "matInput", "one_hot", "colwise_add", "average", "parameter_expr",
           "mean_elems", "mean_dim", "mean_batches", "sparse_inputTensor", "inputTensorTranspose", "to_device"]


def vecInput(dim: int) -> Expression:
    """A zero vector input of length ``dim`` (DyNet's vecInput)."""
    return _core.inputVector([0.0] * int(dim))


def matInput(d1: int, d2: int) -> Expression:
    """A zero matrix input of shape (d1, d2) (DyNet's matInput)."""
    return _core.inputTensor(np.zeros((int(d1), int(d2)), dtype=np.float32))


def one_hot(d: int, idx, batch_size: int | None = None) -> Expression:
    """One-hot vector(s) of length ``d``: ``idx`` an int, or a list of ints for a batch."""
    if isinstance(idx, (list, tuple, np.ndarray)):
        idx = [int(i) for i in idx]
        arr = np.zeros((d, len(idx)), dtype=np.float32)
        for b, i in enumerate(idx):
            if not 0 <= i < d:
                raise IndexError(f"one_hot: index {i} out of range for dimension {d}")
            arr[i, b] = 1.0
        return _core.inputTensor(arr, batched=True)
    i = int(idx)
    if not 0 <= i < d:
        raise IndexError(f"one_hot: index {i} out of range for dimension {d}")
    v = [0.0] * d
    v[i] = 1.0
    return _core.inputVector(v)


def colwise_add(x: Expression, bias: Expression) -> Expression:
    """Adds the column vector ``bias`` (m,) to every column of ``x`` (m, n)."""
    return x + bias


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
    axes = [int(d)] if isinstance(d, (int, np.integer)) else [int(a) for a in d]
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
    return p.expr(update)


# ---- conveniences on parameters that need no C++ fast path
def _install_parameter_methods() -> None:
    def lift(name):
        def method(self, *args):
            return getattr(_core.parameter(self), name)(*args)
        method.__name__ = name
        method.__doc__ = f"Expression.{name} of this parameter's node in the current graph."
        return method

    for name in ("value", "npvalue", "scalar_value", "vec_value", "forward", "backward", "gradient"):
        if not hasattr(Parameters, name):
            setattr(Parameters, name, lift(name))

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


def _check_device(op: str, device) -> None:
    """This build computes on the CPU only: '' / 'CPU' (any case, optional ':0') are accepted."""
    name = "" if device is None else str(device).strip()
    if name.upper() not in ("", "CPU", "CPU:0"):
        raise ValueError(f"{op}: device {name!r} is not available: this dynagraph build has only the CPU")


def sparse_inputTensor(idxs, values, shape, batched: bool = False, defval: float = 0, device: str = "") -> Expression:
    """An input tensor of ``shape`` equal to ``defval`` except at the listed coordinates.

    ``idxs`` holds one integer sequence per axis of ``shape`` (coordinate k is
    ``(idxs[0][k], idxs[1][k], ...)``) and ``values`` one value per coordinate. With
    ``batched=True`` the last axis of ``shape`` is the batch (as DyNet).
    """
    _check_device("sparse_inputTensor", device)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (list, tuple)) else [shape]))
    idxs = [np.asarray(ix, dtype=np.int64).reshape(-1) for ix in idxs]
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    if len(idxs) != len(shape):
        raise ValueError(f"sparse_inputTensor: {len(idxs)} index arrays for a shape with {len(shape)} axes {shape}")
    for axis, ix in enumerate(idxs):
        if len(ix) != len(values):
            raise ValueError(f"sparse_inputTensor: {len(ix)} indices on axis {axis} but {len(values)} values")
        bad = (ix < 0) | (ix >= shape[axis])
        if bad.any():
            raise IndexError(f"sparse_inputTensor: index {int(ix[bad][0])} out of range for axis {axis} "
                             f"of length {shape[axis]} (shape {shape})")
    arr = np.full(shape, defval, dtype=np.float32)
    arr[tuple(idxs)] = values
    return _core.inputTensor(arr, batched=batched)


def inputTensorTranspose(arr, dim=None, batch_size: int = 1) -> Expression:
    """An input from the flat values ``arr`` read in column-major order into shape ``dim``
    (default: one vector) with ``batch_size`` batch elements (DyNet's inputTensorTranspose)."""
    flat = np.asarray(arr, dtype=np.float32)
    if flat.ndim != 1:
        raise ValueError(f"inputTensorTranspose: arr must be one-dimensional, got shape {flat.shape}")
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"inputTensorTranspose: batch_size must be >= 1, got {batch_size}")
    if dim is None:
        dim = (flat.size // batch_size,)
    dim = tuple(int(d) for d in (dim if isinstance(dim, (list, tuple)) else [dim]))
    if int(np.prod(dim)) * batch_size != flat.size:
        raise ValueError(f"inputTensorTranspose: {flat.size} values do not fill shape {dim} x batch {batch_size}")
    full = dim + ((batch_size,) if batch_size > 1 else ())
    return _core.inputTensor(flat.reshape(full, order="F"), batched=batch_size > 1)


def to_device(e: Expression, device_str: str) -> Expression:
    """``e`` on device ``device_str``. This build is CPU-only: "CPU" returns ``e`` itself;
    any other device raises ValueError."""
    _check_device("to_device", device_str)
    if not str(device_str).strip():
        raise ValueError("to_device: device_str must name a device, e.g. 'CPU'")
    return e

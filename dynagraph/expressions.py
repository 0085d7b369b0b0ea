"""Expression functions written in Python: exact compositions of engine ops
(no backward of their own) and DyNet's operator conveniences."""
from __future__ import annotations

import numpy as np

from . import _core
from ._core import Expression, LookupParameters, Parameters

__all__ = ["vecInput", "matInput", "one_hot", "colwise_add", "average", "parameter_expr"]


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
    LookupParameters.batch = lambda self, i: _core.lookup_batch(self, [int(k) for k in i])


_install_parameter_methods()

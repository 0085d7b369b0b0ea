"""Expression functions written in Python: exact compositions of engine ops
(no backward of their own) and DyNet's operator conveniences."""
from __future__ import annotations

import numpy as np

from . import _core, _errors
from ._core import Expression, LookupParameters, Parameters

__all__ = ["parameter", "const_parameter", "colwise_add", "average",
           "parameter_expr",
           "mean_elems", "mean_dim", "mean_batches"]


def _parameters(what: str, params) -> tuple:
    for p in params:
        if not isinstance(p, (Parameters, LookupParameters)):
            raise TypeError(f"{what}: expected Parameters or LookupParameters, got {type(p).__name__}")
    return params


@_errors.names_itself  # its only error names it; called per use of a parameter in many models
def parameter(*params):
    """Returns its arguments (one, or a tuple), as DyNet 2.2's ``dy.parameter`` does:
    a parameter stands for its node in whatever graph it is used in (a lookup
    table for the whole table), so what this returns stays valid after
    ``renew_cg()``."""
    for p in params:
        if not isinstance(p, (Parameters, LookupParameters)):
            raise TypeError(f"parameter: expected Parameters or LookupParameters, got {type(p).__name__}")
    return params[0] if len(params) == 1 else params


# The same function with its commonest call, one Parameters argument, answered in C
# (csrc/python/fast_calls.cc); every other call runs the function above (``_core._general(parameter)``).
parameter = _core._parameters_front(parameter)


def const_parameter(*params):
    """The parameters' values as constants of the current graph (no gradient):
    one expression, or a list of them."""
    exprs = [_core.const_parameter(p) for p in _parameters("const_parameter", params)]
    return exprs[0] if len(exprs) == 1 else exprs


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
    """The node of ``p`` in the current graph (``update=False``: a constant, no gradient)."""
    _parameters("parameter_expr", (p,))
    return p.expr(update)

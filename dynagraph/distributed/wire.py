"""Parameters on the wire: how values and gradients leave and enter an engine model.

* a Parameters is an array of its shape (``as_array()``'s layout);
* a LookupParameters is a (rows, row_size) array whose rows are the engine's
  flat rows; a gradient of some rows travels as (row indices, (k, row_size)).

Reading and writing go through the engine's zero-copy flat views, so setting a
large table costs one memcpy.
"""
from __future__ import annotations

import numpy as np

__all__ = ["model_params", "get_values", "set_values", "dense_grad", "lookup_grad", "to_user_layout"]


def model_params(pc) -> tuple[dict, dict]:
    """(name -> Parameters, name -> LookupParameters) of a ParameterCollection."""
    return ({p.name(): p for p in pc.parameters_list()}, {p.name(): p for p in pc.lookup_parameters_list()})


def _dense_view(p) -> np.ndarray:
    return p._values_view().reshape(p.shape(), order="F")


def _lookup_view(p) -> np.ndarray:
    rows = p.shape()[0]
    return p._values_view().reshape(rows, -1)


def get_values(pc) -> dict:
    dense, lookups = model_params(pc)
    out = {n: _dense_view(p).copy() for n, p in dense.items()}
    out.update({n: _lookup_view(p).copy() for n, p in lookups.items()})
    return out


def set_values(pc, values: dict, params=None) -> None:
    """Copy wire-layout values into the model (names not in ``values`` are left alone)."""
    dense, lookups = params or model_params(pc)
    for name, v in values.items():
        if name in dense:
            _dense_view(dense[name])[...] = v
        elif name in lookups:
            _lookup_view(lookups[name])[...] = v


def dense_grad(p) -> np.ndarray:
    # order="F": the engine's column-major layout, so writing it back (a server, a replica) is a plain copy
    return p._grad_view().reshape(p.shape(), order="F").copy(order="F")


def lookup_grad(p):
    """(rows, values) of the touched rows, or None when no row has a gradient."""
    rows = p._touched_rows()
    if not rows:
        return None
    rows = np.asarray(sorted(rows), dtype=np.int64)
    g = p._grad_view().reshape(p.shape()[0], -1)
    return rows, g[rows].copy()


def to_user_layout(pc, values: dict) -> dict:
    """Wire layout -> ``pc.to_dict()`` layout (lookup rows reshaped to their row shape)."""
    dense, lookups = model_params(pc)
    out = {}
    for name, v in values.items():
        if name in lookups:
            shape = lookups[name].shape()
            out[name] = v.reshape((shape[0],) + tuple(reversed(shape[1:]))).transpose(
                (0,) + tuple(range(len(shape) - 1, 0, -1)))
        else:
            out[name] = v
    return out


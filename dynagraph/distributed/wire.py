"""Parameters on the wire: how values and gradients leave and enter an engine model.

* a Parameters is an array of its shape (``as_array()``'s layout);
* a LookupParameters is a (rows, row_size) array whose rows are the engine's
  flat rows; a gradient of some rows travels as (row indices, (k, row_size)).

Reading and writing go through the engine's zero-copy flat views, so setting a
large table costs one memcpy. Gradients leave through each parameter's host
staging buffer (``_core.stage_grad``: one copy from the device, or from host
memory, into a buffer reused every iteration); ``dense_grad`` returns a view of
that buffer, valid until the parameter's next ``dense_grad``, so whatever keeps
a gradient longer (a push log, an in-process server) keeps ``detached`` copies.
"""
from __future__ import annotations

import numpy as np

__all__ = ["model_params", "get_values", "set_values", "dense_grad", "lookup_grad", "detached", "to_user_layout"]


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
    """p's gradient in its shape: a column-major view of p's staging buffer (the engine's
    layout, so writing it back on a server or a replica is a plain copy)."""
    from dynagraph import _core

    return _core.stage_grad(p).reshape(p.shape(), order="F")


def lookup_grad(p):
    """(rows, values) of the touched rows, or None when no row has a gradient. A table on
    a device comes through its staging buffer; on the CPU the rows are read in place."""
    from dynagraph import _core

    rows = p._touched_rows()
    if not rows:
        return None
    rows = np.asarray(sorted(rows), dtype=np.int64)
    flat = _core.stage_grad(p) if p._device != "CPU" else p._grad_view()
    return rows, flat.reshape(p.shape()[0], -1)[rows]  # indexing copies the rows


def detached(grads: dict) -> dict:
    """``grads`` with every array that is a view (a staging buffer) copied."""
    return {n: g.copy(order="K") if isinstance(g, np.ndarray) and not g.flags.owndata else g
            for n, g in grads.items()}


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


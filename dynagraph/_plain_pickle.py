"""Unpickling plain data only: numbers, strings, containers and NumPy arrays.

Unpickling calls whatever a pickle names; this unpickler lets a pickle name
only the constructors of plain data, each checked so that a file cannot make
it allocate what the file merely announces. Anything else is refused with an
error naming it (subclasses may allow more through :meth:`find_other`).
"""
from __future__ import annotations

import _compat_pickle
import pickle

_PLAIN = {("builtins", n) for n in ("set", "frozenset", "complex", "slice", "range")} | {
    (m, "scalar") for m in ("numpy.core.multiarray", "numpy._core.multiarray")} | {
    # protocol 5's arrays: a view of bytes the file holds, reshaped (sizes must agree)
    (m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")} | {
    ("numpy", "ndarray"), ("numpy", "dtype")}
_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}


def _bytearray(*args):
    if args and not isinstance(args[0], (bytes, str)):  # bytearray(n) would allocate n bytes the file chose
        raise pickle.UnpicklingError(f"bytearray{args!r}: a pickle here may hold bytearrays of bytes only")
    return bytearray(*args)


def _latin1_bytes(text, encoding="latin1"):
    """How protocols 2 and lower store bytes: _codecs.encode(text, 'latin1')."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode{(text, encoding)!r}: not how a pickle stores bytes")
    return text.encode("latin1")


def _reconstruct(subtype, shape, dtype):
    import numpy as np
    if subtype is not np.ndarray or tuple(shape) != (0,):  # NumPy pickles empty shells, then their data
        raise pickle.UnpicklingError(f"numpy _reconstruct{(subtype, shape, dtype)!r}: not how NumPy pickles an array")
    return np.ndarray.__new__(np.ndarray, (0,), dtype)


class PlainDataUnpickler(pickle.Unpickler):
    what = "this pickle"

    def find_class(self, module, name):
        # Python 2's names (protocols 0-2 write them) for what they are in Python 3
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) == ("builtins", "bytearray"):
            return _bytearray
        if (module, name) in _RECONSTRUCT:
            return _reconstruct
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if (module, name) in _PLAIN:
            return super().find_class(module, name)
        return self.find_other(module, name)

    def find_other(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: {self.what} may hold plain data only "
                                     "(numbers, strings, containers, NumPy arrays)")

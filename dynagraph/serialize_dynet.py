"""Reading models that DyNet's own ``dy.save`` wrote, so that a model trained with
DyNet loads here with ``dy.load`` unchanged.

DyNet's ``basename.meta`` is a stream of pickles, one per saved object:
``("Parameters", name)``, ``("LookupParameters", name)``, or ``(class, spec,
collection name)`` for builders and user objects; ``basename.data`` holds the
values in DyNet's text format, keyed by those names. DyNet's builder classes
(pickled as ``_dynet.<Name>``) map to dynagraph's classes of the same name,
whose specs and parameter orders are DyNet's.

Unpickling runs code named by the file, so only what such a file needs may be
named: DyNet's builders, classes with a ``from_spec`` (the user objects DyNet
saves) from modules the program has already imported, and plain data
(numbers, strings, tuples, lists, dicts, sets, NumPy arrays). Anything else is
refused with an error naming it.
"""
from __future__ import annotations

import pickle
import sys

PICKLE_START = 0x80  # the protocol opcode every pickle (protocol >= 2) starts with

# DyNet's builders and what the names in its pickles stand for here.
_DYNET_CLASSES = ("SimpleRNNBuilder", "GRUBuilder", "LSTMBuilder", "VanillaLSTMBuilder",
                  "CompactVanillaLSTMBuilder", "CoupledLSTMBuilder", "FastLSTMBuilder",
                  "SparseLSTMBuilder", "BiRNNBuilder")
_PLAIN_DATA = {("builtins", n) for n in ("set", "frozenset", "complex", "slice", "range", "bytearray")} | {
    (m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")} | {
    ("numpy", "ndarray"), ("numpy", "dtype")}


def is_dynet_meta(meta_path: str) -> bool:
    with open(meta_path, "rb") as f:
        first = f.read(1)
    return bool(first) and first[0] == PICKLE_START


class _MetaUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module in ("_dynet", "dynet") and name in _DYNET_CLASSES:
            import dynagraph
            return getattr(dynagraph, name)
        if (module, name) in _PLAIN_DATA:
            return super().find_class(module, name)
        if module not in sys.modules:  # importing it would run its code: the program imports it first
            raise pickle.UnpicklingError(f"{module}.{name}: import {module} before dy.load (the file names it)")
        found = super().find_class(module, name)
        if isinstance(found, type) and callable(getattr(found, "from_spec", None)):
            return found
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a DyNet .meta file may name DyNet's builders, classes "
            "with from_spec(spec, model) and plain data only")


def load_dynet(meta_path: str, data_path: str, params):
    """Yields the objects of a DyNet save, created in ``params`` with the saved values."""
    with open(meta_path, "rb") as f:
        i = 0
        while True:
            try:  # one unpickler per object: each pickle numbers its memo from 0
                entry = _MetaUnpickler(f).load()
            except EOFError:
                return
            except (pickle.UnpicklingError, AttributeError, ImportError, ValueError) as exc:
                raise ValueError(f"{meta_path}: object {i}: {exc}") from None
            if not isinstance(entry, tuple) or len(entry) not in (2, 3):
                raise ValueError(f"{meta_path}: object {i}: not a DyNet save entry: {entry!r}")
            if entry[0] == "Parameters":
                yield params.load_param(data_path, entry[1])
            elif entry[0] == "LookupParameters":
                yield params.load_lookup_param(data_path, entry[1])
            else:
                cls, spec, name = entry
                obj = cls.from_spec(spec, params)
                obj.param_collection().populate(data_path, name)
                yield obj
            i += 1

"""DyNet's own save format, both ways: reading what DyNet's ``dy.save`` wrote (a
model trained with DyNet loads here with ``dy.load`` unchanged), and writing it
(``dy.save(basename, objects, format="dynet")``), so a model trained here loads
in a DyNet deployment with DyNet's ``dy.load``.

DyNet's ``basename.meta`` is a stream of pickles, one per saved object:
``("Parameters", name)``, ``("LookupParameters", name)``, or ``(class, spec,
collection name)`` for builders and user objects; ``basename.data`` holds the
values in DyNet's text format, keyed by those names. DyNet's builder classes
(pickled as ``_dynet.<Name>``) map to dynagraph's classes of the same name,
whose specs and parameter orders are DyNet's.

Writing pickles only names: dynagraph's builders are written as DyNet's
(``_dynet.<Name>``), so DyNet's loader finds its own classes. Unpickling runs
code named by the file, so only what such a file needs may be
named: DyNet's builders, classes with a ``from_spec`` (the user objects DyNet
saves) from modules the program has already imported, and plain data
(numbers, strings, tuples, lists, dicts, sets, NumPy arrays). Anything else is
refused with an error naming it. A spec cannot make ``from_spec`` allocate
more values than the data file holds for that object.
"""
from __future__ import annotations

import io
import os
import pickle
import sys
import tempfile

from . import _core
from ._plain_pickle import PlainDataUnpickler
from .params import allocation_budget

PICKLE_START = 0x80  # the protocol opcode every pickle (protocol >= 2) starts with

# DyNet's builders and what the names in its pickles stand for here.
_DYNET_CLASSES = ("SimpleRNNBuilder", "GRUBuilder", "LSTMBuilder", "VanillaLSTMBuilder",
                  "CompactVanillaLSTMBuilder", "CoupledLSTMBuilder", "FastLSTMBuilder",
                  "SparseLSTMBuilder", "BiRNNBuilder")


def is_dynet_meta(meta_path: str) -> bool:
    with open(meta_path, "rb") as f:
        first = f.read(1)
    return bool(first) and first[0] == PICKLE_START


class _Named:
    """A class the file names (DyNet pickles builders by reference): the file
    may name it, never call it."""

    def __init__(self, cls):
        self.cls = cls

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError(f"refusing to call {self.cls.__module__}.{self.cls.__qualname__}: classes in a "
                                     "DyNet .meta file may only be named, not called")


class _MetaUnpickler(PlainDataUnpickler):
    def find_other(self, module, name):
        if module in ("_dynet", "dynet") and name in _DYNET_CLASSES:
            import dynagraph
            return _Named(getattr(dynagraph, name))
        if module not in sys.modules:  # importing it would run its code: the program imports it first
            raise pickle.UnpicklingError(f"{module}.{name}: import {module} before dy.load (the file names it)")
        found = pickle.Unpickler.find_class(self, module, name)
        if isinstance(found, type) and callable(getattr(found, "from_spec", None)):
            return _Named(found)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a DyNet .meta file may name DyNet's builders, classes "
            "with from_spec(spec, model) and plain data only")


def _unwrap(value):
    """The spec with each named class in place of its reference."""
    if isinstance(value, _Named):
        return value.cls
    if type(value) in (tuple, list):
        return type(value)(_unwrap(v) for v in value)
    if type(value) is dict:
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def load_dynet(meta_path: str, data_path: str, params):
    """Yields the objects of a DyNet save, created in ``params`` with the saved values."""
    saved = _core._saved_entries(data_path)
    with open(meta_path, "rb") as f:
        i = 0
        while True:
            try:  # one unpickler per object: each pickle numbers its memo from 0
                entry = _MetaUnpickler(f).load()
            except EOFError:
                return
            except (pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError, IndexError,
                    KeyError, MemoryError, RecursionError) as exc:
                raise ValueError(f"{meta_path}: object {i}: {exc}") from None
            if not isinstance(entry, tuple) or len(entry) not in (2, 3):
                raise ValueError(f"{meta_path}: object {i}: not a DyNet save entry: {entry!r}")
            entry = _unwrap(entry)
            if len(entry) == 2 and not all(isinstance(x, str) for x in entry):
                raise ValueError(f"{meta_path}: object {i}: not a DyNet save entry: {entry!r}")
            if entry[0] == "Parameters":
                yield params.load_param(data_path, entry[1])
            elif entry[0] == "LookupParameters":
                yield params.load_lookup_param(data_path, entry[1])
            else:
                cls, spec, name = entry
                if not isinstance(cls, type):
                    raise ValueError(f"{meta_path}: object {i}: not a DyNet save entry: {entry!r}")
                if not isinstance(name, str):
                    raise ValueError(f"{meta_path}: object {i}: collection name {name!r} is not a string")
                budget = sum(count for _, entry_name, _, count in saved if entry_name.startswith(name))
                with allocation_budget(budget, f"{meta_path}: object {i} (data file {data_path})"):
                    obj = cls.from_spec(spec, params)
                obj.param_collection().populate(data_path, name)
                yield obj
            i += 1


# ---- writing
class _DynetPickler(pickle._Pickler):  # the Python pickler: its save_global can be overridden
    """Pickles dynagraph's builder classes under DyNet's names (``_dynet.<Name>``)."""

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", "") or ""
        if module == "dynagraph" or module.startswith("dynagraph."):
            name = getattr(obj, "__name__", "")
            if name not in _DYNET_CLASSES:
                raise pickle.PicklingError(
                    f"dy.save(format='dynet'): {module}.{name} has no DyNet counterpart; DyNet could not load it "
                    "(save it with the default format)")
            self.write(pickle.GLOBAL + b"_dynet\n" + name.encode("ascii") + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def _pickled(entry, i: int) -> bytes:
    buf = io.BytesIO()
    try:
        _DynetPickler(buf, protocol=2).dump(entry)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise TypeError(f"dy.save(format='dynet'): object {i}: {exc}") from None
    return buf.getvalue()


def save_dynet(basename: str, objects) -> None:
    """Writes ``objects`` as DyNet's ``dy.save`` does: ``basename.meta`` a pickle per
    object, ``basename.data`` the values in DyNet's text format under the objects'
    own names. Both files are written to temporary files first and then renamed,
    so a failed save leaves any earlier files in place."""
    from ._core import LookupParameters, Parameters
    basename = os.fspath(basename)
    folder = os.path.dirname(os.path.abspath(basename))
    temps = []
    try:
        for ext in (".data", ".meta"):
            fd, tmp = tempfile.mkstemp(prefix=os.path.basename(basename) + ext + ".", dir=folder)
            os.close(fd)
            temps.append(tmp)
        data_tmp, meta_tmp = temps
        with open(meta_tmp, "wb") as meta:
            for i, obj in enumerate(objects):
                if isinstance(obj, Parameters):
                    meta.write(_pickled(("Parameters", obj.name()), i))
                    obj.save(data_tmp, "", True)
                elif isinstance(obj, LookupParameters):
                    meta.write(_pickled(("LookupParameters", obj.name()), i))
                    obj.save(data_tmp, "", True)
                else:
                    for attr in ("spec", "param_collection", "from_spec"):
                        if not hasattr(obj, attr):
                            raise TypeError(f"dy.save: object {i} ({type(obj).__name__}) has no {attr}: saved "
                                            "objects are Parameters, LookupParameters or have spec, "
                                            "param_collection() and from_spec()")
                    pc = obj.param_collection()
                    meta.write(_pickled((type(obj), obj.spec, pc.name()), i))
                    pc.save(data_tmp, "", True)
        mask = os.umask(0)
        os.umask(mask)
        for tmp in temps:  # mkstemp makes 0600 files; give them the usual mode
            os.chmod(tmp, 0o666 & ~mask)
        os.replace(data_tmp, basename + ".data")
        os.replace(meta_tmp, basename + ".meta")
    except BaseException:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise

"""DyNet's ``dy.save(basename, objects)`` / ``dy.load(basename, params)``.

Saved objects are Parameters, LookupParameters, builders, and user objects
that follow DyNet's protocol: a ``spec`` attribute, a ``param_collection()``
method and a static ``from_spec(spec, model)`` that re-creates the object
(with fresh parameters) inside ``model``.

Two files are written, each atomically (temporary file + ``os.replace``):

* ``basename.data``: the values, in DyNet's text format (one block per object,
  keyed ``/obj<i>``), via ``ParameterCollection.save``;
* ``basename.meta``: JSON with each object's kind, class and spec, and the
  SHA-256 of the data file, so a data file that does not belong to the meta
  file (or was truncated) is detected.

Specs may hold numbers, strings, None, tuples, lists, dicts with string keys,
and classes or functions (stored by module and name, imported on load).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile

import numpy as np

from . import _core
from .params import NumpyInitializer, ParameterCollection
from .serialize_dynet import is_dynet_meta, load_dynet

__all__ = ["save", "load"]

_FORMAT = "dynagraph-save-1"


# ---- spec <-> JSON
def _encode(value, where: str):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"dy.save: {where}: dict keys in a spec must be strings")
        return {"__dict__": {k: _encode(v, where) for k, v in value.items()}}
    if isinstance(value, type) or callable(value):
        ref = _reference(value)
        if ref is not None:
            return {"__ref__": ref}
    raise TypeError(f"dy.save: {where}: cannot store {type(value).__name__} {value!r} in a spec "
                    "(use numbers, strings, tuples, lists, dicts, classes or module-level functions)")


def _reference(value):
    """``module:qualname`` that imports back to ``value`` itself, or None."""
    import dynagraph
    name = getattr(value, "__name__", None)
    if name and getattr(dynagraph, name, None) is value:      # engine functions: dy.tanh, ...
        return f"dynagraph:{name}"
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    try:
        ok = _resolve(f"{module}:{qualname}") is value
    except (ImportError, AttributeError):
        ok = False
    return f"{module}:{qualname}" if ok else None


def _resolve(ref: str):
    module, _, qualname = ref.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: _decode(v) for k, v in value["__dict__"].items()}
        if "__ref__" in value:
            return _resolve(value["__ref__"])
        raise ValueError(f"unknown spec entry {value!r}")
    return value


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- saving
def _save_one(obj, i: int, data_tmp: str, append: bool) -> dict:
    key = f"/obj{i}"
    if isinstance(obj, _core.Parameters):
        tmp_pc = ParameterCollection()
        tmp_pc.add_parameters(obj.shape(), init=NumpyInitializer(obj.as_array()))
        tmp_pc.save(data_tmp, key, append)
        return {"kind": "parameters", "shape": list(obj.shape()), "name": obj.name()}
    if isinstance(obj, _core.LookupParameters):
        tmp_pc = ParameterCollection()
        tmp_pc.lookup_parameters_from_numpy(obj.as_array())
        tmp_pc.save(data_tmp, key, append)
        return {"kind": "lookup", "shape": list(obj.as_array().shape), "name": obj.name()}
    for attr in ("spec", "param_collection"):
        if not hasattr(obj, attr):
            raise TypeError(f"dy.save: object {i} ({type(obj).__name__}) has no {attr}: saved objects are "
                            "Parameters, LookupParameters or have spec, param_collection() and from_spec()")
    cls = type(obj)
    if not hasattr(cls, "from_spec"):
        raise TypeError(f"dy.save: object {i} ({cls.__name__}) has no static from_spec(spec, model)")
    pc = obj.param_collection()
    pc.save(data_tmp, key, append)
    return {"kind": "object", "class": f"{cls.__module__}:{cls.__qualname__}",
            "spec": _encode(obj.spec, f"object {i} ({cls.__name__})")}


def save(basename: str, objects) -> None:
    """Saves ``objects`` (a list) to ``basename.data`` and ``basename.meta``."""
    basename = os.fspath(basename)
    objects = list(objects)
    folder = os.path.dirname(os.path.abspath(basename))
    fd, data_tmp = tempfile.mkstemp(prefix=os.path.basename(basename) + ".data.", dir=folder)
    os.close(fd)
    meta_tmp = None
    try:
        entries = [_save_one(obj, i, data_tmp, append=i > 0) for i, obj in enumerate(objects)]
        if not objects:
            open(data_tmp, "w").close()
        meta = {"format": _FORMAT, "data_sha256": _sha256(data_tmp), "objects": entries}
        fd, meta_tmp = tempfile.mkstemp(prefix=os.path.basename(basename) + ".meta.", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        for tmp in (data_tmp, meta_tmp):  # mkstemp makes 0600 files; give them the usual mode
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(data_tmp, basename + ".data")
        os.replace(meta_tmp, basename + ".meta")
    except BaseException:
        for tmp in (data_tmp, meta_tmp):
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
        raise


# ---- loading
def _read_meta(meta_path: str) -> dict:
    with open(meta_path, "rb") as f:
        raw = f.read()
    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{meta_path}: not a dynagraph meta file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path}: corrupt or truncated meta file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or not isinstance(meta.get("objects"), list):
        raise ValueError(f"{meta_path}: not a dynagraph save file (format {_FORMAT!r} expected)")
    return meta


def load(basename: str, params) -> list:
    """Re-creates the objects saved under ``basename`` inside ``params`` (a
    ParameterCollection), sets their values and returns them in order. Files
    written by DyNet's own ``dy.save`` load too (see :mod:`.serialize_dynet`)."""
    basename = os.fspath(basename)
    meta_path, data_path = basename + ".meta", basename + ".data"
    if not os.path.exists(data_path) and os.path.exists(meta_path):
        raise FileNotFoundError(f"{data_path}: data file missing (meta file {meta_path} exists)")
    if is_dynet_meta(meta_path):
        return list(load_dynet(meta_path, data_path, params))
    meta = _read_meta(meta_path)
    if _sha256(data_path) != meta.get("data_sha256"):
        raise ValueError(f"{data_path}: corrupt or truncated, or not the data file written with {meta_path}")
    out = []
    for i, entry in enumerate(meta["objects"]):
        key = f"/obj{i}/"
        try:
            kind = entry["kind"]
            if kind == "parameters":
                obj = params.add_parameters(tuple(entry["shape"]))
                obj.populate(data_path, key + "_0")
            elif kind == "lookup":
                obj = params.add_lookup_parameters(tuple(entry["shape"]))
                obj.populate(data_path, key + "_0")
            elif kind == "object":
                cls = _resolve(entry["class"])
                obj = cls.from_spec(_decode(entry["spec"]), params)
                obj.param_collection().populate(data_path, key)
            else:
                raise ValueError(f"unknown object kind {kind!r}")
        except (KeyError, TypeError, AttributeError, ImportError) as exc:
            raise ValueError(f"{meta_path}: bad entry for object {i}: {exc!r}") from None
        out.append(obj)
    return out

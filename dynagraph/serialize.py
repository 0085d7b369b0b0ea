"""DyNet's ``dy.save(basename, objects)`` / ``dy.load(basename, params)``.

Saved objects are Parameters, LookupParameters, builders, and user objects
that follow DyNet's protocol: a ``spec`` attribute, a ``param_collection()``
method and a static ``from_spec(spec, model)`` that re-creates the object
(with fresh parameters) inside ``model``.

Two files are written:

* ``basename.data.<16 hex digits>``: the values, in DyNet's text format (one
  block per object, keyed ``/obj<i>``); each save writes a new one;
* ``basename.meta``: JSON with each object's kind, class and spec, the name of
  the data file and its SHA-256, so a data file that does not belong to the
  meta file (or was truncated) is detected.

The meta file is renamed into place last, so the pair switches atomically: a
crash at any point leaves the old model or the new one loadable. The data file
the meta file named before is removed after the switch; concurrent saves to one
basename serialise that switch with a lock on the folder, and the next save
removes what a killed one left behind. Files written before this layout
(``basename.data`` beside a meta file that names no data file) still load.

A file is data: loading never imports a module or calls a function the file
names. Specs may hold numbers, strings, None, tuples, lists, dicts with string
keys, and classes or functions, stored by ``module:name`` and resolved on load
only among dynagraph's own builders and expression functions, the classes and
functions passed as ``dy.load(..., classes=[...])``, and those decorated with
:func:`saveable`.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets

import numpy as np

from . import _core
from ._safe_files import (check_path, create_locked_temp, fsync_folder, remove_stale_temporaries)
from .params import allocation_budget
from .serialize_dynet import is_dynet_meta, load_dynet, save_dynet

__all__ = ["save", "load", "saveable"]

_FORMAT = "dynagraph-save-1"
_REGISTERED: dict = {}  # "module:qualname" -> class or function, filled by @saveable


def _name_of(obj) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def saveable(obj):
    """Decorator: lets :func:`load` re-create the class (one with ``from_spec``)
    or pass the function on in specs, without naming it in ``classes=``.

    >>> @dy.saveable
    ... class MyModel:
    ...     ...
    """
    if not (isinstance(obj, type) or callable(obj)) or not hasattr(obj, "__qualname__"):
        raise TypeError(f"saveable: expected a class or a function, got {obj!r}")
    _REGISTERED[_name_of(obj)] = obj
    return obj


# ---- what a file may name
def _dynagraph_names() -> dict:
    """dynagraph's own classes with ``from_spec`` and its expression functions,
    under every name a save may have written for them."""
    import dynagraph
    from . import expressions
    out = {}
    for name in set(dynagraph.__all__):
        obj = getattr(dynagraph, name, None)
        if isinstance(obj, type) and callable(getattr(obj, "from_spec", None)):
            out[f"dynagraph:{name}"] = out[_name_of(obj)] = obj
        elif name in dynagraph._ENGINE_FUNCTIONS or name in expressions.__all__:
            out[f"dynagraph:{name}"] = obj
    return out


def _known_names(classes, func: str) -> dict:
    """Every name a file may use, mapped to what it stands for. A user class or
    function is also found by its qualified name alone when that is unambiguous
    (a model saved by a script, ``__main__:Model``, loads where ``Model`` lives in
    a module): only what the caller listed or registered can be found that way."""
    if isinstance(classes, type) or callable(classes):
        classes = [classes]
    if isinstance(classes, (str, bytes)):
        raise TypeError(f"{func}: classes must be a list of classes and functions, got {classes!r}")
    users = dict(_REGISTERED)
    for c in classes:
        if not (isinstance(c, type) or callable(c)) or not hasattr(c, "__qualname__"):
            raise TypeError(f"{func}: classes must hold classes or functions, got {c!r}")
        users[_name_of(c)] = c
    by_qualname: dict = {}
    for name, obj in users.items():
        by_qualname.setdefault(name.partition(":")[2], set()).add(obj)
    known = {f":{q}": next(iter(objs)) for q, objs in by_qualname.items() if len(objs) == 1}
    known.update(_dynagraph_names())
    known.update(users)
    return known


def _refusal(where: str, ref) -> str:
    return (f"{where} names {ref!r}, which is not one of dynagraph's classes or functions: a model file "
            "never imports or calls what it names, so pass that class or function to the loader, "
            "dy.load(basename, params, classes=[...]), or decorate it with @dy.saveable")


def _resolve(ref, known: dict, where: str):
    if isinstance(ref, str) and ":" in ref:
        found = known.get(ref) or known.get(":" + ref.partition(":")[2])
        if found is not None:
            return found
    raise ValueError(_refusal(where, ref))


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
    """``module:qualname`` naming ``value`` (``dynagraph:name`` for dynagraph's own), or None."""
    import dynagraph
    name = getattr(value, "__name__", None)
    if name and getattr(dynagraph, name, None) is value:      # engine functions: dy.tanh, ...
        return f"dynagraph:{name}"
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def _decode(value, known: dict, where: str):
    if isinstance(value, list):
        return [_decode(v, known, where) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value and isinstance(value["__tuple__"], list):
            return tuple(_decode(v, known, where) for v in value["__tuple__"])
        if "__dict__" in value and isinstance(value["__dict__"], dict):
            return {k: _decode(v, known, where) for k, v in value["__dict__"].items()}
        if "__ref__" in value:
            return _resolve(value["__ref__"], known, where)
        raise ValueError(f"{where}: unknown spec entry {value!r}")
    return value


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _folder_lock(path: str, exclusive: bool):
    """Serialises the switch of a save pair against other saves (exclusive) and
    loads (shared) of files in the same folder. Where the folder cannot be
    locked (a file system without flock) each rename is still atomic alone."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:  # no such folder: opening the file itself reports it
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


# ---- saving
def _entry_text(obj, i: int) -> tuple:
    """(meta entry, bytes of its data) for object ``i``."""
    key = f"/obj{i}"
    if isinstance(obj, _core.Parameters):
        return ({"kind": "parameters", "shape": list(obj.shape()), "name": obj.name()},
                obj._entry_text(key + "/_0"))
    if isinstance(obj, _core.LookupParameters):
        return ({"kind": "lookup", "shape": list(obj.as_array().shape), "name": obj.name()},
                obj._entry_text(key + "/_0"))
    for attr in ("spec", "param_collection"):
        if not hasattr(obj, attr):
            raise TypeError(f"dy.save: object {i} ({type(obj).__name__}) has no {attr}: saved objects are "
                            "Parameters, LookupParameters or have spec, param_collection() and from_spec()")
    cls = type(obj)
    if not hasattr(cls, "from_spec"):
        raise TypeError(f"dy.save: object {i} ({cls.__name__}) has no static from_spec(spec, model)")
    pc = obj.param_collection()
    entry = {"kind": "object", "class": _name_of(cls), "spec": _encode(obj.spec, f"object {i} ({cls.__name__})")}
    return entry, getattr(pc, "_c", pc)._entries_text(key)


def _data_pattern(basename: str):
    return re.compile(re.escape(os.path.basename(basename)) + r"\.data\.[0-9a-f]{16}")


def save(basename, objects, format: str = "dynagraph") -> None:
    """Saves ``objects`` (a list) to ``basename.meta`` and the data file it names.

    format: ``"dynagraph"`` (JSON meta file with a checksum of the data) or
    ``"dynet"`` (DyNet's own files, which DyNet's ``dy.load`` reads). ``dy.load``
    reads both.
    """
    basename = check_path("dy.save", "basename", basename)
    if format == "dynet":
        return save_dynet(basename, objects)
    if format != "dynagraph":
        raise ValueError(f"dy.save: format must be 'dynagraph' or 'dynet', got {format!r}")
    objects = list(objects)
    entries, chunks = [], []
    for i, obj in enumerate(objects):
        entry, text = _entry_text(obj, i)
        entries.append(entry)
        chunks.append(text)
    data = b"".join(chunks)
    data_name = f"{os.path.basename(basename)}.data.{secrets.token_hex(8)}"
    meta = {"format": _FORMAT, "data_file": data_name, "data_sha256": hashlib.sha256(data).hexdigest(),
            "objects": entries}
    _write_pair(basename, data, json.dumps(meta, indent=1).encode("utf-8"), data_name)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _write_pair(basename: str, data: bytes, meta: bytes, data_name: str) -> None:
    meta_path = basename + ".meta"
    data_path = os.path.join(os.path.dirname(basename), data_name)
    for target in (basename + ".data", meta_path):
        remove_stale_temporaries(target)
    fds, temps = [], {}
    try:
        for target, text in ((basename + ".data", data), (meta_path, meta)):
            fd, temps[target] = create_locked_temp(target)
            fds.append(fd)
            _write_all(fd, text)
        with _folder_lock(basename, exclusive=True):
            os.replace(temps[basename + ".data"], data_path)
            temps[basename + ".data"] = data_path    # removed again should the switch fail
            os.replace(temps[meta_path], meta_path)  # the switch
            temps.clear()
            _remove_superseded_data(basename, data_name)
        fsync_folder(meta_path)
    finally:
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for fd in fds:
            os.close(fd)  # releases the temporaries' locks only now


def _remove_superseded_data(basename: str, current: str) -> None:
    """Data files no meta file names any longer: earlier saves', killed saves',
    and ``basename.data`` of the previous layout."""
    folder = os.path.dirname(os.path.abspath(basename))
    pattern = _data_pattern(basename)
    for name in os.listdir(folder):
        if name != current and (pattern.fullmatch(name) or name == os.path.basename(basename) + ".data"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))


# ---- loading
def _read_meta(meta_path: str) -> dict:
    with open(meta_path, "rb") as f:
        raw = f.read()
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{meta_path}: corrupt or truncated meta file ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or not isinstance(meta.get("objects"), list):
        raise ValueError(f"{meta_path}: not a dynagraph save file (format {_FORMAT!r} expected)")
    return meta


def _data_path(basename: str, meta: dict, meta_path: str) -> str:
    name = meta.get("data_file")
    if name is None:                                   # the layout before versioned data files
        return basename + ".data"
    if not isinstance(name, str) or not _data_pattern(basename).fullmatch(name):
        raise ValueError(f"{meta_path}: names the data file {name!r}; a save names "
                         f"'{os.path.basename(basename)}.data.<16 hex digits>' beside it")
    return os.path.join(os.path.dirname(basename), name)


def load(basename, params, classes=()) -> list:
    """Re-creates the objects saved under ``basename`` inside ``params`` (a
    ParameterCollection), sets their values and returns them in order.

    ``classes``: the user classes (with ``from_spec``) and functions the saved
    specs name, which the file cannot import itself (classes decorated with
    :func:`saveable` need not be listed). Files written by DyNet's own
    ``dy.save`` load too (see :mod:`.serialize_dynet`). A load that fails
    leaves ``params`` as it was.
    """
    basename = check_path("dy.load", "basename", basename)
    known = _known_names(classes, "dy.load")
    meta_path = basename + ".meta"
    with _folder_lock(meta_path, exclusive=False):
        if is_dynet_meta(meta_path):
            data_path = basename + ".data"
            if not os.path.exists(data_path):
                raise FileNotFoundError(f"{data_path}: data file missing (meta file {meta_path} exists)")
            return _all_or_nothing(params, lambda: list(load_dynet(meta_path, data_path, params)))
        meta = _read_meta(meta_path)
        data_path = _data_path(basename, meta, meta_path)
        if not os.path.exists(data_path):
            raise FileNotFoundError(f"{data_path}: data file missing (meta file {meta_path} exists)")
        if _sha256(data_path) != meta.get("data_sha256"):
            raise ValueError(f"{data_path}: corrupt or truncated, or not the data file written with {meta_path}")
        plan = _plan(meta, meta_path, data_path, known)
        return _all_or_nothing(params, lambda: [_create(step, params, meta_path, data_path) for step in plan])


def _all_or_nothing(params, make):
    state = params._c._checkpoint()
    try:
        return make()
    except BaseException:
        params._c._restore(state)
        raise


def _plan(meta: dict, meta_path: str, data_path: str, known: dict) -> list:
    """Checks every entry (kinds, classes, specs, shapes against the data file)
    before anything is created: (index, kind, shape or (class, spec), values it may allocate)."""
    values = {}
    for kind, name, shape, count in _core._saved_entries(data_path):
        values.setdefault(name.split("/")[1] if name.count("/") >= 2 else name, []).append((kind, name, shape, count))
    plan = []
    for i, entry in enumerate(meta["objects"]):
        where = f"{meta_path}: object {i}"
        mine = values.get(f"obj{i}", [])
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: bad entry {entry!r}")
        kind = entry.get("kind")
        budget = sum(count for *_, count in mine)
        if kind in ("parameters", "lookup"):
            shape = entry.get("shape")
            saved = [tuple(s) for k, n, s, _ in mine if k == kind and n == f"/obj{i}/_0"]
            expected = saved[0] if saved else None
            if kind == "lookup" and expected is not None:   # the file holds (row shape..., rows)
                expected = (expected[-1],) + expected[:-1]
            if not isinstance(shape, list) or expected is None or tuple(shape) != expected:
                raise ValueError(f"{where}: the meta file gives shape {shape!r}, the data file {data_path} holds "
                                 f"{'no entry /obj%d/_0 of that kind' % i if expected is None else expected}")
            plan.append((i, kind, tuple(shape), budget))
        elif kind == "object":
            cls = _resolve(entry.get("class"), known, where)
            if not isinstance(cls, type) or not callable(getattr(cls, "from_spec", None)):
                raise ValueError(f"{where}: {entry.get('class')!r} has no from_spec(spec, model)")
            try:
                spec = _decode(entry.get("spec"), known, where)
            except RecursionError:
                raise ValueError(f"{where}: spec nested too deeply") from None
            plan.append((i, kind, (cls, spec), budget))
        else:
            raise ValueError(f"{where}: unknown object kind {kind!r}")
    return plan


def _create(step, params, meta_path: str, data_path: str):
    i, kind, what, budget = step
    where, key = f"{meta_path}: object {i}", f"/obj{i}/"
    with allocation_budget(budget, f"{where} (data file {data_path})"):
        if kind == "parameters":
            obj = params.add_parameters(what, init=0.0)
            obj.populate(data_path, key + "_0")
        elif kind == "lookup":
            obj = params.add_lookup_parameters(what, init=0.0)
            obj.populate(data_path, key + "_0")
        else:
            cls, spec = what
            try:
                obj = cls.from_spec(spec, params)
                obj.param_collection().populate(data_path, key)
            except (KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{where}: cannot re-create {cls.__name__} from its spec: {exc!r}") from None
    return obj

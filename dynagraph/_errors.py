"""Clear errors for bad arguments: checked conversions, and the function's name on every error.

Two halves of one rule (issue 20): a bad argument is a ``TypeError``,
``ValueError``, ``IndexError``, ``OverflowError`` or ``RuntimeError`` whose
message names the function, the argument and what was expected.

- ``index``, ``shape``, ``number`` convert loosely typed arguments where the
  Python wrappers used to call ``int(x)`` / ``float(x)`` (which truncate 2.5 to
  2, or say "float() argument must be ..." without naming the caller).
- ``name_errors`` wraps the public Python functions and methods once, at
  import: an error raised inside (by NumPy, by an engine call, by the wrapper
  itself) gets the public function's name as a prefix when its message does
  not start with it. The engine's own bindings do the same in C++
  (``csrc/python/args.h``).
"""
from __future__ import annotations

import functools
import inspect
import math
import operator
import re

import numpy as np

# The kinds whose message is their only argument, so the name can be prefixed in place.
_RENAMED = (TypeError, ValueError, IndexError, OverflowError, RuntimeError, MemoryError)


def _describe(value) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def index(value, fn: str, arg: str) -> int:
    """``value`` as an int (anything with ``__index__``); a float or a string is a TypeError."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{fn}: argument '{arg}' must be an int, got {_describe(value)}") from None


def indices(value, fn: str, arg: str) -> list:
    """An int or a sequence (list, tuple, 1-D array) of ints, as a list."""
    if hasattr(value, "__index__") and not (isinstance(value, np.ndarray) and value.ndim > 0):
        return [index(value, fn, arg)]
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{fn}: argument '{arg}' must be an int or a sequence of ints, got {_describe(value)}")
    return [index(v, fn, f"{arg}[{k}]") for k, v in enumerate(value)]


def positive(value, fn: str, arg: str) -> int:
    """``value`` as an int >= 1."""
    n = index(value, fn, arg)
    if n < 1:
        raise ValueError(f"{fn}: argument '{arg}' must be >= 1, got {n}")
    return n


def shape(dim, fn: str, arg: str = "dim") -> tuple:
    """A shape: an int or a non-empty sequence of ints, each >= 1."""
    axes = tuple(indices(dim, fn, arg))
    if not axes:
        raise ValueError(f"{fn}: argument '{arg}' needs at least one axis, got {dim!r}")
    bad = [d for d in axes if d < 1]
    if bad:
        raise ValueError(f"{fn}: argument '{arg}' = {axes}: every axis must be >= 1, got {bad[0]}")
    return axes


def number(value, fn: str, arg: str, finite: bool = False) -> float:
    """A real number (int, float or NumPy scalar) as a float; strings and None are a TypeError."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: argument '{arg}' must be a number, got {_describe(value)}")
    x = float(value)
    if finite and not math.isfinite(x):
        raise ValueError(f"{fn}: argument '{arg}' must be finite, got {x}")
    return x


def _passed_in(obj, args, kwargs) -> bool:
    """Whether `obj` is one of the arguments, or an element of a list or tuple argument."""
    for a in (*args, *kwargs.values()):
        if a is obj or (isinstance(a, (list, tuple)) and any(x is obj for x in a)):
            return True
    return False


def _prefixed(exc: BaseException, name: str, args=(), kwargs=None) -> BaseException:
    """`exc` with "name: " before its message: the same object when its message is
    its only argument, else a new one of the builtin kind it derives from. An
    AttributeError looking up an attribute of an argument (a list where an
    Expression was expected: "'list' object has no attribute 'dim'") is a
    TypeError; any other is a bug and passes unchanged."""
    message = str(exc)
    if isinstance(exc, AttributeError):
        if exc.name is None or not _passed_in(exc.obj, args, kwargs or {}):
            return exc
        return TypeError(f"{name}: an argument has the wrong type: {message}")
    if re.match(re.escape(name) + r"(?![A-Za-z0-9_])", message):
        return exc
    if type(exc).__str__ is BaseException.__str__ and len(exc.args) <= 1:
        exc.args = (f"{name}: {message}" if message else name,)
        return exc
    kind = next(k for k in _RENAMED if isinstance(exc, k))  # e.g. NumPy's _ArrayMemoryError
    return kind(f"{name}: {message}")


def _named(f, name: str, method: bool = False):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except (*_RENAMED, AttributeError) as exc:
            renamed = _prefixed(exc, name, args[1:] if method else args, kwargs)
            if renamed is exc:
                raise
            raise renamed from exc
    wrapper.__dg_named__ = True
    return wrapper


def _wrap_class(cls, title: str) -> None:
    for attr, value in list(vars(cls).items()):
        if attr.startswith("__") and attr not in ("__init__", "__call__", "__getitem__"):
            continue
        where = title if attr == "__init__" else f"{title}.{attr}"
        if isinstance(value, (staticmethod, classmethod)):
            if inspect.isfunction(value.__func__) and not getattr(value.__func__, "__dg_named__", False):
                setattr(cls, attr, type(value)(_named(value.__func__, where, isinstance(value, classmethod))))
        elif isinstance(value, property):
            wrapped = [_named(g, where, True) if inspect.isfunction(g) else g for g in (value.fget, value.fset)]
            setattr(cls, attr, property(wrapped[0], wrapped[1], value.fdel, value.__doc__))
        elif inspect.isfunction(value) and not getattr(value, "__dg_named__", False):
            setattr(cls, attr, _named(value, where, True))


def name_errors(namespace: dict, names) -> None:
    """Wraps, in ``namespace``, each public Python function in ``names`` and the
    Python-written methods of each public class and of its dynagraph base classes
    (the engine's classes included)."""
    done = set()
    for name in names:
        obj = namespace.get(name)
        if inspect.isfunction(obj) and not getattr(obj, "__dg_named__", False) \
                and not inspect.isgeneratorfunction(obj):
            namespace[name] = _named(obj, name)
        elif inspect.isclass(obj):
            for cls in obj.__mro__:
                if cls.__module__.startswith("dynagraph") and id(cls) not in done:
                    done.add(id(cls))
                    _wrap_class(cls, cls.__name__.lstrip("_"))

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
# What a named function catches to name (AttributeError: a wrong type met as a missing method).
CAUGHT = (*_RENAMED, AttributeError)


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


def text(value, fn: str, arg: str) -> str:
    """A name: a str (bytes would reach the engine as they are, and a name that is not
    UTF-8 could then never be printed or saved)."""
    if not isinstance(value, str):
        raise TypeError(f"{fn}: argument '{arg}' must be a str, got {_describe(value)}")
    return value


def real_array(value, fn: str, arg: str) -> np.ndarray:
    """``value`` (an array or nested lists) as a float32 array of real numbers: NumPy
    would drop a complex part with only a warning, or read None as NaN."""
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # a ragged list
        raise ValueError(f"{fn}: argument '{arg}' is not a rectangular array of numbers ({exc})") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{fn}: argument '{arg}' must be an array or (nested) list of real numbers, got "
                        f"{'an array of dtype ' + str(arr.dtype) if arr.dtype.kind != 'O' else _describe(value)}")
    return arr.astype(np.float32)


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


def reraise(exc: BaseException, name: str, args=(), kwargs=None):
    """Called in ``except CAUGHT as exc:``: raises ``exc`` named ``name``
    (``args``, ``kwargs``: the call's arguments, without ``self``). The naming
    wrappers below call it, and so do the functions that name their own errors."""
    renamed = _prefixed(exc, name, args, kwargs)
    if renamed is exc:
        raise exc
    raise renamed from exc


def _generic_named(f, name: str, method: bool):
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except CAUGHT as exc:
            reraise(exc, name, args[1:] if method else args, kwargs)
    return wrapper


# The wrapper is on every call of the public Python functions (renew_cg,
# Trainer.update, dy.parameter: several per training step), so it takes f's own
# parameters instead of (*args, **kwargs): no tuple and dict to pack and unpack,
# ~25 ns a call instead of ~90-150 (Python 3.11). The defaults are f's own
# objects, so a call passes f exactly what it would have received.
_WRAPPER = """
def wrapper({params}):
    try:
        return __dg_f({call})
    except __dg_kinds as __dg_exc:
        __dg_reraise(__dg_exc, __dg_name, ({args})[__dg_skip:], {{{kwargs}}})
"""


def _exact_named(f, name: str, method: bool):
    sig = inspect.signature(f, follow_wrapped=False)
    env = {"__dg_f": f, "__dg_kinds": CAUGHT, "__dg_reraise": reraise,
           "__dg_name": name, "__dg_skip": 1 if method else 0}
    params, call, args, kwargs = [], [], [], []
    star = slash = False
    P = inspect.Parameter
    for i, p in enumerate(sig.parameters.values()):
        if p.name.startswith("__dg_"):
            return None
        if p.kind is not P.POSITIONAL_ONLY and slash is False and any(
                q.kind is P.POSITIONAL_ONLY for q in sig.parameters.values()):
            params.append("/")
            slash = True
        default = ""
        if p.default is not P.empty:
            env[f"__dg_d{i}"] = p.default
            default = f"=__dg_d{i}"
        if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD):
            params.append(p.name + default)
            call.append(p.name)
            args.append(p.name + ",")
        elif p.kind is P.VAR_POSITIONAL:
            params.append("*" + p.name)
            call.append("*" + p.name)
            args.append("*" + p.name + ",")
            star = True
        elif p.kind is P.KEYWORD_ONLY:
            if not star:
                params.append("*")
                star = True
            params.append(p.name + default)
            call.append(f"{p.name}={p.name}")
            kwargs.append(f"{p.name!r}: {p.name},")
        else:
            params.append("**" + p.name)
            call.append("**" + p.name)
            kwargs.append("**" + p.name + ",")
    if slash is False and any(p.kind is P.POSITIONAL_ONLY for p in sig.parameters.values()):
        params.append("/")
    exec(_WRAPPER.format(params=", ".join(params), call=", ".join(call), args=" ".join(args),
                         kwargs=" ".join(kwargs)), env)
    return env["wrapper"]


def _named(f, name: str, method: bool = False, attr: str | None = None):
    try:
        wrapper = _exact_named(f, name, method)
    except (TypeError, ValueError, SyntaxError):  # no signature to copy
        wrapper = None
    if wrapper is None:
        wrapper = _generic_named(f, name, method)
    wrapper = functools.wraps(f)(wrapper)
    if attr and attr != f.__name__:
        # An alias (inc_forward = forward): a call with the wrong arguments fails in
        # the wrapper itself, and Python's message names the wrapper; name it as called.
        wrapper.__name__ = attr
        wrapper.__qualname__ = f.__qualname__.rpartition(".")[0] + "." + attr if "." in f.__qualname__ else attr
    wrapper.__dg_named__ = True
    return wrapper


def names_itself(f):
    """Marks a function that names its own errors, so name_errors leaves it
    unwrapped: for the few called on every training step (renew_cg,
    Trainer.update, dy.parameter), where even the exact wrapper's extra Python
    frame is a measurable share of a small graph's cost. Its body either raises
    only messages that start with its name, or catches ``CAUGHT`` around the rest
    and calls ``reraise``."""
    f.__dg_named__ = True
    return f


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
            setattr(cls, attr, _named(value, where, True, None if attr.startswith("__") else attr))


def name_errors(namespace: dict, names) -> None:
    """Wraps, in ``namespace``, each public Python function in ``names`` and the
    Python-written methods of each public class and of its dynagraph base classes
    (the engine's classes included)."""
    done = set()
    for name in names:
        obj = namespace.get(name)
        if inspect.isfunction(obj) and not getattr(obj, "__dg_named__", False) \
                and not inspect.isgeneratorfunction(obj):
            namespace[name] = _named(obj, name, attr=name)
        elif inspect.isclass(obj):
            for cls in obj.__mro__:
                if cls.__module__.startswith("dynagraph") and id(cls) not in done:
                    done.add(id(cls))
                    _wrap_class(cls, cls.__name__.lstrip("_"))

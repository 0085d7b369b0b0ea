"""DyNet's keyword arguments and their defaults are accepted by dynagraph's
functions and methods of the same names (the contract is source compatibility,
and DyNet programs pass many arguments by keyword).

Compared against the installed dynet38, whose Cython functions carry
signatures. Functions bound in C++ are read from their pybind11 signature
line. The element-wise ops on the CPython fast path (``dy.tanh(x)`` ...) take
their one or two expressions by position only and are not compared.
"""
import inspect
import re

import pytest

import dynagraph

dynet = pytest.importorskip("dynet")

_EMPTY = inspect.Parameter.empty


def _pybind_signatures(f) -> list:
    """Each overload of a pybind11 function as {argument: default text or None}."""
    found = []
    for line in (f.__doc__ or "").splitlines():
        m = re.match(r"^(?:\d+\. )?\w+\((.*)\) ->", line.strip())
        if not m:
            continue
        args, depth, cur = [], 0, ""
        for ch in m.group(1):
            depth += ch in "[(" and 1 or 0
            depth -= ch in "])" and 1 or 0
            if ch == "," and depth == 0:
                args.append(cur)
                cur = ""
            else:
                cur += ch
        if cur.strip():
            args.append(cur)
        sig = {}
        for a in (a.strip() for a in args):
            name = a.split(":")[0].split("=")[0].strip()
            sig[name.lstrip("*") if not a.startswith("**") else "**"] = a.split("=", 1)[1].strip() if "=" in a else None
        found.append(sig)
    return found


def _signatures(f) -> list:
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return _pybind_signatures(f)
    return [{("**" if p.kind is p.VAR_KEYWORD else p.name): (None if p.default is _EMPTY else repr(p.default))
             for p in params}]


def _same_default(a, b: str) -> bool:
    def norm(v):
        v = str(v).strip().strip("'\"")
        try:
            return round(float(v), 5)
        except ValueError:
            return {"True": True, "False": False, "None": None}.get(v, v)
    return norm(a) == norm(b)


def _problems(theirs, ours) -> list:
    """What a call that is valid for DyNet's ``theirs`` could not do with ``ours``."""
    try:
        params = [p for p in inspect.signature(theirs).parameters.values()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]
    except (TypeError, ValueError):
        return []
    overloads = _signatures(ours)
    if not overloads:
        return ["no signature to compare"]
    best = None
    for sig in overloads:
        probs = []
        for p in params:
            if p.name not in sig:
                if "**" not in sig:
                    probs.append(f"no argument {p.name!r}")
            elif p.default is not _EMPTY and sig[p.name] is None:
                probs.append(f"{p.name!r} has no default (DyNet's is {p.default!r})")
            elif p.default is not _EMPTY and not _same_default(repr(p.default), sig[p.name]):
                probs.append(f"{p.name!r} defaults to {sig[p.name]} (DyNet's is {p.default!r})")
        if best is None or len(probs) < len(best):
            best = probs
    return best


def _fast_op(f) -> bool:
    """An element-wise op on the CPython fast path: its expressions by position only."""
    if type(f).__name__ != "builtin_function_or_method" or _pybind_signatures(f):
        return False
    try:
        return all(p.kind is p.POSITIONAL_ONLY for p in inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return True


def _pairs():
    for name in sorted(dir(dynet)):
        theirs, ours = getattr(dynet, name), getattr(dynagraph, name, None)
        if name.startswith("_") or ours is None:
            continue
        if inspect.isclass(theirs):
            for meth in sorted(vars(theirs)):
                mine = getattr(ours, meth, None)
                if not meth.startswith("_") and callable(getattr(theirs, meth)) and mine is not None:
                    yield f"{name}.{meth}", getattr(theirs, meth), mine
        elif callable(theirs) and not _fast_op(ours):
            yield name, theirs, ours


def test_every_method_of_dynets_classes_exists():
    """The comparison below skips methods dynagraph lacks; this finds them (public
    methods and the protocol methods programs use: len, indexing, calls)."""
    protocol = ("__len__", "__getitem__", "__call__", "__iter__")
    missing = []
    for name in sorted(dir(dynet)):
        theirs, ours = getattr(dynet, name), getattr(dynagraph, name, None)
        # inputTensorTranspose is a class in DyNet and a function returning an Expression here
        if name.startswith("_") or not inspect.isclass(theirs) or not inspect.isclass(ours):
            continue
        for meth in dir(theirs):
            if (not meth.startswith("_") or meth in protocol) and callable(getattr(theirs, meth, None)) \
                    and not hasattr(ours, meth):
                missing.append(f"{name}.{meth}")
    assert missing == []


def test_keyword_arguments_and_defaults_match_dynet():
    compared, mismatches = 0, {}
    for name, theirs, ours in _pairs():
        compared += 1
        probs = _problems(theirs, ours)
        if probs:
            mismatches[name] = probs
    assert compared > 300, f"only {compared} functions and methods compared: is the parser still right?"
    assert mismatches == {}


def test_the_comparison_sees_a_renamed_argument():
    def colwise_add(x, bias):  # the name dynagraph once used
        return x
    assert _problems(dynet.colwise_add, colwise_add) == ["no argument 'y'"]
    assert _problems(dynet.ParameterCollection.add_parameters,
                     dynagraph.ParameterCollection.add_parameters) == []
    assert _problems(dynet.Parameters.expr, lambda self, update=True: None) == [
        "'update' defaults to True (DyNet's is False)"]

"""``extends(BoundType)``: the Python part of a class whose type is bound in C++.

Expression, Parameters and LookupParameters are C++ types (the engine makes
their objects); the methods that are easier written in Python are written in a
class body in one module per class (``_expression.py``, ``_parameters.py``,
``_lookup_parameters.py``) and ``@extends`` adds them to the type, once, at
import. So each class has one home on each side of the binding.
"""
from __future__ import annotations

_NOT_COPIED = {"__module__", "__qualname__", "__dict__", "__weakref__", "__doc__", "__annotations__"}


def extends(bound_type):
    """Class decorator: adds the body's attributes (and its Python bases') to
    ``bound_type`` and returns it."""
    def install(body):
        for cls in reversed(body.__mro__[:-1]):  # bases first, so the body's own win
            for name, value in vars(cls).items():
                if name not in _NOT_COPIED:
                    setattr(bound_type, name, value)
        return bound_type
    return install

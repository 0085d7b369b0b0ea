"""Expressions a builder makes once per computation graph (its parameters' nodes, a zero state)."""
from __future__ import annotations

from typing import Any, Callable

from . import _core

__all__ = ["PerGraph"]


class PerGraph:
    """``get(*key)`` returns ``make(*key)``, made once per graph and key.

    The value is made again after ``renew_cg()`` and after ``cg_revert()``:
    a revert may remove the nodes it holds and give their numbers to new
    nodes, which is why this keys on ``cg_epoch()`` rather than ``cg_version()``.
    """

    __slots__ = ("_make", "_epoch", "_key", "_value")

    def __init__(self, make: Callable[..., Any]):
        self._make = make
        self._epoch = self._key = self._value = None

    def made(self) -> bool:
        """Whether a value was made in the current graph (for any key)."""
        return self._epoch is not None and self._epoch == _core.cg_epoch()

    def last(self):
        """The value made last (check :meth:`made` for whether it belongs to this graph)."""
        return self._value

    def get(self, *key):
        epoch = _core.cg_epoch()
        if self._epoch != epoch or self._key != key:
            self._value = self._make(*key)
            self._epoch, self._key = epoch, key
        return self._value

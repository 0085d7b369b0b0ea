"""Byte accounting: the size of every message that crosses an actor boundary.

A message is any nesting of dicts, lists and tuples with NumPy arrays,
numbers and strings at the leaves. Its size is the payload a compact wire
format would carry: array bytes, 8 bytes per number, the UTF-8 length of
strings (parameter names). Ray's own framing is not counted, so the totals
are what the cost model predicts.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

__all__ = ["message_bytes", "ByteCounter"]


def message_bytes(msg) -> int:
    if isinstance(msg, np.ndarray):
        return int(msg.nbytes)
    if isinstance(msg, dict):
        return sum(message_bytes(k) + message_bytes(v) for k, v in msg.items())
    if isinstance(msg, (list, tuple)):
        return sum(message_bytes(v) for v in msg)
    if isinstance(msg, str):
        return len(msg.encode())
    if isinstance(msg, bytes):
        return len(msg)
    if msg is None:
        return 0
    return 8


class ByteCounter:
    """Bytes sent and received, by kind of message ("push", "pull", "sfb", ...)."""

    def __init__(self):
        self.sent = defaultdict(int)
        self.received = defaultdict(int)

    def send(self, kind: str, msg) -> int:
        n = message_bytes(msg)
        self.sent[kind] += n
        return n

    def receive(self, kind: str, msg) -> int:
        n = message_bytes(msg)
        self.received[kind] += n
        return n

    def total(self) -> int:
        return sum(self.sent.values()) + sum(self.received.values())

    def snapshot(self) -> dict:
        return {"sent": dict(self.sent), "received": dict(self.received), "total": self.total()}

    def merge(self, snap: dict) -> None:
        for k, v in snap["sent"].items():
            self.sent[k] += v
        for k, v in snap["received"].items():
            self.received[k] += v

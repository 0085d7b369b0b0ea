"""Atomic checkpoint files: write to a temporary file, fsync, rename over the old one.

A reader sees either the previous checkpoint or the new one, never a torn
file, even when the writer is killed mid-write. Contents are plain dicts of
NumPy arrays, numbers and strings (never engine objects), and loading accepts
nothing else: a checkpoint file cannot name code for the loader to run.
"""
from __future__ import annotations

import os
import pickle
import tempfile

from .._plain_pickle import PlainDataUnpickler

__all__ = ["save_atomic", "load"]


def save_atomic(path: str, state: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".ckpt")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str) -> dict | None:
    """The state saved at ``path``, or None when there is none."""
    try:
        with open(path, "rb") as f:
            unpickler = PlainDataUnpickler(f)
            unpickler.what = f"checkpoint {path}"
            return unpickler.load()
    except FileNotFoundError:
        return None
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path}: {exc}") from None

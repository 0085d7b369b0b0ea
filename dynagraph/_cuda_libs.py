"""Imports the engine, loading the CUDA runtime and cuBLAS of the pip wheels if it needs them.

A CUDA build of ``dynagraph._core`` links libcudart and libcublas. With a
system CUDA the loader finds them; with the ``cuda`` extra they sit in
``site-packages/nvidia/cu13/lib``, which is on no search path, so when the
engine fails to load for want of them they are loaded here (globally, so its
references resolve to them) and the import is tried again. A CPU build never
loads them.

When there is no engine at all, the package imported is most often a checkout's
source folder (Python started in the clone's root puts it first on the path,
ahead of the installed copy): the error then says so and what to do.
"""
from __future__ import annotations

import ctypes
import importlib
import importlib.machinery
import os
import sys


def import_core():
    try:
        return importlib.import_module("dynagraph._core")
    except ModuleNotFoundError as e:
        if e.name != "dynagraph._core":
            raise
        raise ImportError(no_engine_message()) from None
    except ImportError as e:
        if "libcu" not in str(e):
            raise
        preload()
        return importlib.import_module("dynagraph._core")


def no_engine_message() -> str:
    """Why ``dynagraph._core`` is missing, and what to do about it."""
    package = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(package)
    if not os.path.exists(os.path.join(root, "pyproject.toml")):
        return (f"dynagraph's compiled engine (dynagraph._core) is missing from {package}: "
                "reinstall it (`pip install .` in its checkout)")
    others = [p for p in sys.path if os.path.abspath(p or os.curdir) != root]
    installed = importlib.machinery.PathFinder.find_spec("dynagraph", others)
    head = (f"dynagraph was imported from its source folder {package}, which has no compiled engine "
            f"(dynagraph._core), because Python looks in {root} first (the current directory, or the script's). ")
    if installed and installed.origin:
        return head + (f"Start Python from another directory to use the installed dynagraph "
                       f"({os.path.dirname(installed.origin)}), or run `pip install -e .` in {root} to use the "
                       "checkout itself.")
    return head + f"Install it first: `pip install .` in {root} (or `pip install -e .` to use the checkout itself)."


def preload() -> None:
    try:
        import nvidia  # namespace package of the NVIDIA wheels
    except ImportError:
        return
    for root in getattr(nvidia, "__path__", []):
        lib = os.path.join(root, "cu13", "lib")
        if not os.path.isdir(lib):
            continue
        for name in ("libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13"):
            path = os.path.join(lib, name)
            if os.path.exists(path):
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        return

"""Imports the engine, loading the CUDA runtime and cuBLAS of the pip wheels if it needs them.

A CUDA build of ``dynagraph._core`` links libcudart and libcublas. With a
system CUDA the loader finds them; with the ``cuda`` extra they sit in
``site-packages/nvidia/cu13/lib``, which is on no search path, so when the
engine fails to load for want of them they are loaded here (globally, so its
references resolve to them) and the import is tried again. A CPU build never
loads them.
"""
from __future__ import annotations

import ctypes
import importlib
import os


def import_core():
    try:
        return importlib.import_module("dynagraph._core")
    except ImportError as e:
        if "libcu" not in str(e):
            raise
        preload()
        return importlib.import_module("dynagraph._core")


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

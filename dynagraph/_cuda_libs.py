"""Loads the CUDA runtime and cuBLAS of the pip wheels before the engine.

A CUDA build of ``dynagraph._core`` links libcudart and libcublas. With a
system CUDA the loader finds them; with the ``cuda`` extra they sit in
``site-packages/nvidia/cu13/lib``, which is on no search path, so they are
loaded here (globally, so the engine's references resolve to them). A CPU
build does not need them, and without the wheels this does nothing.
"""
from __future__ import annotations

import ctypes
import os


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

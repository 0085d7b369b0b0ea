"""Hands large matrix products to OpenBLAS when the scipy-openblas32 wheel is installed.

The engine dlopens the library itself (no link-time dependency, so a build
needs no BLAS); without the wheel, or with ``DYNAGRAPH_BLAS=eigen``, Eigen
runs every product. One thread by default, as DyNet (and as a process per
worker wants): more threads pay off on products of millions of multiply-adds
(2.1x on a 10,000 x 256 softmax layer with 2 cores) but cost time on the small
ones of per-sample models (conv: 17 % slower). ``OPENBLAS_NUM_THREADS`` /
``OMP_NUM_THREADS``, when set, decide instead; ``dynagraph.set_num_threads(n)``
changes it at any time.
"""
from __future__ import annotations

import os

from . import _core


def load() -> str:
    if os.environ.get("DYNAGRAPH_BLAS", "openblas").lower() == "eigen":
        return _core.blas_info()
    try:
        import scipy_openblas32 as wheel
    except ImportError:
        return _core.blas_info()
    lib_dir, stem = wheel.get_lib_dir(), f"lib{wheel.get_library()}."
    found = sorted(f for f in os.listdir(lib_dir) if f.startswith(stem) and f.rsplit(".", 1)[-1] in ("so", "dylib"))
    if found:
        _core._load_blas(os.path.join(lib_dir, found[0]), "scipy_")
        if not any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")):
            _core.set_num_threads(1)
    return _core.blas_info()

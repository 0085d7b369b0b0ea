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
    # OpenBLAS starts its thread pool when loaded (importing the wheel loads it), sized by
    # OPENBLAS_NUM_THREADS, else by the cores; a pool that is never used still spins now and
    # then. Unless the user chose, load it with one thread: set_num_threads adds threads later.
    user_threads = any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
    if not user_threads:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import scipy_openblas32 as wheel

        lib_dir, stem = wheel.get_lib_dir(), f"lib{wheel.get_library()}."
        found = sorted(f for f in os.listdir(lib_dir)
                       if f.startswith(stem) and f.rsplit(".", 1)[-1] in ("so", "dylib"))
        if found:
            _core._load_blas(os.path.join(lib_dir, found[0]), "scipy_")
            if not user_threads:
                _core.set_num_threads(1)
    except ImportError:
        pass
    finally:
        if not user_threads:
            del os.environ["OPENBLAS_NUM_THREADS"]
    return _core.blas_info()

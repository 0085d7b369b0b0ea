"""Hands large matrix products to OpenBLAS when the scipy-openblas32 wheel is installed.

The engine dlopens the library itself (no link-time dependency, so a build
needs no BLAS); without the wheel, or with ``DYNAGRAPH_BLAS=eigen``, Eigen
runs every product. One thread by default, as DyNet (and as a process per
worker wants): more threads pay off on products of millions of multiply-adds
(2.1x on a 10,000 x 256 softmax layer with 2 cores) but cost time on the small
ones of per-sample models (conv: 17 % slower). ``OPENBLAS_NUM_THREADS`` /
``OMP_NUM_THREADS``, when set, decide instead; ``dynagraph.set_num_threads(n)``
changes it at any time, and sizes the engine's own threads (autobatched groups
run at once) with it; ``DYNAGRAPH_NUM_THREADS`` or ``OMP_NUM_THREADS`` set both
at import.
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


def threads_from_environment() -> None:
    """``DYNAGRAPH_NUM_THREADS``, else ``OMP_NUM_THREADS``, sizes the engine's threads at import (else 1)."""
    value = os.environ.get("DYNAGRAPH_NUM_THREADS", "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"DYNAGRAPH_NUM_THREADS must be a whole number of threads >= 1, got {value!r}")
        _core.set_num_threads(n)
        return
    # OpenMP's own syntax allows a list per nesting level ("4,2"): the first level is ours.
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if first.isdigit() and int(first) >= 1:
        _core.set_num_threads(min(int(first), 1024))  # the engine's most; OpenMP's setting is not only ours

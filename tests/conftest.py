import os
import sys
from pathlib import Path

# Tests start Python subprocesses (`python -c`, `python -m`) from the checkout's root,
# which Python would put first on their sys.path: they would import the unbuilt source
# folder dynagraph/ instead of the installed package (CI installs it, not editable).
# Python 3.11+ leaves the current folder out with this set.
os.environ.setdefault("PYTHONSAFEPATH", "1")

# tests/ is laid out by area (tests/README.md). Test files and helper modules are
# imported by their bare names (pytest's default "prepend" mode; no __init__.py in the
# area folders), so every folder below tests/ goes on sys.path: helpers (compare_util,
# op_specs, <family>_specs, ...) import from any folder. Bare names must therefore be
# unique across tests/; a duplicate would shadow its twin, so it stops collection here.
TESTS = Path(__file__).resolve().parent


_OPTIONAL_MODULES = {"dynet", "dynet_config", "dynagraph", "torch", "ray", "cupy", "numpy", "scipy", "hypothesis"}


def _module_folders():
    names = {}
    for path in sorted(TESTS.rglob("*.py")):
        if "__pycache__" in path.parts or path.parent.name == "op_specs":
            continue
        names.setdefault(path.stem, []).append(path.relative_to(TESTS))
    dups = {k: [str(p) for p in v] for k, v in names.items() if len(v) > 1 and k != "conftest"}
    if dups:
        raise RuntimeError(f"tests/: module names must be unique across folders (see tests/README.md): {dups}")
    # tests/ itself is on sys.path, so each of its folders is importable as a namespace
    # package: one named like a module the tests import when it is installed would stand
    # in for it when it is not (a tests/dynet/ made `import dynet` succeed without dynet38).
    shadowing = sorted(p.name for p in TESTS.iterdir() if p.is_dir() and p.name in _OPTIONAL_MODULES)
    if shadowing:
        raise RuntimeError(f"tests/: folder names {shadowing} would shadow the modules of that name")
    return sorted({p.parent for v in names.values() for p in v})


for _folder in reversed(_module_folders()):
    sys.path.insert(0, str(TESTS / _folder))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def gpu_count() -> int:
    """GPUs this build can compute on (0 without a CUDA build or without a GPU)."""
    from dynagraph import _core
    return _core.cuda_device_count() if _core.have_cuda() else 0


def pytest_runtest_setup(item):
    # Device tests share one emulated device per process, and parameters resident on it
    # count against a later test's device memory budget. Builders and models hold reference
    # cycles, so their parameters outlive a test until the collector runs: run it first,
    # so a budgeted test sees only its own parameters, whatever ran before it.
    if item.path.parent.name == "device":
        import gc
        gc.collect()
    # Tests marked `cuda` need a CUDA build and a GPU: without them they skip, saying
    # why -- unless DYNAGRAPH_REQUIRE_GPU=1 (tools/gpu_check.sh), where that is a failure.
    if item.get_closest_marker("cuda") is None:
        return
    import os

    import pytest
    from dynagraph import _core
    if not _core.have_cuda():
        why = "dynagraph was built without CUDA (build with DYNAGRAPH_BACKEND=cuda)"
    elif gpu_count() == 0:
        why = "the CUDA runtime sees no GPU"
    else:
        return
    if os.environ.get("DYNAGRAPH_REQUIRE_GPU") == "1":
        pytest.fail(f"DYNAGRAPH_REQUIRE_GPU=1 but {why}", pytrace=False)
    pytest.skip(why)

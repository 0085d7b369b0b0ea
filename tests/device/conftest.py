"""Device tests share one emulated device per process, and parameters resident on it count
against any later test's device memory budget. Builders and models hold reference cycles, so
their parameters outlive a test until the garbage collector runs: run it before every test,
so a budgeted test sees only its own parameters whatever ran before it (and in any order)."""
import gc

import pytest


@pytest.fixture(autouse=True)
def _collect_device_garbage():
    gc.collect()
    yield

"""dynagraph.init and DyNet's configuration flags, read at first use."""
import builtins
import sys

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _config, _core


@pytest.fixture
def fresh_config(monkeypatch):
    monkeypatch.setattr(_config.settings, "initialized", False)
    monkeypatch.setattr(_config.settings, "weight_decay", 0.0)
    # dynet_config keeps its settings where DyNet's does, in builtins
    monkeypatch.delattr(builtins, "__DYNET_CONFIG", raising=False)
    monkeypatch.delattr(builtins, "__DYNET_GPU", raising=False)
    yield
    _core.set_autobatch(False)
    _config.settings.initialized = True


def first_draw():
    pc = dy.ParameterCollection()
    return pc.add_parameters(5).as_array()


def test_dynet_flags_in_argv_are_honoured_at_first_use(fresh_config, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog", "--dynet-seed", "123", "--dynet-autobatch", "1", "--dynet-mem", "64"])
    a = first_draw()
    assert _config.settings.seed == 123 and _core.get_autobatch() and _config.settings.mem == 64
    _config.settings.initialized = False
    b = first_draw()
    np.testing.assert_array_equal(a, b)


def test_an_explicit_first_init_reads_the_flags_too(fresh_config, monkeypatch):
    """DyNet programs call dy.init() themselves; it still honours --dynet-* flags for
    what it is not given, and later calls do not read them again."""
    monkeypatch.setattr(sys, "argv", ["prog", "--dynet-seed", "31", "--dynet-autobatch", "1"])
    dy.init()
    assert _config.settings.seed == 31 and _core.get_autobatch()
    dy.init(seed=4)
    assert _config.settings.seed == 4 and _core.get_autobatch()
    _config.settings.initialized = False
    dy.init(autobatch=False)  # what is given wins over the flags
    assert _config.settings.seed == 31 and not _core.get_autobatch()


def test_init_shared_parameters_is_refused_clearly():
    dy.init(shared_parameters=None)
    dy.init(False)
    with pytest.raises(ValueError, match="shared-memory parameters are not supported"):
        dy.init(True)


def test_global_weight_decay_is_the_default_of_new_collections(fresh_config, monkeypatch):
    """DyNet's --dynet-weight-decay / dynet_config.set(weight_decay=) / DynetParams:
    collections made afterwards start with it."""
    monkeypatch.setattr(sys, "argv", ["prog", "--dynet-weight-decay", "0.1"])
    assert dy.ParameterCollection().get_weight_decay() == pytest.approx(0.1)
    _config.settings.initialized = False
    monkeypatch.setattr(sys, "argv", ["prog"])
    dy.dynet_config.set(weight_decay=0.05)
    pc = dy.ParameterCollection()
    assert pc.get_weight_decay() == pytest.approx(0.05)
    assert pc.add_subcollection("sub").get_weight_decay() == pytest.approx(0.05)
    p = dy.DynetParams()
    p.set_weight_decay(0.2)
    p.init()
    assert dy.ParameterCollection().get_weight_decay() == pytest.approx(0.2)
    with pytest.raises(ValueError, match=r"weight decay must be in \[0, 1\)"):
        dy.init(weight_decay=1.5)


def test_dynet_config_gpus_run_on_the_cpu_and_shared_parameters_are_refused(fresh_config, monkeypatch):
    """As DyNet's CPU build: a GPU asked for through dynet_config runs on the CPU."""
    monkeypatch.setattr(sys, "argv", ["prog"])
    dy.dynet_config.set(requested_gpus=1, random_seed=3)
    dy.dynet_config.set_gpu()
    assert dy.dynet_config.gpu() is True
    dy.renew_cg()
    assert _config.settings.seed == 3 and _config.settings.device == "CPU"
    _config.settings.initialized = False
    dy.dynet_config.set(shared_parameters=1)
    with pytest.raises(ValueError, match="shared-memory parameters are not supported"):
        dy.renew_cg()
    _config.settings.initialized = False
    dy.dynet_config.set(profiling=1)  # accepted, as a no-op
    dy.renew_cg()


def test_flag_with_equals_sign(fresh_config, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog", "--dynet-seed=7"])
    dy.renew_cg()
    assert _config.settings.seed == 7


def test_dynet_config_set_before_first_use(fresh_config, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog"])
    dy.dynet_config.set(mem=32, random_seed=9, autobatch=1)
    dy.renew_cg()
    assert _config.settings.seed == 9 and _core.get_autobatch()


def test_importing_reads_no_flags():
    from pathlib import Path
    text = Path(_config.__file__).read_text()
    assert "ensure_initialized()" not in text.split("def ensure_initialized")[0]


def test_init_rejects_gpu_on_cpu_build():
    with pytest.raises(ValueError, match="CPU-only"):
        dy.init(device="GPU:0")


def test_dynet_params_object(fresh_config):
    p = dy.DynetParams()
    p.set_random_seed(5)
    p.set_autobatch(True)
    p.init()
    assert _config.settings.seed == 5 and _core.get_autobatch()


def test_rows_as_array():
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((5, 3))
    np.testing.assert_array_equal(E.rows_as_array([4, 1]), E.as_array()[[4, 1]])

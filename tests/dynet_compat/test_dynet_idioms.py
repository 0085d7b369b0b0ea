"""DyNet idioms that DyNet's own example programs rely on (found by running them
with ``import dynagraph as dy``): each behaves here as it does in dynet38."""
import builtins
import os
import stat

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _config


def test_parameter_returns_the_parameters_and_they_outlive_the_graph():
    pc = dy.ParameterCollection()
    pW, pb = pc.add_parameters((2, 3)), pc.add_parameters(2)
    W = dy.parameter(pW)                       # DyNet 2.2: the Parameters object itself
    assert W is pW and dy.parameter(pW, pb) == (pW, pb)
    consts = dy.const_parameter(pW, pb)
    assert isinstance(consts, list) and all(isinstance(c, dy.Expression) for c in consts)
    for _ in range(2):                          # still valid after renew_cg()
        dy.renew_cg()
        y = W * dy.inputVector([1.0, 2.0, 3.0]) + pb
        np.testing.assert_allclose(y.npvalue(), pW.as_array() @ [1, 2, 3] + pb.as_array(), rtol=1e-6)
    np.testing.assert_allclose((-W).npvalue(), -pW.as_array(), rtol=1e-6)
    np.testing.assert_allclose(W[1].npvalue(), pW.as_array()[1], rtol=1e-6)
    with pytest.raises(TypeError, match="expected Parameters or LookupParameters, got Expression"):
        dy.parameter(dy.inputVector([1.0]))


def test_power_operator_and_its_gradient():
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0, 3.0])
    y = x ** 3
    dy.sum_elems(y).backward(full=True)
    np.testing.assert_allclose(y.npvalue(), [1, 8, 27], rtol=1e-6)
    np.testing.assert_allclose(x.gradient(), [3, 12, 27], rtol=1e-5)
    np.testing.assert_allclose((2 ** x).npvalue(), [2, 4, 8], rtol=1e-6)
    with pytest.raises(TypeError):
        pow(x, 2, 5)


def test_numpy_arrays_do_not_swallow_expressions():
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0])
    with pytest.raises(TypeError):
        np.array([1.0, 2.0]) + x               # not an object array of expressions


def test_a_list_of_arrays_is_a_batch():
    dy.renew_cg()
    x = dy.inputTensor([np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])])
    assert x.dim() == ((2,), 3)
    np.testing.assert_array_equal(x.npvalue(), [[1, 3, 5], [2, 4, 6]])
    assert dy.inputTensor([np.zeros((2, 3))] * 2, batched=True).dim() == ((2, 3), 2)
    assert dy.inputTensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).dim() == ((2, 3), 1)  # nested lists: a matrix


def test_matrix_times_a_column_keeps_the_column_and_affine_broadcasts_its_bias():
    rng = np.random.default_rng(0)
    W, v, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=4)
    dy.renew_cg()
    eW, ev, eb = dy.inputTensor(W), dy.inputTensor(v), dy.inputTensor(b)
    assert (eW * dy.inputTensor(v[:, :1])).dim() == ((4, 1), 1)
    assert (eW * dy.inputTensor(v[:, 0])).dim() == ((4,), 1)
    assert dy.affine_transform([dy.inputTensor(b[:, None]), eW, dy.inputTensor(v[:, :1])]).dim() == ((4,), 1)
    y = dy.affine_transform([eb, eW, ev])      # bias (4,) added to both columns
    np.testing.assert_allclose(y.npvalue(), W @ v + b[:, None], rtol=1e-5)
    dy.sum_elems(dy.cmult(y, dy.inputTensor(np.arange(8.0).reshape(4, 2)))).backward(full=True)
    np.testing.assert_allclose(eb.gradient(), np.arange(8.0).reshape(4, 2).sum(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="the bias must have the products' shape or be one column"):
        dy.affine_transform([dy.inputTensor(np.ones(5)), eW, ev])


def test_out_of_range_is_an_index_error_and_dynets_value_error():
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0])
    for bad in (lambda: dy.pick(x, 5), lambda: dy.lookup(dy.ParameterCollection().add_lookup_parameters((3, 2)), 7)):
        with pytest.raises(ValueError, match="out of range"):
            bad()
        with pytest.raises(IndexError):
            bad()


def test_values_come_out_as_float64():
    pc = dy.ParameterCollection()
    W, E = pc.add_parameters((2, 2)), pc.add_lookup_parameters((3, 2))
    dy.renew_cg()
    x = dy.inputVector([0.1, 0.2])
    dy.sum_elems(W * x).backward(full=True)
    for arr in (x.npvalue(), x.gradient(), W.as_array(), W.grad_as_array(), E.as_array(), E.row_as_array(1)):
        assert arr.dtype == np.float64
    assert x.npvalue()[0] == np.float32(0.1)  # the float32 value, widened


def test_dynets_own_dynet_config_module_is_honoured(monkeypatch):
    monkeypatch.setattr(_config.settings, "initialized", False)
    monkeypatch.setattr(builtins, "__DYNET_CONFIG",
                        {"mem": "512", "seed": 77, "autobatch": 0, "weight_decay": 0, "requested_gpus": 0},
                        raising=False)
    first = dy.ParameterCollection().add_parameters(4).as_array()
    _config.settings.initialized = False
    again = dy.ParameterCollection().add_parameters(4).as_array()
    assert _config.settings.seed == 77
    np.testing.assert_array_equal(first, again)
    builtins.__DYNET_CONFIG["requested_gpus"] = 1  # DyNet's CPU build runs on the CPU
    _config.settings.initialized = False
    dy.init()
    assert _config.settings.device == "CPU"
    monkeypatch.delattr(builtins, "__DYNET_CONFIG")
    dy.init()


def test_saved_files_get_the_usual_mode(tmp_path):
    pc = dy.ParameterCollection()
    W = pc.add_parameters(2)
    dy.save(str(tmp_path / "m"), [W])
    mask = os.umask(0)
    os.umask(mask)
    (data,) = tmp_path.glob("m.data.*")        # the data file the meta names
    for path in (data, tmp_path / "m.meta"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask

"""DyNet's module-level surface outside ops and builders: devices, value holders,
Tensor, values/npvalues, graph printing, special inputs, cg() methods, DynetParams."""
import re

import numpy as np
import pytest

import dynagraph as dy


# ---- devices
def test_devices_cpu_build():
    assert dy.HAVE_CUDA is False
    assert dy.available_devices() == ["CPU", "EMU:0"]  # EMU:0, the emulated GPU, is in every build
    info = dy.get_device_info("CPU")
    assert isinstance(info, dy.DeviceInfo) and (info.id, info.name) == (0, "CPU")
    with pytest.raises(RuntimeError, match="Invalid device name: GPU:0"):
        dy.get_device_info("GPU:0")
    assert isinstance(dy.ERRMSG, str) and "GPU" in dy.ERRMSG
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0])
    assert dy.to_device(x, "CPU").value() == [1.0, 2.0]
    with pytest.raises(RuntimeError):
        dy.to_device(x, "GPU:0")


# ---- value holders
def test_value_holders():
    f = dy.FloatValue()
    assert f.get() == 0.0
    f.set(2.5)
    assert f.get() == 2.5 and dy.FloatValue(3).get() == 3.0
    u = dy.UnsignedValue(7)
    assert u.get() == 7
    with pytest.raises(OverflowError):
        u.set(-1)
    fv = dy.FloatVectorValue([1, 2])
    fv.set([1, 2, 3])
    assert fv.get() == [1.0, 2.0, 3.0] and fv.size() == 3
    uv = dy.UnsignedVectorValue([3, 4])
    assert uv.get() == [3, 4] and uv.size() == 2
    with pytest.raises(OverflowError):
        uv.set([1, -2])


# ---- Tensor
def test_tensor_value_and_reductions():
    dy.renew_cg()
    m = np.array([[0.1, 0.9, 0.3], [0.7, 0.2, 0.8]])
    t = dy.inputTensor(m).tensor_value()
    assert isinstance(t, dy.Tensor) and t.dim() == ((2, 3), 1)
    np.testing.assert_allclose(t.as_numpy(), m, rtol=1e-6)
    assert t.as_list() == pytest.approx(m.ravel(order="F").tolist())
    np.testing.assert_array_equal(t.argmax().as_numpy(), [[1, 0, 1]])  # over axis 0, as DyNet
    np.testing.assert_array_equal(t.argmax(dim=1).as_numpy(), [[1], [2]])
    vals, idx = t.topk(dim=0, num=2)
    np.testing.assert_allclose(vals.as_numpy(), [[0.7, 0.9, 0.8], [0.1, 0.2, 0.3]], rtol=1e-6)
    np.testing.assert_array_equal(idx.as_numpy(), [[1, 0, 1], [0, 1, 0]])
    assert idx.as_numpy().dtype == np.int64
    with pytest.raises(IndexError):
        t.argmax(dim=2)
    with pytest.raises(ValueError):
        t.topk(num=3)


def test_tensor_batched_and_vector():
    dy.renew_cg()
    v = dy.inputVector([0.1, 0.5, 0.2]).tensor_value()
    np.testing.assert_array_equal(v.argmax().as_numpy(), [1])
    b = dy.inputTensor(np.array([[1.0, 5.0], [3.0, 2.0], [2.0, 0.0]]), batched=True).tensor_value()
    assert b.dim() == ((3,), 2) and b.as_numpy().shape == (3, 2)
    np.testing.assert_array_equal(b.argmax().as_numpy(), [[1, 0]])
    assert dy.scalarInput(3.0).tensor_value().as_numpy().shape == (1,)


def test_tensor_categorical_sample():
    dy.reset_random_seed(5)
    dy.renew_cg()
    logp = np.log(np.array([[0.1, 0.6, 0.3]]).T)  # a (3, 1) column: one distribution
    t = dy.inputTensor(logp).tensor_value()
    draws = [int(t.categorical_sample_log_prob().as_numpy()[0, 0]) for _ in range(2000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 2000, [0.1, 0.6, 0.3], atol=0.04)
    many = t.categorical_sample_log_prob(num=4)
    assert many.dim() == ((4, 1), 1)


def test_values_and_npvalues():
    dy.renew_cg()
    x = dy.inputTensor(np.arange(6.0).reshape(2, 3))
    v = dy.inputVector([1.0, 2.0])
    s = dy.scalarInput(2.0)
    out = dy.values([v, s, x])
    assert out[0] == [1.0, 2.0] and out[1] == 2.0
    np.testing.assert_allclose(out[2], np.arange(6.0).reshape(2, 3))
    nps = dy.npvalues([v, s])
    np.testing.assert_allclose(nps[0], [1.0, 2.0])
    np.testing.assert_allclose(nps[1], [2.0])
    assert dy.values([]) == [] and dy.npvalues([], recalculate=True) == []


# ---- inputs
def test_vecinput_set_recomputes():
    dy.renew_cg()
    v = dy.vecInput(3)
    y = v * 2
    assert y.value() == [0.0, 0.0, 0.0]
    v.set([1, 2, 3])
    assert y.value() == [2.0, 4.0, 6.0]  # no recalculate needed: set() invalidates
    v.set(np.array([4.0, 5.0, 6.0]))
    assert y.value() == [8.0, 10.0, 12.0]
    with pytest.raises(ValueError, match=r"2 values for an input of shape \{3\}"):
        v.set([1, 2])
    with pytest.raises(ValueError, match="input expression"):
        y.set([1, 2, 3])


def test_matinput_set_column_major_and_gradients():
    dy.renew_cg()
    m = dy.matInput(2, 3)
    m.set([1, 2, 3, 4, 5, 6])  # DyNet's memory order
    np.testing.assert_allclose(m.npvalue(), [[1, 3, 5], [2, 4, 6]])
    m.set(np.arange(6.0).reshape(2, 3))  # an array of the node's shape
    np.testing.assert_allclose(m.npvalue(), np.arange(6.0).reshape(2, 3))
    pc = dy.ParameterCollection()
    w = pc.add_parameters((1, 2), init=1.0)
    loss = dy.sum_elems(w * m)
    assert loss.value() == pytest.approx(15.0)
    m.set(np.ones((2, 3)))
    assert loss.value() == pytest.approx(6.0)
    loss.backward()
    np.testing.assert_allclose(w.grad_as_array(), [[3.0, 3.0]])


def test_set_on_stale_expression():
    dy.renew_cg()
    v = dy.vecInput(2)
    dy.renew_cg()
    with pytest.raises(RuntimeError):
        v.set([1, 2])


def test_input_tensor_transpose():
    dy.renew_cg()
    e = dy.inputTensorTranspose(np.arange(6.0))
    assert e.dim() == ((6,), 1)
    e = dy.inputTensorTranspose(np.arange(6.0), (2, 3))
    np.testing.assert_allclose(e.npvalue(), [[0, 2, 4], [1, 3, 5]])
    e = dy.inputTensorTranspose(np.arange(6.0), (3,), batch_size=2)
    assert e.dim() == ((3,), 2)
    np.testing.assert_allclose(e.npvalue(), [[0, 3], [1, 4], [2, 5]])
    with pytest.raises(ValueError, match="make 4 values, but the array has 6"):
        dy.inputTensorTranspose(np.arange(6.0), (4,))
    with pytest.raises(ValueError, match="1-D"):
        dy.inputTensorTranspose(np.zeros((2, 3)))


def test_sparse_input_tensor():
    dy.renew_cg()
    s = dy.sparse_inputTensor(([0, 2], [1, 0]), [5.0, 7.0], (3, 2))
    assert s.dim() == ((3, 2), 1)
    np.testing.assert_allclose(s.npvalue(), [[0, 5], [0, 0], [7, 0]])
    s = dy.sparse_inputTensor(([0, 2], [1, 0]), [5.0, 7.0], (3, 2), batched=True, defval=1)
    assert s.dim() == ((3,), 2)
    np.testing.assert_allclose(s.npvalue(), [[1, 5], [1, 1], [7, 1]])
    with pytest.raises(IndexError, match="index 3 out of range for axis 0 of length 3"):
        dy.sparse_inputTensor(([0, 3], [1, 0]), [5.0, 7.0], (3, 2))
    with pytest.raises(ValueError, match="2 axes"):
        dy.sparse_inputTensor(([0, 2],), [5.0, 7.0], (3, 2))


def test_cg_literal_inputs():
    g = dy.renew_cg()
    e = g.inputMatrixLiteral([1, 2, 3, 4, 5, 6], (2, 3))
    np.testing.assert_allclose(e.npvalue(), [[1, 3, 5], [2, 4, 6]])
    e = g.inputMatrixLiteral([1, 2, 3, 4, 5, 6], (3,), batch_size=2)
    np.testing.assert_allclose(e.npvalue(), [[1, 4], [2, 5], [3, 6]])
    e = g.inputSparseTensor([0, 4], [7, 8], (2, 3))
    np.testing.assert_allclose(e.npvalue(), [[7, 0, 8], [0, 0, 0]])
    e = g.inputSparseTensor([0, 4], [7, 8], (2,), batch_size=3, defval=1)
    np.testing.assert_allclose(e.npvalue(), [[7, 1, 8], [1, 1, 1]])
    with pytest.raises(IndexError):
        g.inputSparseTensor([6], [1.0], (2, 3))


# ---- the graph object
def test_cg_node_index_methods():
    g = dy.renew_cg()
    assert dy.cg() is g and isinstance(g, dy.ComputationGraph)
    x = dy.inputVector([1.0, 2.0, 3.0])
    s = dy.sum_elems(x)
    assert g.forward_scalar(s) == 6.0 and g.forward_scalar(1) == 6.0
    assert g.forward_vec(0) == [1.0, 2.0, 3.0] and g.inc_forward_vec(x) == [1.0, 2.0, 3.0]
    g.inc_forward(1)
    assert g.size() == 2
    with pytest.raises(IndexError):
        g.forward_scalar(5)


# ---- graph printing
def _graph():
    pc = dy.ParameterCollection()
    W = pc.add_parameters((2, 3), name="W")
    E = pc.add_lookup_parameters((5, 3), name="E")
    dy.renew_cg()
    x = dy.inputVector([1.0, 2.0, 3.0])
    y = dy.tanh(W * x + dy.lookup(E, 2)[0:2])
    return pc, dy.pickneglogsoftmax(y, 1)


def test_print_text_graphviz(capsys):
    pc, loss = _graph()
    dy.print_text_graphviz()
    out = capsys.readouterr().out
    assert out.startswith("digraph G {") and out.rstrip().endswith("}")
    nodes = re.findall(r'^  N(\d+) \[label="([^"]*)"', out, flags=re.M)
    edges = re.findall(r"^  N(\d+) -> N(\d+);", out, flags=re.M)
    ops = dy._core.node_ops()
    assert len(nodes) == len(ops) == dy.cg().size()
    for (i, label), op in zip(nodes, ops):
        assert label.startswith(f"v{i} = {op}(")
    assert any("/W" in label and "{2,3}" in label for _, label in nodes)
    expected = [(a, i) for i, (_, args, _, _) in enumerate(dy._core.graph_nodes()) for a in args]
    assert [(int(a), int(b)) for a, b in edges] == expected
    dy.print_graphviz(compact=True)
    compact = capsys.readouterr().out
    assert 'label="tanh"' in compact


def test_dump_cg(tmp_path, capsys):
    pc, loss = _graph()
    dy.dump_cg()  # before backward: values, no gradients yet
    out = capsys.readouterr().out
    assert out.count("Node ") == dy.cg().size() and "Gradient: none" in out
    loss.value()
    loss.backward()
    path = tmp_path / "cg.txt"
    dy.cg().dump(str(path), True, True, False)
    text = path.read_text()
    assert text.count("Value:") == text.count("Gradient:") == dy.cg().size()
    assert "tanh" in text and capsys.readouterr().out == ""
    dy.dump_cg(str(path), nan_check_only=True)
    assert path.read_text() == ""  # every value is finite
    dy.renew_cg()
    bad = dy.log(dy.inputVector([-1.0, 1.0]))
    dy.dump_cg(str(path), show_gradients=False, nan_check_only=True)
    text = path.read_text()
    assert "Node 1" in text and "Node 0" not in text and "nan" in text
    assert bad.dim() == ((2,), 1)


# ---- configuration
def test_dynet_params_from_config():
    p = dy.DynetParams()
    p.from_config({"mem": 256, "seed": 7, "autobatch": 1})
    assert (p.mem_descriptor, p.random_seed, p.autobatch) == ("256", 7, 1)
    p.set_cpu_mode()
    p.set_gpu_mask([0, 0])
    p.set_gpu_mask([1])  # accepted and run on the CPU, as by DyNet's CPU build
    with pytest.raises(ValueError, match="only contain 0 and 1"):
        p.set_gpu_mask([2])
    p.set_autobatch(0)
    dy.init_from_params(p)
    assert dy._core.get_autobatch() is False


def test_model_and_trainer_aliases():
    assert dy.Model is dy.ParameterCollection
    assert issubclass(dy.SimpleSGDTrainer, dy.Trainer)

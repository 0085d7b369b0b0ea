"""Recurrent builders against DyNet 2.2 (dynet38): same parameter shapes and
order; with DyNet's parameter values copied in, same outputs and gradients."""
import numpy as np
import pytest

dy = pytest.importorskip("dynet")
import dynagraph as dg  # noqa: E402

pytestmark = pytest.mark.compare

TOL = 1e-4

# DyNet's builders crash if their ParameterCollection is freed before them;
# keep every DyNet object alive until the process ends.
_KEEP = []

CASES = [
    ("SimpleRNNBuilder", {}),
    ("VanillaLSTMBuilder", {}),
    ("VanillaLSTMBuilder", {"forget_bias": 0.0}),
    ("CompactVanillaLSTMBuilder", {}),
    ("CoupledLSTMBuilder", {}),
    ("FastLSTMBuilder", {}),
    ("GRUBuilder", {}),
]


def _pair(name, kwargs, layers=2, in_dim=3, hid=5, seed=0):
    m_dy, m_dg = dy.ParameterCollection(), dg.ParameterCollection()
    b_dy = getattr(dy, name)(layers, in_dim, hid, m_dy, **kwargs)
    _KEEP.append((m_dy, b_dy))
    b_dg = getattr(dg, name)(layers, in_dim, hid, m_dg, **kwargs)
    rng = np.random.default_rng(seed)
    p_dy, p_dg = b_dy.get_parameters(), b_dg.get_parameters()
    assert [[p.shape() for p in layer] for layer in p_dy] == [[tuple(p.shape()) for p in layer] for layer in p_dg]
    for l_dy, l_dg in zip(p_dy, p_dg):
        for a, b in zip(l_dy, l_dg):
            value = rng.uniform(-0.8, 0.8, size=a.shape())    # non-zero biases too
            a.set_value(value)
            b.set_value(value)
    return b_dy, b_dg


def _run(lib, builder, xs, batch=None, init=None):
    lib.renew_cg()
    if batch:
        ins = [lib.inputTensor(x, batched=True) for x in xs]
    else:
        ins = [lib.inputTensor(x) for x in xs]
    vecs = None if init is None else [lib.inputTensor(v) for v in init]
    s = builder.initial_state(vecs)
    states = s.add_inputs(ins)
    outs = [st.output() for st in states]
    loss = lib.esum([lib.dot_product(o, o) for o in outs] + [lib.dot_product(e, e) for e in states[-1].s()])
    if batch:
        loss = lib.sum_batches(loss) if hasattr(lib, "sum_batches") else loss
    values = [o.npvalue() for o in outs] + [e.npvalue() for e in states[-1].s()]
    loss.value()
    loss.backward()
    grads = [p.grad_as_array() for layer in builder.get_parameters() for p in layer]
    return values, grads


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}{'-' + str(k) if k else ''}" for n, k in CASES])
def test_same_outputs_and_gradients(name, kwargs):
    b_dy, b_dg = _pair(name, kwargs)
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=3) for _ in range(4)]
    v_dy, g_dy = _run(dy, b_dy, xs)
    v_dg, g_dg = _run(dg, b_dg, xs)
    for a, b in zip(v_dy, v_dg):
        np.testing.assert_allclose(np.asarray(b).ravel(), np.asarray(a).ravel(), atol=TOL, rtol=TOL)
    for a, b in zip(g_dy, g_dg):
        np.testing.assert_allclose(np.asarray(b).reshape(a.shape), a, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("name", ["VanillaLSTMBuilder", "SimpleRNNBuilder", "GRUBuilder", "CoupledLSTMBuilder"])
def test_initial_state_vectors(name):
    b_dy, b_dg = _pair(name, {}, layers=2, hid=4)
    rng = np.random.default_rng(2)
    n = 4 if "LSTM" in name else 2
    init = [rng.normal(size=4) for _ in range(n)]
    xs = [rng.normal(size=3) for _ in range(3)]
    v_dy, g_dy = _run(dy, b_dy, xs, init=init)
    v_dg, g_dg = _run(dg, b_dg, xs, init=init)
    for a, b in zip(v_dy + g_dy, v_dg + g_dg):
        np.testing.assert_allclose(np.asarray(b).ravel(), np.asarray(a).ravel(), atol=TOL, rtol=TOL)


def test_batched_vanilla_lstm():
    b_dy, b_dg = _pair("VanillaLSTMBuilder", {}, layers=1)
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(3, 2)) for _ in range(3)]
    v_dy, _ = _run(dy, b_dy, xs, batch=True)
    v_dg, _ = _run(dg, b_dg, xs, batch=True)
    for a, b in zip(v_dy, v_dg):
        np.testing.assert_allclose(np.asarray(b).reshape(a.shape), a, atol=TOL, rtol=TOL)


def test_layer_norm_lstm():
    m_dy, m_dg = dy.ParameterCollection(), dg.ParameterCollection()
    b_dy = dy.VanillaLSTMBuilder(1, 3, 4, m_dy, ln_lstm=True)
    _KEEP.append((m_dy, b_dy))
    b_dg = dg.VanillaLSTMBuilder(1, 3, 4, m_dg, ln_lstm=True)
    ps_dy, ps_dg = m_dy.parameters_list(), m_dg.parameters_list()
    assert [p.shape() for p in ps_dy] == [tuple(p.shape()) for p in ps_dg]
    rng = np.random.default_rng(4)
    for a, b in zip(ps_dy, ps_dg):
        value = a.as_array() + rng.uniform(-0.3, 0.3, size=a.shape())
        a.set_value(value)
        b.set_value(value)
    xs = [rng.normal(size=3) for _ in range(3)]
    v_dy, _ = _run(dy, b_dy, xs)
    v_dg, _ = _run(dg, b_dg, xs)
    for a, b in zip(v_dy, v_dg):
        np.testing.assert_allclose(np.asarray(b).ravel(), np.asarray(a).ravel(), atol=TOL, rtol=TOL)


def test_lstm_builder_is_vanilla_as_in_dynet():
    assert dy.LSTMBuilder is dy.VanillaLSTMBuilder
    assert dg.LSTMBuilder is dg.VanillaLSTMBuilder


def test_parameter_order_names():
    m_dy, m_dg = dy.ParameterCollection(), dg.ParameterCollection()
    for name in ("SimpleRNNBuilder", "VanillaLSTMBuilder", "CoupledLSTMBuilder", "GRUBuilder", "FastLSTMBuilder"):
        _KEEP.append((m_dy, getattr(dy, name)(2, 3, 4, m_dy)))
        getattr(dg, name)(2, 3, 4, m_dg)
    assert [p.name() for p in m_dy.parameters_list()] == [p.name() for p in m_dg.parameters_list()]


def test_sparse_lstm_layout():
    m_dy, m_dg = dy.ParameterCollection(), dg.ParameterCollection()
    b_dy = dy.SparseLSTMBuilder(2, 3, 4, m_dy)
    _KEEP.append((m_dy, b_dy))
    b_dg = dg.SparseLSTMBuilder(2, 3, 4, m_dg)
    assert [[p.shape() for p in layer] for layer in b_dy.get_parameters()] == \
        [[tuple(p.shape()) for p in layer] for layer in b_dg.get_parameters()]


def test_birnn_same_outputs():
    m_dy, m_dg = dy.ParameterCollection(), dg.ParameterCollection()
    b_dy = dy.BiRNNBuilder(2, 3, 6, m_dy, dy.VanillaLSTMBuilder)
    _KEEP.append((m_dy, b_dy))
    b_dg = dg.BiRNNBuilder(2, 3, 6, m_dg, dg.VanillaLSTMBuilder)
    ps_dy, ps_dg = m_dy.parameters_list(), m_dg.parameters_list()
    assert [p.name() for p in ps_dy] == [p.name() for p in ps_dg]
    rng = np.random.default_rng(5)
    for a, b in zip(ps_dy, ps_dg):
        value = rng.uniform(-0.5, 0.5, size=a.shape())
        a.set_value(value)
        b.set_value(value)
    xs = [rng.normal(size=3) for _ in range(4)]
    outs = []
    for lib, b in ((dy, b_dy), (dg, b_dg)):
        lib.renew_cg()
        outs.append([o.npvalue() for o in b.transduce([lib.inputTensor(x) for x in xs])])
    for a, b in zip(*outs):
        assert a.shape == (6,)
        np.testing.assert_allclose(b.ravel(), a.ravel(), atol=TOL, rtol=TOL)

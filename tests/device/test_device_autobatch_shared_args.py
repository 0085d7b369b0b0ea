"""Groups whose members all read one argument node (tests/engine/test_autobatch_shared_args.py)
on the emulated device EMU:0: the argument is gathered on the device, a copy per member, and
backward adds the copies' gradients back; values and gradients equal the per-node executor's."""
import numpy as np
import pytest

import dynagraph as dy

DEV = "EMU:0"
H = 6


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    dy.init(device="CPU", device_mem=0, memory_policy="auto")
    dy.renew_cg(autobatching=False)


def _run(autobatch):
    dy.init(device=DEV)
    rng = np.random.default_rng(2)
    pc = dy.ParameterCollection()
    W, U, b = pc.add_parameters((H, H)), pc.add_parameters((H, H)), pc.add_parameters(H)
    for p in (W, U, b):
        p.set_value(rng.normal(0, 0.5, p.shape()))
    dy.renew_cg(autobatching=autobatch)
    a = dy.inputVector(list(rng.uniform(-1, 1, H)))
    c = dy.inputVector(list(rng.uniform(-1, 1, H)))
    x = W * a + b
    t1, u, t2 = dy.tanh(x), dy.tanh(c), dy.tanh(x)  # tanh(x) twice beside tanh(c)
    y1, y2 = U * x, U * x  # one product twice
    m1, m2 = dy.cmult(x, x), dy.cmult(x, x)
    watch = [x, t1, t2, y1, y2, m1, m2]
    loss = dy.sum_elems(t1 + 2.0 * dy.cmult(t2, u) + dy.cmult(y1, y2) + m1 - 0.5 * m2)
    assert loss.device() == DEV
    value = loss.value()
    values = [e.npvalue().copy() for e in watch]
    loss.backward(full=True)
    grads = [p.grad_as_array().copy() for p in (W, U, b)] + [e.gradient().copy() for e in watch]
    dy.renew_cg(autobatching=False)
    return value, values, grads


def test_shared_argument_on_the_device_matches_per_node():
    v0, vals0, g0 = _run(False)
    v1, vals1, g1 = _run(True)
    assert v1 == pytest.approx(v0, rel=1e-5, abs=1e-6)
    for i, (p, q) in enumerate(zip(vals1, vals0)):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6, err_msg=f"value {i}")
    for i, (p, q) in enumerate(zip(g1, g0)):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6, err_msg=f"gradient {i}")

"""dynagraph vs dynet38 on the contract, norm, lstm and sparse families:
identical graphs from identical inputs must give identical shapes, values and
input gradients. Known DyNet differences are left out: it gives dropout masks
of the fused LSTM gates a zero gradient (dynagraph differentiates them), it
accumulates the contract3d_1d* forward value into uninitialised memory (their
values are therefore checked against NumPy; gradients still against DyNet), and
it rejects batched inputs to contract3d_1d_1d, weight_norm, sparsemax and
constrained_softmax (dynagraph treats batch elements independently)."""
import zlib

import numpy as np
import pytest

import dynagraph as dg
from compare_util import run

dynet = pytest.importorskip("dynet")

pytestmark = pytest.mark.compare

H, I = 3, 4
W = [((4 * H, I), False), ((4 * H, H), False), ((4 * H,), False)]


def v(*shape, batched=False):
    return (shape, batched)


CASES = {
    "contract3d_1d": ([v(2, 3, 4), v(4)], lambda m, x, y: m.contract3d_1d(x, y)),
    "contract3d_1d_batched_x": ([v(2, 3, 4, 2, batched=True), v(4)], lambda m, x, y: m.contract3d_1d(x, y)),
    "contract3d_1d_bias": ([v(2, 3, 4), v(4), v(2, 3)], lambda m, x, y, b: m.contract3d_1d_bias(x, y, b)),
    "contract3d_1d_1d": ([v(2, 3, 4), v(4), v(3)], lambda m, x, y, z: m.contract3d_1d_1d(x, y, z)),
    "contract3d_1d_1d_bias": ([v(2, 3, 4), v(4), v(3), v(2)],
                              lambda m, x, y, z, b: m.contract3d_1d_1d_bias(x, y, z, b)),
    "layer_norm": ([v(5), v(5), v(5)], lambda m, x, g, b: m.layer_norm(x, g, b)),
    "layer_norm_matrix_batch": ([v(3, 4, 2, batched=True), v(3, 4), v(3, 4)],
                                lambda m, x, g, b: m.layer_norm(x, g, b)),
    "weight_norm": ([v(3, 2), v(1)], lambda m, w, g: m.weight_norm(w, g)),
    "lstm_gates": ([v(I), v(H)] + W, lambda m, x, h, wx, wh, b: m.vanilla_lstm_gates(x, h, wx, wh, b)),
    "lstm_gates_batch": ([v(I, 2, batched=True), v(H, 2, batched=True)] + W,
                         lambda m, x, h, wx, wh, b: m.vanilla_lstm_gates(x, h, wx, wh, b)),
    "lstm_gates_concat": ([v(1), v(3), v(H)] + W,
                          lambda m, x1, x2, h, wx, wh, b: m.vanilla_lstm_gates_concat([x1, x2], h, wx, wh, b)),
    "lstm_gates_dropout": ([v(I), v(H)] + W,
                           lambda m, x, h, wx, wh, b: m.vanilla_lstm_gates_dropout(
                               x, h, wx, wh, b, m.inputTensor(MASK_X), m.inputTensor(MASK_H))),
    "lstm_gates_dropout_concat": ([v(2), v(2), v(H)] + W,
                                  lambda m, x1, x2, h, wx, wh, b: m.vanilla_lstm_gates_dropout_concat(
                                      [x1, x2], h, wx, wh, b, m.inputTensor(MASK_X), m.inputTensor(MASK_H))),
    "lstm_c": ([v(H), v(4 * H)], lambda m, c, g: m.vanilla_lstm_c(c, g)),
    "lstm_c_batch": ([v(H, 2, batched=True), v(4 * H, 2, batched=True)], lambda m, c, g: m.vanilla_lstm_c(c, g)),
    "lstm_h": ([v(H), v(4 * H)], lambda m, c, g: m.vanilla_lstm_h(c, g)),
    "lstm_step": ([v(I), v(H), v(H)] + W,
                  lambda m, x, h, c, wx, wh, b: m.vanilla_lstm_h(
                      m.vanilla_lstm_c(c, m.vanilla_lstm_gates(x, h, wx, wh, b)),
                      m.vanilla_lstm_gates(x, h, wx, wh, b))),
    "sparsemax": ([v(6)], lambda m, x: m.sparsemax(x)),
    "constrained_softmax": ([v(5), v(5)], lambda m, x, u: m.constrained_softmax(x, m.logistic(u) * 0.6)),
}
# DyNet's contract3d_1d* values depend on stale memory: values come from NumPy.
NUMPY_VALUES = {
    "contract3d_1d": lambda x, y: np.einsum("ijk,k->ij", x, y),
    "contract3d_1d_batched_x": lambda x, y: np.einsum("ijkb,k->ijb", x, y),
    "contract3d_1d_bias": lambda x, y, b: np.einsum("ijk,k->ij", x, y) + b,
    "contract3d_1d_1d": lambda x, y, z: np.einsum("ijk,k,j->i", x, y, z),
    "contract3d_1d_1d_bias": lambda x, y, z, b: np.einsum("ijk,k,j->i", x, y, z) + b,
}
MASK_X = np.array([1.25, 0.0, 1.25, 1.25], dtype=np.float32)
MASK_H = np.array([0.0, 2.0, 2.0], dtype=np.float32)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_dynet(name):
    specs, build = CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inputs = [(rng.standard_normal(s).astype(np.float32), b) for s, b in specs]
    dim_ref, val_ref, grads_ref = run(dynet, inputs, build)
    dim, val, grads = run(dg, inputs, build)
    if name in NUMPY_VALUES:
        val_ref = NUMPY_VALUES[name](*[a.astype(np.float64) for a, _ in inputs])
    assert dim == dim_ref
    np.testing.assert_allclose(val.reshape(val_ref.shape), val_ref, rtol=1e-5, atol=1e-5)
    for k, (g, g_ref) in enumerate(zip(grads, grads_ref)):
        np.testing.assert_allclose(g.reshape(g_ref.shape), g_ref, rtol=1e-4, atol=1e-5, err_msg=f"input {k}")

"""Specs for the contract, norm, lstm and sparse families."""
import numpy as np

import dynagraph as dy

from op_specs import OpSpec


def shapes(*ss):
    return lambda rng: list(ss)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def gates_ref(x, h, Wx, Wh, b, mx=None, mh=None):
    if mx is not None:
        x, h = x * mx, h * mh
    z = Wx @ x + Wh @ h + b
    H = len(h)
    z[H:2 * H] += 1
    return np.concatenate([sigmoid(z[:3 * H]), np.tanh(z[3 * H:])])


def layer_norm_ref(x, g, b):
    return g * (x - x.mean()) / (x.std() + 1e-8) + b


def sparsemax_ref(x):
    z = np.sort(x)[::-1]
    cum = np.cumsum(z)
    k = np.arange(1, len(x) + 1)
    kmax = k[1 + k * z > cum].max()
    return np.maximum(x - (cum[kmax - 1] - 1) / kmax, 0)


def csoftmax_ref(x, u):
    active = np.zeros(len(x), bool)
    while True:
        e = np.exp(x - x.max())
        p = np.where(active, u, (1 - u[active].sum()) * e / e[~active].sum())
        grow = ~active & (p > u)
        if not grow.any():
            return p
        active |= grow


SM_SCORES = np.array([1.0, 0.7, 0.1, -0.5, -1.2, 0.5])
CS_SCORES = np.array([1.5, 1.0, 0.0, -0.5, 0.3])
CS_BOUNDS = np.array([0.3, 0.6, 0.6, 0.6, 0.6])
H, I = 2, 3
GATE_W = [(4 * H, I), (4 * H, H), (4 * H,)]

SPECS = [
    OpSpec("contract3d_1d", dy.contract3d_1d, shapes((2, 3, 4), (4,)), lambda x, y: np.einsum("ijk,k->ij", x, y)),
    OpSpec("contract3d_1d", dy.contract3d_1d, shapes((2, 3, 4), (4,)), lambda x, y: np.einsum("ijk,k->ij", x, y),
           batch_args=[1], name="shared_x"),
    OpSpec("contract3d_1d_bias", dy.contract3d_1d_bias, shapes((3, 2, 2), (2,), (3, 2)),
           lambda x, y, b: np.einsum("ijk,k->ij", x, y) + b),
    OpSpec("contract3d_1d_1d", dy.contract3d_1d_1d, shapes((2, 3, 4), (4,), (3,)),
           lambda x, y, z: np.einsum("ijk,k,j->i", x, y, z)),
    OpSpec("contract3d_1d_1d_bias", dy.contract3d_1d_1d_bias, shapes((2, 3, 4), (4,), (3,), (2,)),
           lambda x, y, z, b: np.einsum("ijk,k,j->i", x, y, z) + b, batch_args=[1, 2]),
    OpSpec("layer_norm", dy.layer_norm, shapes((5,), (5,), (5,)), layer_norm_ref),
    OpSpec("layer_norm", dy.layer_norm, shapes((3, 2), (3, 2), (3, 2)), layer_norm_ref, batch_args=[0],
           name="matrix_shared_gain"),
    OpSpec("weight_norm", dy.weight_norm, shapes((3, 2), (1,)), lambda w, g: g * w / np.linalg.norm(w)),
    OpSpec("weight_norm", dy.weight_norm, shapes((4,), (1,)), lambda w, g: g * w / np.linalg.norm(w),
           batch_args=[0], name="shared_gain"),
    OpSpec("weight_norm", dy.weight_norm, shapes((4,), (1,)), lambda w, g: g * w / np.linalg.norm(w),
           batch_args=[1], name="shared_weight"),
    OpSpec("layer_norm", dy.layer_norm, shapes((4,), (4,), (4,)), layer_norm_ref, batch_args=[1, 2],
           name="shared_x"),
    OpSpec("vanilla_lstm_gates", dy.vanilla_lstm_gates, shapes((I,), (H,), *GATE_W), gates_ref, batch_args=[0, 1]),
    OpSpec("vanilla_lstm_gates", lambda x1, x2, h, Wx, Wh, b: dy.vanilla_lstm_gates_concat([x1, x2], h, Wx, Wh, b),
           shapes((1,), (2,), (H,), *GATE_W),
           lambda x1, x2, h, Wx, Wh, b: gates_ref(np.concatenate([x1, x2]), h, Wx, Wh, b), name="concat"),
    OpSpec("vanilla_lstm_gates", dy.vanilla_lstm_gates_dropout, shapes((I,), (H,), *GATE_W, (I,), (H,)), gates_ref,
           batch_args=[0, 1, 5, 6], name="dropout"),
    OpSpec("vanilla_lstm_gates",
           lambda x1, x2, h, Wx, Wh, b, mx, mh: dy.vanilla_lstm_gates_dropout_concat([x1, x2], h, Wx, Wh, b, mx, mh),
           shapes((2,), (1,), (H,), *GATE_W, (I,), (H,)),
           lambda x1, x2, h, Wx, Wh, b, mx, mh: gates_ref(np.concatenate([x1, x2]), h, Wx, Wh, b, mx, mh),
           name="dropout_concat"),
    OpSpec("vanilla_lstm_c", dy.vanilla_lstm_c, shapes((3,), (12,)), lambda c, g: g[:3] * g[9:] + g[3:6] * c),
    OpSpec("vanilla_lstm_h", dy.vanilla_lstm_h, shapes((3,), (12,)), lambda c, g: g[6:9] * np.tanh(c)),
    # support {1.0, 0.7, 0.5} with tau = 0.4: every entry stays >= 0.06 from the threshold
    OpSpec("sparsemax", dy.sparsemax, shapes((6,)), sparsemax_ref,
           sample=lambda r, s: (SM_SCORES + r.uniform(-0.02, 0.02, s)).astype(np.float32)),
    # x near (1.5, 1, 0, -0.5, 0.3) and bounds u = (0.3, 0.6, ...) + 0.05 v: the first score is clamped
    # (p = u_0) with a wide margin, the others stay well below their bounds.
    OpSpec("constrained_softmax", lambda x, v: dy.constrained_softmax(x, dy.inputTensor(CS_BOUNDS) + 0.05 * v),
           shapes((5,), (5,)), lambda x, v: csoftmax_ref(x, CS_BOUNDS + 0.05 * v), batch_args=[0],
           sample=lambda r, s: (CS_SCORES + r.uniform(-0.05, 0.05, s)).astype(np.float32)),
    OpSpec("constrained_softmax", lambda x, v: dy.constrained_softmax(x, dy.inputTensor(CS_BOUNDS) + 0.05 * v),
           shapes((5,), (5,)), lambda x, v: csoftmax_ref(x, CS_BOUNDS + 0.05 * v), name="batched_bounds",
           sample=lambda r, s: (CS_SCORES + r.uniform(-0.05, 0.05, s)).astype(np.float32)),
]

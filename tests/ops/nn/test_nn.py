"""Targeted tests of the contract, norm, lstm and sparse families and of the
input helpers sparse_inputTensor / inputTensorTranspose / to_device."""
import numpy as np
import pytest

import dynagraph as dy
from nn_specs import csoftmax_ref, gates_ref, sparsemax_ref

RNG = np.random.default_rng(0)


def inp(shape, batched=False):
    return dy.inputTensor(RNG.standard_normal(shape).astype(np.float32), batched=batched)


@pytest.mark.parametrize("build,match", [
    (lambda: dy.contract3d_1d(inp((2, 3, 4)), inp((3,))), r"contract3d_1d: y must .*\{2,3,4\}, \{3\}"),
    (lambda: dy.contract3d_1d(inp((2, 3)), inp((3,))), r"contract3d_1d: x must be a rank-3"),
    (lambda: dy.contract3d_1d_bias(inp((2, 3, 4)), inp((4,)), inp((3, 2))), r"contract3d_1d_bias: bias"),
    (lambda: dy.contract3d_1d_1d(inp((2, 3, 4)), inp((4,)), inp((2,))), r"contract3d_1d_1d: z must"),
    (lambda: dy.contract3d_1d_1d_bias(inp((2, 3, 4)), inp((4,)), inp((3,)), inp((3,))),
     r"contract3d_1d_1d_bias: bias"),
    (lambda: dy.layer_norm(inp((5,)), inp((4,)), inp((5,))), r"layer_norm: gain .*\{5\}, \{4\}, \{5\}"),
    (lambda: dy.weight_norm(inp((3, 2)), inp((2,))), r"weight_norm: gain g must have exactly one"),
    (lambda: dy.vanilla_lstm_gates(inp((3,)), inp((2,)), inp((8, 4)), inp((8, 2)), inp((8,))),
     r"vanilla_lstm_gates: Wx must have as many columns"),
    (lambda: dy.vanilla_lstm_gates(inp((3,)), inp((2,)), inp((6, 3)), inp((8, 2)), inp((8,))),
     r"vanilla_lstm_gates: Wx, Wh and b must have 4 \* H rows"),
    (lambda: dy.vanilla_lstm_gates_dropout(inp((3,)), inp((2,)), inp((8, 3)), inp((8, 2)), inp((8,)), inp((2,)),
                                           inp((2,))), r"vanilla_lstm_gates_dropout: dropout_mask_x"),
    (lambda: dy.vanilla_lstm_gates_concat([], inp((2,)), inp((8, 3)), inp((8, 2)), inp((8,))),
     r"needs at least one input"),
    (lambda: dy.vanilla_lstm_gates(inp((3,)), inp((2,)), inp((8, 3)), inp((8, 2)), inp((8,)), -1.0),
     r"weightnoise_std must be >= 0"),
    (lambda: dy.vanilla_lstm_c(inp((3,)), inp((8,))), r"vanilla_lstm_c: gates must be 4 times .*\{3\}, \{8\}"),
    (lambda: dy.vanilla_lstm_h(inp((2, 2)), inp((8,))), r"vanilla_lstm_h: arguments must be vectors"),
    (lambda: dy.sparsemax(inp((3, 2))), r"sparsemax: argument must be a vector; argument shapes: \{3,2\}"),
    (lambda: dy.constrained_softmax(inp((3,)), inp((4,))), r"constrained_softmax: .*\{3\}, \{4\}"),
])
def test_bad_shapes_raise_value_error_naming_op_and_shapes(build, match):
    dy.renew_cg()
    with pytest.raises(ValueError, match=match):
        build()


def test_lstm_step_from_fused_kernels_matches_numpy():
    H, I = 3, 4
    x, h, c = RNG.standard_normal(I), RNG.standard_normal(H), RNG.standard_normal(H)
    Wx, Wh, b = RNG.standard_normal((4 * H, I)), RNG.standard_normal((4 * H, H)), RNG.standard_normal(4 * H)
    dy.renew_cg()
    g = dy.vanilla_lstm_gates(*[dy.inputTensor(a) for a in (x, h, Wx, Wh, b)])
    c_t = dy.vanilla_lstm_c(dy.inputTensor(c), g)
    h_t = dy.vanilla_lstm_h(c_t, g)
    gv = gates_ref(x, h, Wx, Wh, b)
    want_c = gv[:H] * gv[3 * H:] + gv[H:2 * H] * c
    np.testing.assert_allclose(h_t.npvalue(), gv[2 * H:3 * H] * np.tanh(want_c), rtol=1e-5, atol=1e-6)


def test_weight_noise_is_fresh_per_graph_and_zero_noise_is_exact():
    args = [RNG.standard_normal(s).astype(np.float32) for s in [(3,), (2,), (8, 3), (8, 2), (8,)]]
    dy.renew_cg()
    exact = dy.vanilla_lstm_gates(*[dy.inputTensor(a) for a in args]).npvalue()
    np.testing.assert_allclose(exact, gates_ref(*[a.astype(np.float64) for a in args]), rtol=1e-5, atol=1e-6)
    noisy = []
    for _ in range(2):
        dy.renew_cg()
        noisy.append(dy.vanilla_lstm_gates(*[dy.inputTensor(a) for a in args], weightnoise_std=0.5).npvalue())
    assert not np.allclose(noisy[0], exact) and not np.allclose(noisy[0], noisy[1])


def gate_preactivations(gates, H):
    """z from the gates (inverting sigmoid on i, f, o, the forget bias, and tanh on g)."""
    g = gates.astype(np.float64)
    z = np.concatenate([np.log(g[:3 * H] / (1 - g[:3 * H])), np.arctanh(g[3 * H:])])
    z[H:2 * H] -= 1.0
    return z


def noisy_gates(inputs, std, seed):
    dy.renew_cg()
    dy._core.set_seed(seed)
    return dy.vanilla_lstm_gates(*[dy.inputTensor(a) for a in inputs], weightnoise_std=std).npvalue()


def test_weight_noise_is_gaussian_on_each_weight_and_seeded():
    """With zero weights the pre-activations are the noise: b's alone for x = h = 0 (std s), and
    Wx's + Wh's + b's for x = 1, h = e_0 (independent: std s * sqrt(3)); the same seed draws the same."""
    H, std = 100, 0.4
    zeros = [np.zeros(s, np.float32) for s in [(4 * H, 1), (4 * H, H), (4 * H,)]]
    for xh, want in ((0.0, std), (1.0, std * np.sqrt(3.0))):
        h = np.zeros(H, np.float32)
        h[0] = xh
        inputs = [np.array([xh], np.float32), h, *zeros]
        z = np.concatenate([gate_preactivations(noisy_gates(inputs, std, seed), H) for seed in range(1, 21)])
        assert abs(z.mean()) < 5 * want / np.sqrt(z.size)
        assert abs(z.std() - want) < 0.04 * want
        np.testing.assert_array_equal(noisy_gates(inputs, std, seed=11), noisy_gates(inputs, std, seed=11))
        assert not np.array_equal(noisy_gates(inputs, std, seed=11), noisy_gates(inputs, std, seed=12))


def test_weight_noise_gradient_matches_finite_differences_under_a_fixed_seed():
    """Backward differentiates through the noisy weights forward used (re-seeding draws them again)."""
    inputs = [RNG.standard_normal(s).astype(np.float32) for s in [(3,), (2,), (8, 3), (8, 2), (8,)]]
    w = RNG.standard_normal(8)

    def loss(x, h):
        dy.renew_cg()
        dy._core.set_seed(5)
        xe, he = dy.inputTensor(x), dy.inputTensor(h)
        rest = [dy.inputTensor(a) for a in inputs[2:]]
        g = dy.vanilla_lstm_gates(xe, he, *rest, weightnoise_std=0.3)
        out = dy.dot_product(g, dy.inputTensor(w.astype(np.float32)))
        v = out.value()
        out.backward(full=True)
        return v, xe.gradient(), he.gradient()

    x, h = inputs[0].astype(np.float64), inputs[1].astype(np.float64)
    _, gx, gh = loss(x.astype(np.float32), h.astype(np.float32))
    eps = 1e-2
    for arr, grad, which in ((x, gx, 0), (h, gh, 1)):
        num = np.zeros_like(arr)
        for k in range(arr.size):
            d = np.zeros_like(arr)
            d[k] = eps
            args = [(x + d, h) if which == 0 else (x, h + d), (x - d, h) if which == 0 else (x, h - d)]
            vp, vm = (loss(a.astype(np.float32), b.astype(np.float32))[0] for a, b in args)
            num[k] = (vp - vm) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=2e-2, atol=2e-3)


def test_lstm_autobatched_matches_unbatched():
    H, I, n = 3, 2, 4
    xs = [RNG.standard_normal(I).astype(np.float32) for _ in range(n)]
    Wv = [RNG.standard_normal(s).astype(np.float32) for s in [(4 * H, I), (4 * H, H), (4 * H,)]]
    out = []
    for auto in (False, True):
        dy.renew_cg(autobatching=auto)
        W = [dy.inputTensor(a) for a in Wv]
        losses = []
        for x in xs:
            h, c = dy.zeros(H), dy.zeros(H)
            for _ in range(2):
                g = dy.vanilla_lstm_gates(dy.inputTensor(x), h, *W)
                c = dy.vanilla_lstm_c(c, g)
                h = dy.vanilla_lstm_h(c, dy.layer_norm(g, dy.ones(4 * H), dy.zeros(4 * H)))
            losses.append(dy.sum_elems(dy.sparsemax(h)))
        total = dy.esum(losses)
        v = total.value()
        total.backward(full=True)
        out.append((v, [w.gradient() for w in W]))
    dy.renew_cg(autobatching=False)
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5)
    for a, b in zip(out[0][1], out[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_sparsemax_is_sparse_and_sums_to_one():
    dy.renew_cg()
    x = np.array([2.0, 1.9, -1.0, 0.0, -3.0])
    p = dy.sparsemax(dy.inputTensor(x)).npvalue()
    np.testing.assert_allclose(p, sparsemax_ref(x), atol=1e-6)
    assert p.sum() == pytest.approx(1.0) and (p == 0).sum() == 3


def test_constrained_softmax_respects_bounds_and_is_softmax_without_them():
    dy.renew_cg()
    x = np.array([3.0, 1.0, 0.5, -1.0])
    u = np.array([0.4, 0.5, 0.5, 0.5])
    p = dy.constrained_softmax(dy.inputTensor(x), dy.inputTensor(u)).npvalue()
    np.testing.assert_allclose(p, csoftmax_ref(x, u), atol=1e-6)
    assert p[0] == pytest.approx(0.4) and p.sum() == pytest.approx(1.0) and (p <= u + 1e-6).all()
    free = dy.constrained_softmax(dy.inputTensor(x), dy.ones(4)).npvalue()
    np.testing.assert_allclose(free, np.exp(x) / np.exp(x).sum(), rtol=1e-5)


def test_layer_norm_of_a_constant_vector_is_the_bias():
    dy.renew_cg()
    y = dy.layer_norm(dy.inputTensor(np.ones(4)), dy.inputTensor(np.full(4, 2.0)), dy.inputTensor(np.arange(4.0)))
    np.testing.assert_allclose(y.npvalue(), np.arange(4.0))


# ---- input helpers
def test_sparse_input_tensor_fills_default_and_batches():
    dy.renew_cg()
    e = dy.sparse_inputTensor([[0, 2], [1, 0]], [5.0, 7.0], (3, 2), batched=True, defval=1)
    assert e.dim() == ((3,), 2)
    np.testing.assert_array_equal(e.npvalue(), [[1, 5], [1, 1], [7, 1]])



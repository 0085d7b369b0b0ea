"""Targeted tests of the convolution families: DyNet shape rules, error
messages, batch broadcasting of filters and autobatching."""
import numpy as np
import pytest

import dynagraph as dy
from conv_specs import conv_ref, pool_ref

RNG = np.random.default_rng(0)


def inp(shape, batched=False):
    return dy.inputTensor(RNG.standard_normal(shape).astype(np.float32), batched=batched)


@pytest.mark.parametrize("shape,fshape,stride,valid,want", [
    ((28, 28, 1), (3, 3, 1, 8), [1, 1], True, (26, 26, 8)),
    ((28, 28, 1), (3, 3, 1, 8), [1, 1], False, (28, 28, 8)),
    ((28, 28, 3), (5, 5, 3, 4), [2, 2], False, (14, 14, 4)),
    ((7, 9, 2), (2, 4, 2, 1), [3, 2], True, (2, 3, 1)),
])
def test_conv2d_output_shapes_follow_tensorflow_rules(shape, fshape, stride, valid, want):
    dy.renew_cg()
    y = dy.conv2d(inp(shape), inp(fshape), stride, is_valid=valid)
    assert y.dim() == (want, 1)


def test_conv2d_batch_with_shared_filter_sums_filter_gradient():
    dy.renew_cg()
    xs = RNG.standard_normal((5, 5, 2, 3)).astype(np.float32)
    f = dy.inputTensor(RNG.standard_normal((3, 3, 2, 2)).astype(np.float32))
    y = dy.conv2d(dy.inputTensor(xs, batched=True), f, [1, 1])
    assert y.dim() == ((3, 3, 2), 3)
    dy.sum_batches(dy.sum_elems(y)).backward(full=True)
    fb = f.gradient()
    total = np.zeros_like(fb)
    # Gradient of sum(conv(x, f)) wrt f[i, j, c, o] = sum over positions of the matching input pixels.
    for b in range(3):
        for i in range(3):
            for j in range(3):
                total[i, j, :, :] += xs[i:i + 3, j:j + 3, :, b].sum(axis=(0, 1))[:, None]
    np.testing.assert_allclose(fb, total, rtol=1e-4, atol=1e-4)


def test_conv2d_bias_adds_bias_per_channel():
    dy.renew_cg()
    x, f = inp((4, 4, 1)), inp((2, 2, 1, 3))
    b = dy.inputTensor(np.array([1.0, -2.0, 3.0], dtype=np.float32))
    got = dy.conv2d_bias(x, f, b, [1, 1]).npvalue()
    want = conv_ref(x.npvalue(), f.npvalue(), (1, 1), True) + np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("build,match", [
    (lambda: dy.conv2d(inp((5, 5, 2)), inp((3, 3, 1, 4)), [1, 1]), r"conv2d: input channels.*\{5,5,2\}.*\{3,3,1,4\}"),
    (lambda: dy.conv2d(inp((2, 5, 1)), inp((3, 3, 1, 4)), [1, 1]), r"conv2d: VALID.*\{2,5,1\}"),
    (lambda: dy.conv2d(inp((5, 5, 1)), inp((3, 3, 1, 4)), [1]), r"conv2d: stride must have 2 entries"),
    (lambda: dy.conv2d(inp((5, 5, 1)), inp((3, 3, 1, 4)), [0, 1]), r"conv2d: stride entries"),
    (lambda: dy.conv2d_bias(inp((5, 5, 1)), inp((3, 3, 1, 4)), inp((3,)), [1, 1]), r"conv2d_bias: bias"),
    (lambda: dy.maxpooling2d(inp((3, 3, 1)), [4, 2], [1, 1]), r"maxpooling2d: VALID"),
    (lambda: dy.maxpooling2d(inp((3, 3, 1)), [2, 2, 2], [1, 1]), r"maxpooling2d: ksize must have 2"),
    (lambda: dy.filter1d_narrow(inp((3, 5)), inp((2, 2))), r"filter1d_narrow: .*rows.*\{3,5\}.*\{2,2\}"),
    (lambda: dy.filter1d_narrow(inp((3, 2)), inp((3, 4))), r"filter1d_narrow: filter is wider"),
    (lambda: dy.kmax_pooling(inp((3, 2)), 3), r"kmax_pooling: k = 3"),
    (lambda: dy.kmax_pooling(inp((3, 2)), 1, 2), r"kmax_pooling: axis 2"),
    (lambda: dy.fold_rows(inp((5, 2)), 2), r"fold_rows: nrows = 2"),
    (lambda: dy.kmh_ngram(inp((3, 2)), 3), r"kmh_ngram: n = 3"),
    (lambda: dy.circ_conv(inp((4,)), inp((3,))), r"circ_conv: .*\{4\}, \{3\}"),
    (lambda: dy.circ_corr(inp((4, 2)), inp((4, 2))), r"circ_corr: .*vectors"),
])
def test_bad_shapes_raise_value_error_naming_op_and_shapes(build, match):
    dy.renew_cg()
    with pytest.raises(ValueError, match=match):
        build()


def test_maxpooling_same_padding_never_wins():
    dy.renew_cg()
    x = -np.abs(RNG.standard_normal((5, 5, 1))).astype(np.float32) - 1
    got = dy.maxpooling2d(dy.inputTensor(x), [2, 2], [2, 2], is_valid=False).npvalue()
    np.testing.assert_allclose(got, pool_ref(x, (2, 2), (2, 2), False))
    assert (got < 0).all()


def test_kmax_pooling_keeps_order_and_routes_gradient():
    dy.renew_cg()
    x = dy.inputTensor(np.array([[3.0, 1.0, 4.0, 1.5, 5.0]], dtype=np.float32))
    y = dy.kmax_pooling(x, 3)
    np.testing.assert_array_equal(y.npvalue(), [[3.0, 4.0, 5.0]])
    dy.dot_product(dy.reshape(y, (3,)), dy.inputTensor(np.array([1.0, 2.0, 3.0]))).backward(full=True)
    np.testing.assert_array_equal(x.gradient(), [[1.0, 0.0, 2.0, 0.0, 3.0]])


def test_conv_net_autobatched_matches_unbatched():
    xs = [RNG.standard_normal((6, 6, 1)).astype(np.float32) for _ in range(4)]
    fv = RNG.standard_normal((3, 3, 1, 2)).astype(np.float32)
    bv = RNG.standard_normal(2).astype(np.float32)
    results = []
    for auto in (False, True):
        dy.renew_cg(autobatching=auto)
        before = dy._core.autobatch_stats()
        fe, be = dy.inputTensor(fv), dy.inputTensor(bv)
        losses = [dy.sum_elems(dy.maxpooling2d(dy.rectify(dy.conv2d_bias(dy.inputTensor(x), fe, be, [1, 1])),
                                               [2, 2], [2, 2])) for x in xs]
        total = dy.esum(losses)
        v = total.value()
        if auto:  # 6 inputs alone, then conv, relu, pool, sum (4 nodes each) and esum: 11 groups
            after = dy._core.autobatch_stats()
            assert after["groups"] - before["groups"] == 11
        total.backward(full=True)
        results.append((v, fe.gradient(), be.gradient()))
    dy.renew_cg(autobatching=False)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-4, atol=1e-5)

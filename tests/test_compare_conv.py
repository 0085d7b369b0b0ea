"""dynagraph vs dynet38 on the convolution families: identical graphs from
identical inputs must give identical shapes, values and input gradients.
(DyNet drops the batch in filter1d_narrow / fold_rows and rejects batched
kmh_ngram; those cases are compared unbatched.)"""
import zlib

import numpy as np
import pytest

import dynagraph as dg

dynet = pytest.importorskip("dynet")

pytestmark = pytest.mark.compare

CASES = {
    "conv_valid": ([((5, 6, 2), False), ((3, 2, 2, 4), False)], lambda m, x, f: m.conv2d(x, f, [1, 1])),
    "conv_same_stride2": ([((5, 6, 2), False), ((3, 2, 2, 4), False)],
                          lambda m, x, f: m.conv2d(x, f, [2, 2], False)),
    "conv_same_stride23": ([((5, 7, 2), False), ((3, 3, 2, 4), False)],
                           lambda m, x, f: m.conv2d(x, f, [2, 3], is_valid=False)),
    "conv_batch": ([((5, 6, 2, 3), True), ((3, 2, 2, 4), False)], lambda m, x, f: m.conv2d(x, f, [1, 2])),
    "conv_one_channel": ([((5, 6), False), ((3, 2, 1, 1), False)], lambda m, x, f: m.conv2d(x, f, [1, 1])),
    "conv_bias_same": ([((5, 6, 2, 3), True), ((3, 2, 2, 4), False), ((4,), False)],
                       lambda m, x, f, b: m.conv2d_bias(x, f, b, [1, 1], False)),
    "pool_valid": ([((5, 6, 2), False)], lambda m, x: m.maxpooling2d(x, [2, 3], [1, 1])),
    "pool_same_batch": ([((5, 6, 2, 2), True)], lambda m, x: m.maxpooling2d(x, [2, 2], [2, 2], False)),
    "pool_same_3x3": ([((7, 5, 3), False)], lambda m, x: m.maxpooling2d(x, [3, 3], [2, 2], False)),
    "filter1d_narrow": ([((3, 5), False), ((3, 2), False)], lambda m, x, f: m.filter1d_narrow(x, f)),
    "filter1d_narrow_many": ([((3, 5), False), ((3, 2, 4), False)], lambda m, x, f: m.filter1d_narrow(x, f)),
    "kmax_pooling": ([((3, 5), False)], lambda m, x: m.kmax_pooling(x, 2)),
    "kmax_pooling_axis0": ([((3, 5, 2), True)], lambda m, x: m.kmax_pooling(x, 2, 0)),
    "fold_rows": ([((6, 3), False)], lambda m, x: m.fold_rows(x, 3)),
    "fold_rows_default": ([((4, 3), False)], lambda m, x: m.fold_rows(x)),
    "kmh_ngram": ([((3, 5), False)], lambda m, x: m.kmh_ngram(x, 3)),
    "circ_conv": ([((4,), False), ((4,), False)], lambda m, u, v: m.circ_conv(u, v)),
    "circ_corr": ([((5,), False), ((5,), False)], lambda m, u, v: m.circ_corr(u, v)),
    "small_cnn": ([((8, 8, 1, 2), True), ((3, 3, 1, 4), False), ((4,), False), ((2, 2, 4, 3), False)],
                  lambda m, x, f1, b1, f2: m.conv2d(m.maxpooling2d(m.rectify(m.conv2d_bias(x, f1, b1, [1, 1], False)),
                                                                   [2, 2], [2, 2]), f2, [1, 1])),
}


def run(m, arrays, batched, build):
    m.renew_cg()
    xs = [m.inputTensor(a, batched=b) for a, b in zip(arrays, batched)]
    y = build(m, *xs)
    axes, bd = y.dim()
    value = y.npvalue()
    n = int(np.prod(axes))
    w = np.random.default_rng(7).standard_normal(value.shape)
    loss = m.dot_product(m.reshape(y, (n,)), m.reshape(m.inputTensor(w, batched=bd > 1), (n,)))
    if bd > 1:
        loss = m.sum_batches(loss)
    loss.backward(full=True)
    return (tuple(axes), bd), value, [np.asarray(x.gradient()) for x in xs]


@pytest.mark.parametrize("name", list(CASES))
def test_matches_dynet(name):
    specs, build = CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = [rng.standard_normal(s).astype(np.float32) for s, _ in specs]
    batched = [b for _, b in specs]
    dim_ref, val_ref, grads_ref = run(dynet, arrays, batched, build)
    dim, val, grads = run(dg, arrays, batched, build)
    assert dim == dim_ref
    np.testing.assert_allclose(val.reshape(val_ref.shape), val_ref, rtol=1e-5, atol=1e-5)
    for k, (g, g_ref) in enumerate(zip(grads, grads_ref)):
        np.testing.assert_allclose(g.reshape(g_ref.shape), g_ref, rtol=1e-4, atol=1e-5, err_msg=f"input {k}")

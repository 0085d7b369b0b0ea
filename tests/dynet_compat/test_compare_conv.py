"""dynagraph vs dynet38 on the convolution families: identical graphs from
identical inputs must give identical shapes, values and input gradients.
(DyNet drops the batch in filter1d_narrow / fold_rows and rejects batched
kmh_ngram; those cases are compared unbatched.)"""
import zlib

import numpy as np
import pytest

import dynagraph as dg
from compare_util import assert_same

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


@pytest.mark.parametrize("name", list(CASES))
def test_matches_dynet(name):
    specs, build = CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inputs = [(rng.standard_normal(s).astype(np.float32), b) for s, b in specs]
    assert_same(dg, dynet, inputs, build, rtol=1e-4, atol=1e-5)

"""dynagraph vs dynet38 on the deterministic shape ops (and p = 0 dropout):
identical graphs from identical inputs must give identical values and input
gradients."""
import zlib

import numpy as np
import pytest

import dynagraph as dg
from compare_util import assert_same

dynet = pytest.importorskip("dynet")

pytestmark = pytest.mark.compare

B2 = ((3, 4, 2), True)  # a (3, 4) batch of 2

# name -> (input specs [(shape, batched)], build(module, *xs))
CASES = {
    "pick_row": ([((3, 4), False)], lambda m, x: m.pick(x, 1)),
    "pick_col": ([((3, 4), False)], lambda m, x: m.pick(x, 2, 1)),
    "pick_vector": ([((5,), False)], lambda m, x: m.pick(x, 4)),
    "pick_3d": ([((2, 3, 4), False)], lambda m, x: m.pick(x, 1, 1)),
    "pick_batched": ([B2], lambda m, x: m.pick(x, 2, 1)),
    "pick_batch": ([B2], lambda m, x: m.pick_batch(x, [2, 0])),
    "pick_batch_dim1": ([B2], lambda m, x: m.pick_batch(x, [3, 1], 1)),
    "pick_batch_broadcast": ([((3, 4), False)], lambda m, x: m.pick_batch(x, [1, 2])),
    "pick_batch_elem": ([B2], lambda m, x: m.pick_batch_elem(x, 1)),
    "pick_batch_elems": ([B2], lambda m, x: m.pick_batch_elems(x, [1, 0, 1])),
    "pickrange": ([((5,), False)], lambda m, x: m.pickrange(x, 1, 4)),
    "pick_range_axis1": ([B2], lambda m, x: m.pick_range(x, 1, 3, 1)),
    "select_rows": ([B2], lambda m, x: m.select_rows(x, [2, 0, 2])),
    "select_cols": ([B2], lambda m, x: m.select_cols(x, [3, 3, 0])),
    "reshape": ([((3, 4), False)], lambda m, x: m.reshape(x, (2, 6))),
    "reshape_keeps_batch": ([B2], lambda m, x: m.reshape(x, (12,))),
    "reshape_to_batch": ([((3, 4), False)], lambda m, x: m.reshape(x, (6,), batch_size=2)),
    "concatenate": ([((2,), False), ((3,), False)], lambda m, a, b: m.concatenate([a, b])),
    "concatenate_axis1": ([((3, 2), False), ((3, 4), False)], lambda m, a, b: m.concatenate([a, b], 1)),
    "concatenate_new_axis": ([((3, 4), False), ((3, 4), False)], lambda m, a, b: m.concatenate([a, b], 2)),
    "concatenate_broadcast": ([B2, ((3, 4), False)], lambda m, a, b: m.concatenate([a, b])),
    "concatenate_cols": ([((3,), False), ((3, 2), False)], lambda m, a, b: m.concatenate_cols([a, b])),
    "concatenate_to_batch": ([((3, 4), False), B2], lambda m, a, b: m.concatenate_to_batch([a, b])),
    "strided_select": ([((5, 4), False)], lambda m, x: m.strided_select(x, [2, 3], [0, 1], [5, 4])),
    "strided_select_batch": ([B2], lambda m, x: m.strided_select(x, [1, 2, 1], [1, 0, 1], [3, 4, 2])),
    "getitem_int": ([((3, 4), False)], lambda m, x: x[1]),
    "getitem_negative": ([B2], lambda m, x: x[-1]),
    "getitem_slice": ([((4, 3), False)], lambda m, x: x[1:3]),
    "getitem_step": ([((5, 3), False)], lambda m, x: x[0:5:2]),
    "getitem_2d_slice": ([((4, 5), False)], lambda m, x: x[1:3, 0:4]),
    "dropout_p0": ([((3, 4), False)], lambda m, x: m.dropout(x, 0.0)),
    "dropout_dim_p0": ([((3, 4), False)], lambda m, x: m.dropout_dim(x, 1, 0.0)),
    "dropout_batch_p0": ([B2], lambda m, x: m.dropout_batch(x, 0.0)),
    "block_dropout_p0": ([((3, 4), False)], lambda m, x: m.block_dropout(x, 0.0)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_dynet(name):
    specs, build = CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inputs = [(rng.standard_normal(s).astype(np.float32), b) for s, b in specs]
    assert_same(dg, dynet, inputs, build, rtol=1e-5, atol=1e-6)

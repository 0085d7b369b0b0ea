"""Specs for the shape family: pick, ranges, row/column selection, reshape,
concatenation and strided selection."""
import numpy as np

import dynagraph as dy

from op_specs import OpSpec


def shapes(*ss):
    return lambda rng: list(ss)


def identity_batch_order(x):
    """pick_batch_elems over every batch element in order (the identity)."""
    return dy.pick_batch_elems(x, list(range(x.dim()[1])))


def to_batch_and_back(a, b):
    """concatenate_to_batch of two batches of B, split again with pick_batch_elems: a + 2 b."""
    n = a.dim()[1]
    c = dy.concatenate_to_batch([a, b])
    return dy.pick_batch_elems(c, list(range(n))) + 2 * dy.pick_batch_elems(c, list(range(n, 2 * n)))


SPECS = [
    # pick: one position of an axis, that axis removed (a vector gives shape (1,))
    OpSpec("pick", lambda x: dy.pick(x, 1), shapes((3, 4)), lambda x: x[1], name="row"),
    OpSpec("pick", lambda x: dy.pick(x, 2, 1), shapes((3, 4)), lambda x: x[:, 2], name="column"),
    OpSpec("pick", lambda x: dy.pick(x, 3), shapes((5,)), lambda x: x[3:4], name="vector"),
    OpSpec("pick", lambda x: dy.pick(x, 1, 2), shapes((2, 3, 4)), lambda x: x[:, :, 1], name="axis2"),
    OpSpec("pick", lambda x: x[-1], shapes((3, 2)), lambda x: x[-1], name="getitem"),
    # pick with a list: one index per batch element (pick_batch); an unbatched x broadcasts
    OpSpec("pick", lambda x: dy.pick_batch(x, [2, 0, 2]), shapes((3, 2)),
           lambda x: np.stack([x[2], x[0], x[2]], axis=-1), batch=False, name="pick_batch"),
    OpSpec("pick_batch_elems", lambda x: dy.pick_batch_elems(x, [0, 0]), shapes((3, 2)),
           lambda x: np.stack([x, x], axis=-1), batch=False),
    OpSpec("pick_batch_elems", lambda x: dy.pick_batch_elem(x, 0), shapes((3,)), lambda x: x, batch=False,
           name="elem"),
    OpSpec("pick_batch_elems", identity_batch_order, shapes((2, 3)), lambda x: x, name="all"),
    OpSpec("pick_range", lambda x: dy.pick_range(x, 1, 3), shapes((4, 3)), lambda x: x[1:3]),
    OpSpec("pick_range", lambda x: dy.pickrange(x, 1, 4), shapes((5,)), lambda x: x[1:4], name="vector"),
    OpSpec("pick_range", lambda x: dy.pick_range(x, 0, 2, 1), shapes((3, 4)), lambda x: x[:, 0:2], name="axis1"),
    OpSpec("pick_range", lambda x: x[1:], shapes((3, 2)), lambda x: x[1:], name="getitem"),
    OpSpec("select_rows", lambda x: dy.select_rows(x, [2, 0, 2]), shapes((4, 3)), lambda x: x[[2, 0, 2]]),
    OpSpec("select_rows", lambda x: dy.select_rows(x, [1]), shapes((3,)), lambda x: x[[1]], name="vector"),
    OpSpec("select_cols", lambda x: dy.select_cols(x, [3, 1, 1]), shapes((3, 4)), lambda x: x[:, [3, 1, 1]]),
    OpSpec("reshape", lambda x: dy.reshape(x, (2, 6)), shapes((3, 4)), lambda x: x.reshape((2, 6), order="F")),
    OpSpec("reshape", lambda x: dy.reshape(x, (6,)), shapes((2, 3)), lambda x: x.reshape(6, order="F"),
           name="flatten"),
    OpSpec("concatenate", lambda a, b, c: dy.concatenate([a, b, c]), shapes((2,), (3,), (1,)),
           lambda a, b, c: np.concatenate([a, b, c])),
    OpSpec("concatenate", lambda a, b: dy.concatenate([a, b], 1), shapes((3, 2), (3, 1)),
           lambda a, b: np.concatenate([a, b], 1), name="axis1"),
    OpSpec("concatenate", lambda a, b: dy.concatenate([a, b], 0), shapes((1, 3), (2, 3)),
           lambda a, b: np.concatenate([a, b], 0), name="matrix_rows"),
    OpSpec("concatenate", lambda a, b: dy.concatenate([a, b], 2), shapes((2, 3), (2, 3)),
           lambda a, b: np.stack([a, b], 2), name="new_axis"),
    OpSpec("concatenate", lambda a, b: dy.concatenate_cols([a, b]), shapes((3,), (3,)),
           lambda a, b: np.stack([a, b], 1), name="cols"),
    OpSpec("concatenate", lambda h, x: dy.concatenate([h, x]), shapes((3,), (2,)),
           lambda h, x: np.concatenate([h, x]), name="broadcast", batch_args=[1]),
    OpSpec("concatenate", lambda a: dy.concatenate([a]), shapes((3,)), lambda a: a, name="single"),
    OpSpec("concatenate_to_batch", lambda a, b: dy.concatenate_to_batch([a, b]), shapes((3,), (3,)),
           lambda a, b: np.stack([a, b], -1), batch=False),
    OpSpec("concatenate_to_batch", to_batch_and_back, shapes((3, 2), (3, 2)), lambda a, b: a + 2 * b,
           name="batched"),
    OpSpec("strided_select", lambda x: dy.strided_select(x, [2, 2], [1, 0], [4, 5]), shapes((4, 5)),
           lambda x: x[1:4:2, 0:5:2]),
    OpSpec("strided_select", lambda x: dy.strided_select(x, [1, 2], [], []), shapes((2, 5)),
           lambda x: x[:, ::2], name="defaults"),
    OpSpec("strided_select", lambda x: x[::2, 1:3], shapes((5, 4)), lambda x: x[::2, 1:3], name="getitem"),
]

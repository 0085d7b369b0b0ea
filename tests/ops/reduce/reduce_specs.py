"""Specs for the reduce family (csrc/ops/reduce.cc).

Ops that reduce over the batch cannot be described by a per-sample reference:
their values are checked in test_reduce.py, their gradients here.
"""
import itertools

import numpy as np

import dynagraph as dy

from op_specs import OpSpec
from softmax_loss_specs import spaced

_draws = itertools.count()


def apart_across_draws(rng, shape):
    """Values whose consecutive draws (the elements of a batch of two) differ by
    at least 1 everywhere: the std of two values has a kink where they meet, and
    finite differences must not straddle it (a near tie failed once, seed 2055)."""
    return (rng.uniform(-1, 1, shape) + 3.0 * (next(_draws) % 2)).astype(np.float32)


def moment_ref(x, axes, r, n=0):
    count = n or int(np.prod([x.shape[a] for a in axes]))
    return np.sum(x ** r, axis=tuple(axes)) / count


BATCH_VALUES = {"covered_by": "test_reduce.py::test_batch_reductions_match_numpy"}

SPECS = [
    OpSpec("sum_elems", dy.sum_elems, lambda r: [(2, 3)], lambda x: np.array([x.sum()])),
    OpSpec("sum_batches", dy.sum_batches, lambda r: [(2, 3)], None, extra=BATCH_VALUES),
    OpSpec("sum_dim", lambda x: dy.sum_dim(x, [0]), lambda r: [(2, 3)], lambda x: x.sum(axis=0)),
    OpSpec("sum_dim", lambda x: dy.sum_dim(x, [1]), lambda r: [(2, 3, 2)], lambda x: x.sum(axis=1), name="middle"),
    OpSpec("sum_dim", lambda x: dy.sum_dim(x, [0, 2]), lambda r: [(2, 3, 2)], lambda x: x.sum(axis=(0, 2)),
           name="two_axes"),
    OpSpec("sum_dim", lambda x: dy.sum_dim(x, [1], True), lambda r: [(2, 3)], None, name="with_batch",
           extra=BATCH_VALUES),
    OpSpec("moment_dim", lambda x: dy.moment_elems(x, 3), lambda r: [(2, 3)],
           lambda x: np.array([np.mean(x ** 3)]), name="elems"),
    OpSpec("moment_dim", lambda x: dy.moment_dim(x, [1], 2, False), lambda r: [(3, 4)],
           lambda x: moment_ref(x, [1], 2)),
    OpSpec("moment_dim", lambda x: dy.moment_dim(x, [0], 2, False, 5), lambda r: [(3, 2)],
           lambda x: moment_ref(x, [0], 2, 5), name="divisor"),
    OpSpec("moment_dim", lambda x: dy.moment_batches(x, 2), lambda r: [(3,)], None, name="batches",
           extra=BATCH_VALUES),
    OpSpec("std_dim", dy.std_elems, lambda r: [(2, 3)], lambda x: np.array([np.std(x)]), name="elems"),
    OpSpec("std_dim", lambda x: dy.std_dim(x, [0]), lambda r: [(4, 3)], lambda x: np.std(x, axis=0)),
    OpSpec("std_dim", dy.std_batches, lambda r: [(3,)], None, name="batches", extra=BATCH_VALUES,
           sample=apart_across_draws),
    OpSpec("max_dim", dy.max_dim, lambda r: [(3, 4)], lambda x: x.max(axis=0), sample=spaced),
    OpSpec("max_dim", lambda x: dy.max_dim(x, 1), lambda r: [(3, 4)], lambda x: x.max(axis=1), sample=spaced,
           name="rows"),
    OpSpec("max_dim", lambda x: dy.max_dim(x, 2), lambda r: [(2, 2, 3)], lambda x: x.max(axis=2), sample=spaced,
           name="axis2"),
    OpSpec("min_dim", dy.min_dim, lambda r: [(3, 4)], lambda x: x.min(axis=0), sample=spaced),
    OpSpec("min_dim", lambda x: dy.min_dim(x, 1), lambda r: [(3, 4)], lambda x: x.min(axis=1), sample=spaced,
           name="rows"),
    OpSpec("cumsum", dy.cumsum, lambda r: [(4,)], lambda x: np.cumsum(x, axis=0)),
    OpSpec("cumsum", lambda x: dy.cumsum(x, 1), lambda r: [(3, 4)], lambda x: np.cumsum(x, axis=1), name="rows"),
    OpSpec("cumsum", lambda x: dy.cumsum(x, 2), lambda r: [(2, 2, 3)], lambda x: np.cumsum(x, axis=2),
           name="axis2"),
    OpSpec("argmax", dy.argmax, lambda r: [(5,)], lambda x: np.eye(5)[np.argmax(x)], sample=spaced),
    OpSpec("argmax", lambda x: dy.argmax(x, "straight_through_gradient"), lambda r: [(5,)],
           lambda x: np.eye(5)[np.argmax(x)], sample=spaced, grad=False, name="straight_through"),
]

"""Specs for the softmax/loss family (csrc/ops/softmax_loss.cc).

Indexed losses use the same index for every batch element here (the reference
sees one sample at a time); per-element indices are tested in test_softmax_loss.py.
"""
import math

import numpy as np

import dynagraph as dy

from op_specs import OpSpec, normal


def grid(rng, shape):
    """Multiples of 0.3: differences are 0 exactly or >= 0.1 away from the kinks at 0 and 1."""
    return (rng.integers(-5, 6, shape) * 0.3).astype(np.float32)


def spaced(rng, shape):
    """Distinct values >= 0.26 apart (no ties or near-ties; hinge terms away from their kinks)."""
    n = int(np.prod(shape))
    x = rng.permutation(n) * 0.3 + rng.uniform(-0.02, 0.02, n)
    return x.reshape(shape).astype(np.float32)


def probability(rng, shape):
    return rng.uniform(0.1, 0.9, shape).astype(np.float32)


def vec(rng):
    return [(int(rng.integers(2, 6)),)]


def softmax_ref(x, axis=0):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_ref(x, axis=0):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def logsumexp_ref(x, axis=0):
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True)), axis=axis)


def restricted_log_softmax_ref(x, restrict):
    out = np.full(x.shape, -1e4)
    r = np.array(restrict)
    out[r] = log_softmax_ref(x[r])
    return out


def batch_of(x):
    return x.dim()[1]


def hinge_ref(x, v, m=1.0):
    return np.array([sum(max(0.0, x[j] - x[v] + m) for j in range(len(x)) if j != v)])


def hinge_dim_ref(x, v, d, m=1.0):
    lines = x if d == 0 else x.T
    return np.array([hinge_ref(lines[:, c], v[c], m)[0] for c in range(lines.shape[1])])


SPECS = [
    OpSpec("softmax", dy.softmax, vec, softmax_ref),
    OpSpec("softmax", dy.softmax, lambda r: [(3, 4)], softmax_ref, name="columns"),
    OpSpec("softmax", lambda x: dy.softmax(x, 1), lambda r: [(3, 4)], lambda x: softmax_ref(x, 1), name="rows"),
    OpSpec("log_softmax", dy.log_softmax, vec, log_softmax_ref),
    OpSpec("log_softmax", dy.log_softmax, lambda r: [(3, 2)], log_softmax_ref, name="columns"),
    # -inf outside the restriction; bmax with a floor keeps the finite-difference check finite.
    OpSpec("log_softmax", lambda x: dy.bmax(dy.log_softmax(x, [0, 2, 3]), dy.constant((5,), -1e4)),
           lambda r: [(5,)], lambda x: restricted_log_softmax_ref(x, [0, 2, 3]), name="restricted"),
    OpSpec("logsumexp", lambda a, b, c: dy.logsumexp([a, b, c]), lambda r: [(3, 2)] * 3,
           lambda a, b, c: np.logaddexp(np.logaddexp(a, b), c)),
    OpSpec("logsumexp", lambda a, b: dy.logsumexp([a, b]), lambda r: [(4,)] * 2, np.logaddexp,
           name="shared_arg", batch_args=[0]),
    OpSpec("logsumexp_dim", dy.logsumexp_dim, lambda r: [(3, 4)], logsumexp_ref),
    OpSpec("logsumexp_dim", lambda x: dy.logsumexp_dim(x, 1), lambda r: [(3, 4)], lambda x: logsumexp_ref(x, 1),
           name="rows"),
    OpSpec("pickneglogsoftmax", lambda x: dy.pickneglogsoftmax_batch(x, [1] * batch_of(x)), vec,
           lambda x: -log_softmax_ref(x)[1:2]),
    OpSpec("pickneglogsoftmax", lambda x: dy.pickneglogsoftmax(x, 0), vec, lambda x: -log_softmax_ref(x)[0:1],
           name="int", batch=False),
    OpSpec("hinge", lambda x: dy.hinge_batch(x, [1] * batch_of(x)), lambda r: [(4,)], lambda x: hinge_ref(x, 1),
           sample=spaced),
    OpSpec("hinge", lambda x: dy.hinge(x, 2, 0.5), lambda r: [(5,)], lambda x: hinge_ref(x, 2, 0.5), sample=spaced,
           name="margin", batch=False),
    OpSpec("hinge_dim", lambda x: dy.hinge_dim(x, [0, 1, 2, 0]), lambda r: [(3, 4)],
           lambda x: hinge_dim_ref(x, [0, 1, 2, 0], 0), sample=spaced),
    OpSpec("hinge_dim", lambda x: dy.hinge_dim(x, [1, 0, 3], d=1, m=0.7), lambda r: [(3, 4)],
           lambda x: hinge_dim_ref(x, [1, 0, 3], 1, 0.7), sample=spaced, name="rows"),
    OpSpec("hinge_dim", lambda x: dy.hinge_dim(x, [[1, 0, 3]] * batch_of(x), d=1), lambda r: [(3, 4)],
           lambda x: hinge_dim_ref(x, [1, 0, 3], 1), sample=spaced, name="per_batch_indices"),
    OpSpec("binary_log_loss", dy.binary_log_loss, lambda r: [(3,), (3,)],
           lambda x, y: np.array([-np.sum(y * np.log(x) + (1 - y) * np.log(1 - x))]), sample=probability),
    OpSpec("squared_distance", dy.squared_distance, lambda r: [(3, 2), (3, 2)],
           lambda x, y: np.array([np.sum((x - y) ** 2)])),
    OpSpec("squared_distance", dy.squared_distance, lambda r: [(4,), (4,)],
           lambda x, y: np.array([np.sum((x - y) ** 2)]), name="shared_arg", batch_args=[1]),
    OpSpec("l1_distance", dy.l1_distance, lambda r: [(4,), (4,)], lambda x, y: np.array([np.sum(np.abs(x - y))]),
           sample=grid),
    OpSpec("huber_distance", dy.huber_distance, lambda r: [(5,), (5,)],
           lambda x, y: np.array([np.sum(np.where(np.abs(x - y) <= 1.345, 0.5 * (x - y) ** 2,
                                                  1.345 * np.abs(x - y) - 0.5 * 1.345 ** 2))]),
           sample=lambda r, s: (2 * r.standard_normal(s)).astype(np.float32)),
    OpSpec("pairwise_rank_loss", dy.pairwise_rank_loss, lambda r: [(1, 3), (1, 3)],
           lambda x, y: np.maximum(1.0 - x + y, 0.0), sample=grid),
    OpSpec("pairwise_rank_loss", lambda x, y: dy.pairwise_rank_loss(x, y, 2.0), lambda r: [(1,), (1,)],
           lambda x, y: np.maximum(2.0 - x + y, 0.0), sample=grid, name="margin"),
    OpSpec("pairwise_rank_loss", dy.pairwise_rank_loss, lambda r: [(3,), (3,)],
           lambda x, y: np.maximum(1.0 - x + y, 0.0), sample=grid, name="shared_arg", batch_args=[1]),
    OpSpec("l1_distance", dy.l1_distance, lambda r: [(4,), (4,)], lambda x, y: np.array([np.sum(np.abs(x - y))]),
           sample=grid, name="shared_arg", batch_args=[0]),
    OpSpec("squared_norm", dy.squared_norm, lambda r: [(3, 2)], lambda x: np.array([np.sum(x * x)])),
    OpSpec("l2_norm", dy.l2_norm, vec, lambda x: np.array([np.sqrt(np.sum(x * x))])),
    OpSpec("poisson_loss", lambda x: dy.poisson_loss(x, 3), lambda r: [(1,)],
           lambda x: np.exp(x) - 3 * x + math.lgamma(4.0)),
]

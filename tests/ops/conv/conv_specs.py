"""Specs for the convolution families: conv2d / conv2d_bias / maxpooling2d
(DyNet layout: feature maps (H, W, C), filters (fh, fw, C_in, C_out)) and the
1-D sequence ops (filter1d_narrow, kmax_pooling, fold_rows, kmh_ngram,
circ_conv, circ_corr)."""
import numpy as np

import dynagraph as dy

from op_specs import OpSpec


def shapes(*ss):
    return lambda rng: list(ss)


def distinct(rng, shape):
    """Values 0.1 apart in random order: max/k-max never switch within a finite-difference step."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.1 - 0.05 * n).astype(np.float32)


def geometry(n, k, s, valid):
    """(output length, low padding) of one axis, TensorFlow's VALID / SAME rule."""
    if valid:
        return -(-(n - k + 1) // s), 0
    out = -(-n // s)
    return out, max((out - 1) * s + k - n, 0) // 2


def conv_ref(x, f, stride, valid, b=None):
    if x.ndim == 2:
        x = x[:, :, None]
    f = f.reshape(f.shape + (1,) * (4 - f.ndim))
    (H, W, C), (kh, kw, _, co) = x.shape, f.shape
    (yh, pt), (yw, pl) = geometry(H, kh, stride[0], valid), geometry(W, kw, stride[1], valid)
    xp = np.zeros((H + 2 * kh + 2 * stride[0], W + 2 * kw + 2 * stride[1], C))
    xp[pt:pt + H, pl:pl + W] = x
    y = np.zeros((yh, yw, co))
    for p in range(yh):
        for q in range(yw):
            patch = xp[p * stride[0]:p * stride[0] + kh, q * stride[1]:q * stride[1] + kw]
            y[p, q] = np.tensordot(patch, f, axes=([0, 1, 2], [0, 1, 2]))
    return y if b is None else y + b


def pool_ref(x, ksize, stride, valid):
    if x.ndim == 2:
        x = x[:, :, None]
    H, W, C = x.shape
    (yh, pt), (yw, pl) = geometry(H, ksize[0], stride[0], valid), geometry(W, ksize[1], stride[1], valid)
    y = np.zeros((yh, yw, C))
    for p in range(yh):
        for q in range(yw):
            h0, w0 = p * stride[0] - pt, q * stride[1] - pl
            win = x[max(h0, 0):h0 + ksize[0], max(w0, 0):w0 + ksize[1]]
            y[p, q] = win.max(axis=(0, 1))
    return y


def filter1d_ref(x, f):
    f = f.reshape(f.shape + (1,) * (3 - f.ndim))
    w = f.shape[1]
    return np.array([[np.sum(x[:, j:j + w] * f[:, :, k]) for j in range(x.shape[1] - w + 1)]
                     for k in range(f.shape[2])])


def kmax_ref(x, k, d):
    x = np.moveaxis(x, d, -1)
    idx = np.sort(np.argsort(-x, axis=-1, kind="stable")[..., :k], axis=-1)
    return np.moveaxis(np.take_along_axis(x, idx, -1), -1, d)


def circ_conv_ref(u, v):
    n = len(u)
    return np.array([sum(u[i] * v[(k - i) % n] for i in range(n)) for k in range(n)])


def circ_corr_ref(u, v):
    n = len(u)
    return np.array([sum(u[i] * v[(i + k) % n] for i in range(n)) for k in range(n)])


SPECS = [
    OpSpec("conv2d", lambda x, f: dy.conv2d(x, f, [1, 1]), shapes((5, 4, 2), (3, 2, 2, 3)),
           lambda x, f: conv_ref(x, f, (1, 1), True), batch_args=[0]),
    OpSpec("conv2d", lambda x, f: dy.conv2d(x, f, [2, 2], is_valid=False), shapes((5, 4, 2), (3, 2, 2, 2)),
           lambda x, f: conv_ref(x, f, (2, 2), False), batch_args=[0], name="same_stride2"),
    OpSpec("conv2d", lambda x, f: dy.conv2d(x, f, [2, 1]), shapes((6, 5), (2, 3, 1, 2)),
           lambda x, f: conv_ref(x, f, (2, 1), True), batch_args=[0], name="one_channel_stride21"),
    OpSpec("conv2d", lambda x, f: dy.conv2d(x, f, [1, 2], False), shapes((4, 5, 2), (3, 3, 2, 2)),
           lambda x, f: conv_ref(x, f, (1, 2), False), name="batched_filter"),
    OpSpec("conv2d_bias", lambda x, f, b: dy.conv2d_bias(x, f, b, [1, 1], False),
           shapes((4, 4, 2), (3, 3, 2, 3), (3,)), lambda x, f, b: conv_ref(x, f, (1, 1), False, b),
           batch_args=[0]),
    OpSpec("conv2d_bias", lambda x, f, b: dy.conv2d_bias(x, f, b, [2, 3]),
           shapes((5, 7, 1), (2, 2, 1, 2), (2,)), lambda x, f, b: conv_ref(x, f, (2, 3), True, b),
           name="stride23"),
    OpSpec("maxpooling2d", lambda x: dy.maxpooling2d(x, [2, 2], [2, 2]), shapes((4, 6, 2)),
           lambda x: pool_ref(x, (2, 2), (2, 2), True), sample=distinct),
    OpSpec("maxpooling2d", lambda x: dy.maxpooling2d(x, [3, 2], [2, 2], is_valid=False), shapes((5, 5, 2)),
           lambda x: pool_ref(x, (3, 2), (2, 2), False), sample=distinct, name="same"),
    OpSpec("maxpooling2d", lambda x: dy.maxpooling2d(x, [2, 3], [1, 1]), shapes((3, 4)),
           lambda x: pool_ref(x, (2, 3), (1, 1), True), sample=distinct, name="overlapping"),
    OpSpec("filter1d_narrow", lambda x, f: dy.filter1d_narrow(x, f), shapes((3, 5), (3, 2, 4)), filter1d_ref,
           batch_args=[0]),
    OpSpec("filter1d_narrow", lambda x, f: dy.filter1d_narrow(x, f), shapes((2, 4), (2, 3)), filter1d_ref,
           name="one_filter"),
    OpSpec("kmax_pooling", lambda x: dy.kmax_pooling(x, 2), shapes((3, 5)), lambda x: kmax_ref(x, 2, 1),
           sample=distinct),
    OpSpec("kmax_pooling", lambda x: dy.kmax_pooling(x, 3, 0), shapes((4, 2)), lambda x: kmax_ref(x, 3, 0),
           sample=distinct, name="axis0"),
    OpSpec("fold_rows", lambda x: dy.fold_rows(x), shapes((4, 3)), lambda x: x[0::2] + x[1::2]),
    OpSpec("fold_rows", lambda x: dy.fold_rows(x, 3), shapes((6,)), lambda x: x.reshape(2, 3).sum(1),
           name="vector"),
    OpSpec("kmh_ngram", lambda x: dy.kmh_ngram(x, 2), shapes((3, 4)), lambda x: x[:, :-1] + x[:, 1:]),
    OpSpec("circ_conv", dy.circ_conv, shapes((4,), (4,)), circ_conv_ref),
    OpSpec("circ_conv", dy.circ_conv, shapes((5,), (5,)), circ_conv_ref, batch_args=[1], name="broadcast"),
    OpSpec("circ_corr", dy.circ_corr, shapes((4,), (4,)), circ_corr_ref),
]

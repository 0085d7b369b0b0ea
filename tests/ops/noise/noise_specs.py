"""Specs for the noise family. Random masks cannot be compared to a fixed
NumPy reference, so the table checks p = 0 (the identity) for values and
gradients, and p > 0 with the graph RNG re-seeded before each build (the mask
is drawn at forward time, so every finite-difference evaluation sees the same
mask) for gradients only. tests/ops/noise/test_noise.py checks the random behaviour."""
from dynagraph import _core

import dynagraph as dy

from op_specs import OpSpec


def vec(rng):
    return [(int(rng.integers(2, 6)),)]


def mat(rng):
    return [(int(rng.integers(2, 5)), int(rng.integers(2, 4)))]


def seeded(build):
    def run(x):
        _core.set_seed(1234)
        return build(x)
    return run


BUILDS = {
    "dropout": lambda p: (lambda x: dy.dropout(x, p)),
    "dropout_dim": lambda p: (lambda x: dy.dropout_dim(x, 1, p)),
    "dropout_batch": lambda p: (lambda x: dy.dropout_batch(x, p)),
    "block_dropout": lambda p: (lambda x: dy.block_dropout(x, p)),
    "noise": lambda s: (lambda x: dy.noise(x, s)),
}
COVERED = {"covered_by": "tests/ops/noise/test_noise.py"}

SPECS = [OpSpec(op, make(0.0), mat, lambda x: x, name="identity") for op, make in BUILDS.items()]
SPECS += [OpSpec(op, seeded(make(0.5)), mat, None, name="seeded", extra=COVERED) for op, make in BUILDS.items()]

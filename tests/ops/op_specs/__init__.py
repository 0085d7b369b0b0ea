"""The op test table: one OpSpec per registered op (PyTorch OpInfo style).

Each family's module, tests/ops/<family>/<family>_specs.py beside that family's
tests, defines SPECS; ``all_specs()`` joins them, keyed by the op name in
``dynagraph._core.op_table()``. tests/ops/test_ops.py checks that every
registered op has a spec, then tests values against the NumPy reference and
gradients against central finite differences.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

FAMILIES = ["core", "softmax_loss", "reduce", "shape", "noise", "conv", "nn"]


@dataclass
class OpSpec:
    op: str                         # name in op_table()
    build: Callable                 # (*expressions) -> Expression
    shapes: Callable                # (rng) -> list of per-sample input shapes
    ref: Callable | None            # (*arrays of one sample) -> array; None: no value check
    grad: bool = True               # finite-difference check of every input's gradient
    batch: bool = True              # also run with batched inputs
    sample: Callable | None = None  # (rng, shape) -> values; default standard normal
    rtol: float = 1e-4
    atol: float = 1e-5
    grad_tol: float = 2e-2
    name: str = ""                  # variant name when an op has several specs
    batch_args: Sequence[int] | None = None  # which inputs get the batch axis (default all)
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.op + (f"[{self.name}]" if self.name else "")


def all_specs() -> list[OpSpec]:
    out = []
    for fam in FAMILIES:
        try:
            mod = importlib.import_module(f"{fam}_specs")
        except ModuleNotFoundError as e:
            if e.name != f"{fam}_specs":
                raise
            continue
        out.extend(mod.SPECS)
    return out


def normal(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape).astype(np.float32)


def unit_open(rng, shape):
    """Values in (-0.9, 0.9): domain of asin, atanh, ..."""
    return rng.uniform(-0.9, 0.9, shape).astype(np.float32)


def away_from_kinks(rng, shape):
    """Values at least 0.1 away from 0 and from integers +- 0.5 (abs, relu, round)."""
    x = rng.uniform(0.1, 0.4, shape) * rng.choice([-1, 1], shape) + rng.integers(-2, 3, shape)
    return x.astype(np.float32)

"""Specs for the input, arithmetic, element-wise and matmul families."""
import math

import numpy as np

import dynagraph as dy

from op_specs import OpSpec, away_from_kinks, normal, positive, unit_open

SELU_L, SELU_A = 1.0507009873554805, 1.6732632423543772


def vec(rng):
    return [(int(rng.integers(1, 6)),)]


def two_same(rng):
    s = (int(rng.integers(1, 5)), int(rng.integers(1, 4)))
    return [s, s]


def no_ties(rng, shape):
    """k + [0, 0.2): x and y + 0.5 stay >= 0.3 apart, so min/max never switch within a finite-difference step."""
    return (rng.integers(-2, 3, shape) + rng.uniform(0, 0.2, shape)).astype(np.float32)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    "tanh": (dy.tanh, np.tanh, normal),
    "logistic": (dy.logistic, sigmoid, normal),
    "log_sigmoid": (dy.log_sigmoid, lambda x: np.log(sigmoid(x)), normal),
    "rectify": (dy.rectify, lambda x: np.maximum(x, 0), away_from_kinks),
    "elu": (dy.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), away_from_kinks),
    "selu": (dy.selu, lambda x: SELU_L * np.where(x > 0, x, SELU_A * (np.exp(x) - 1)), away_from_kinks),
    "silu": (dy.silu, lambda x: x * sigmoid(x), normal),
    "softsign": (dy.softsign, lambda x: x / (1 + np.abs(x)), away_from_kinks),
    "exp": (dy.exp, np.exp, normal),
    "log": (dy.log, np.log, positive),
    "sqrt": (dy.sqrt, np.sqrt, positive),
    "square": (dy.square, np.square, normal),
    "cube": (dy.cube, lambda x: x ** 3, normal),
    "abs": (dy.abs, np.abs, away_from_kinks),
    "erf": (dy.erf, np.vectorize(math.erf), normal),
    "lgamma": (dy.lgamma, np.vectorize(math.lgamma), positive),
    "sin": (dy.sin, np.sin, normal),
    "cos": (dy.cos, np.cos, normal),
    "tan": (dy.tan, np.tan, unit_open),
    "asin": (dy.asin, np.arcsin, unit_open),
    "acos": (dy.acos, np.arccos, unit_open),
    "atan": (dy.atan, np.arctan, normal),
    "sinh": (dy.sinh, np.sinh, normal),
    "cosh": (dy.cosh, np.cosh, normal),
    "asinh": (dy.asinh, np.arcsinh, normal),
    "acosh": (dy.acosh, np.arccosh, lambda r, s: r.uniform(1.2, 3.0, s).astype(np.float32)),
    "atanh": (dy.atanh, np.arctanh, unit_open),
    "floor": (dy.floor, np.floor, away_from_kinks),
    "ceil": (dy.ceil, np.ceil, away_from_kinks),
    "round": (dy.round, np.round, away_from_kinks),
    "nobackprop": (dy.nobackprop, lambda x: x, normal),
    "flip_gradient": (dy.flip_gradient, lambda x: x, normal),
    "negate": (lambda x: -x, lambda x: -x, normal),
}

# Ops whose gradient is deliberately not the derivative of the forward value.
NON_DERIVATIVE = {"nobackprop", "flip_gradient"}

SPECS = [
    OpSpec(name, build, vec, ref, sample=sample, grad=name not in NON_DERIVATIVE)
    for name, (build, ref, sample) in UNARY.items()
]

SPECS += [
    OpSpec("scale_gradient", lambda x: dy.scale_gradient(x, 0.5), vec, lambda x: x, grad=False),
    OpSpec("add", lambda a, b: a + b, two_same, lambda a, b: a + b),
    OpSpec("add", lambda a, b: a + b, lambda r: [(3, 2), (3,)], lambda a, b: a + b[:, None], name="broadcast"),
    OpSpec("sub", lambda a, b: a - b, two_same, lambda a, b: a - b),
    OpSpec("cmult", dy.cmult, two_same, lambda a, b: a * b),
    OpSpec("cmult", dy.cmult, lambda r: [(2, 3), (1, 3)], lambda a, b: a * b, name="broadcast"),
    OpSpec("cdiv", dy.cdiv, two_same, lambda a, b: a / b, sample=positive),
    # One argument shared by the batch (a bias): read in place per batch element, no expanded copy.
    OpSpec("add", lambda a, b: a + b, two_same, lambda a, b: a + b, name="batch_shared", batch_args=[0]),
    OpSpec("sub", lambda a, b: a - b, two_same, lambda a, b: a - b, name="batch_shared", batch_args=[1]),
    OpSpec("cmult", dy.cmult, two_same, lambda a, b: a * b, name="batch_shared", batch_args=[0]),
    OpSpec("cmult", dy.cmult, two_same, lambda a, b: a * b, name="batch_shared_first", batch_args=[1]),
    OpSpec("cdiv", dy.cdiv, two_same, lambda a, b: a / b, sample=positive, name="batch_shared", batch_args=[1]),
    OpSpec("pow", dy.pow, two_same, lambda a, b: a ** b, sample=positive, name="batch_shared", batch_args=[0]),
    OpSpec("bmin", lambda a, b: dy.bmin(a, b + 0.5), two_same, lambda a, b: np.minimum(a, b + 0.5),
           sample=no_ties, name="batch_shared", batch_args=[1]),
    OpSpec("pow", dy.pow, two_same, lambda a, b: a ** b, sample=positive),
    OpSpec("bmin", lambda a, b: dy.bmin(a, b + 0.5), two_same, lambda a, b: np.minimum(a, b + 0.5), sample=no_ties),
    OpSpec("bmax", lambda a, b: dy.bmax(a, b + 0.5), two_same, lambda a, b: np.maximum(a, b + 0.5), sample=no_ties),
    OpSpec("add_scalar", lambda x: x + 1.5, vec, lambda x: x + 1.5),
    OpSpec("mul_scalar", lambda x: 2.5 * x, vec, lambda x: 2.5 * x),
    OpSpec("scalar_sub", lambda x: 1.5 - x, vec, lambda x: 1.5 - x),
    OpSpec("scalar_div", lambda x: 2.0 / x, vec, lambda x: 2.0 / x, sample=positive),
    OpSpec("sum", lambda a, b, c: dy.esum([a, b, c]), lambda r: [(3,)] * 3, lambda a, b, c: a + b + c),
    OpSpec("max", lambda a, b: dy.emax([a, b + 0.5]), two_same, lambda a, b: np.maximum(a, b + 0.5), sample=no_ties),
    OpSpec("matmul", lambda a, b: a * b, lambda r: [(3, 4), (4, 2)], lambda a, b: a @ b),
    OpSpec("matmul", lambda a, b: a * b, lambda r: [(3, 4), (4,)], lambda a, b: a @ b, name="matvec"),
    OpSpec("matmul", lambda a, b: a * b, lambda r: [(3, 4), (4,)], lambda a, b: a @ b, name="shared_weight",
           batch_args=[1]),
    OpSpec("affine_transform", lambda b, W, x, V, z: dy.affine_transform([b, W, x, V, z]),
           lambda r: [(3,), (3, 4), (4,), (3, 2), (2,)], lambda b, W, x, V, z: b + W @ x + V @ z),
    OpSpec("affine_transform", lambda b, W, x: dy.affine_transform([b, W, x]),
           lambda r: [(3,), (3, 4), (4,)], lambda b, W, x: b + W @ x, name="shared", batch_args=[2]),
    OpSpec("dot_product", dy.dot_product, lambda r: [(4,), (4,)], lambda a, b: np.array([a @ b])),
    OpSpec("transpose", dy.transpose, lambda r: [(2, 3)], lambda x: x.T),
    OpSpec("transpose", dy.transpose, lambda r: [(4,)], lambda x: x.reshape(1, 4), name="vector"),
    OpSpec("transpose", lambda x: dy.transpose(x, [1, 0]), lambda r: [(3, 2)], lambda x: x.T, name="dims_default"),
    OpSpec("transpose", lambda x: dy.transpose(x, [2, 0, 1]), lambda r: [(2, 3, 4)],
           lambda x: np.transpose(x, (2, 0, 1)), name="dims_3d"),
    OpSpec("transpose", lambda x: dy.transpose(x, dims=[3, 1, 0, 2]), lambda r: [(2, 3, 1, 4)],
           lambda x: np.transpose(x, (3, 1, 0, 2)), name="dims_4d"),
    OpSpec("inverse", dy.inverse, lambda r: [(3, 3)], np.linalg.inv, batch=False,
           sample=lambda r, s: (np.eye(s[0]) * 3 + r.standard_normal(s) * 0.3).astype(np.float32)),
    OpSpec("logdet", dy.logdet, lambda r: [(3, 3)], lambda x: np.array([np.log(np.linalg.det(x))]), batch=False,
           sample=lambda r, s: (np.eye(s[0]) * 3 + r.standard_normal(s) * 0.3).astype(np.float32)),
    OpSpec("trace_of_product", dy.trace_of_product, lambda r: [(2, 3), (2, 3)],
           lambda a, b: np.array([np.trace(a @ b.T)])),
]

# Ops without expression arguments: the spec's inputs are ignored or used as data.
SPECS += [
    OpSpec("input", lambda x: x, vec, lambda x: x),
    OpSpec("constant", lambda x: dy.constant(x.dim()[0], 0.5, x.dim()[1]) + x, vec, lambda x: x + 0.5,
           name="plus_input"),
    # A round trip through the emulated device: two to_device nodes, the value and its gradient unchanged.
    OpSpec("to_device", lambda x: dy.to_device(dy.tanh(dy.to_device(x, "EMU:0")), "CPU"), vec, np.tanh,
           name="via_EMU"),
    OpSpec("parameter", None, vec, None, grad=False, extra={"covered_by": "test_engine.py::test_parameter_gradient"}),
    OpSpec("lookup", None, vec, None, grad=False, extra={"covered_by": "test_engine.py::test_lookup_sparse_gradient"}),
    OpSpec("lookup_table", None, vec, None, grad=False, extra={"covered_by": "test_engine.py::test_lookup_table_gradient"}),
] + [
    OpSpec(op, None, vec, None, grad=False, extra={"covered_by": "test_engine.py::test_random_distributions"})
    for op in ("random_normal", "random_uniform", "random_bernoulli", "random_gumbel")
]

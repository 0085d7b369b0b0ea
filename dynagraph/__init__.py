"""dynagraph: define-by-run deep learning with cheap per-sample graphs.

DyNet's Python API on a C++ engine: ``import dynagraph as dy`` runs DyNet
programs. Build a fresh graph per sample with ``renew_cg()``; expressions are
evaluated lazily by ``value()`` and differentiated by ``backward()``.
"""
from __future__ import annotations

from . import _config, _core
from ._config import DynetParams, dynet_config, init, init_from_params, reset_random_seed
from ._core import Expression, cg_checkpoint, cg_revert, cg_version
from .expressions import *  # noqa: F401,F403
from .expressions import __all__ as _expr_all
from .params import *  # noqa: F401,F403
from .params import __all__ as _params_all
from .trainers import *  # noqa: F401,F403
from .trainers import __all__ as _trainers_all
from .builders import *  # noqa: F401,F403
from .builders import __all__ as _builders_all
from .serialize import load, save

# Engine-built expression functions, re-exported under DyNet's names.
_ENGINE_FUNCTIONS = [
    "inputTensor", "inputVector", "inputMatrix", "scalarInput", "constant", "zeros", "ones",
    "random_normal", "random_uniform", "random_bernoulli", "random_gumbel", "parameter", "const_parameter",
    "lookup", "lookup_batch", "cmult", "cdiv", "pow", "bmin", "bmax", "esum", "emax", "affine_transform",
    "dot_product", "transpose", "inverse", "logdet", "trace_of_product", "tanh", "logistic", "log_sigmoid",
    "rectify", "elu", "selu", "silu", "softsign", "exp", "log", "sqrt", "square", "cube", "abs", "erf",
    "lgamma", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
    "floor", "ceil", "round", "nobackprop", "flip_gradient", "scale_gradient",
    # softmax / losses
    "softmax", "log_softmax", "logsumexp", "logsumexp_dim", "pickneglogsoftmax", "pickneglogsoftmax_batch",
    "hinge", "hinge_batch", "hinge_dim", "binary_log_loss", "squared_distance", "squared_norm", "l1_distance",
    "l2_norm", "huber_distance", "poisson_loss", "pairwise_rank_loss",
    # reductions
    "sum_elems", "sum_batches", "sum_dim", "max_dim", "min_dim", "cumsum", "argmax", "moment_elems", "moment_dim",
    "moment_batches", "std_elems", "std_dim", "std_batches",
    # structure
    "pick", "pick_batch", "pick_batch_elem", "pick_batch_elems", "pickrange", "pick_range", "select_rows",
    "select_cols", "reshape", "concatenate", "concatenate_cols", "concatenate_to_batch", "strided_select",
    # dropout and noise
    "dropout", "dropout_dim", "dropout_batch", "block_dropout", "noise",
]
globals().update({name: getattr(_core, name) for name in _ENGINE_FUNCTIONS})
zeroes = zeros
vecInput = vecInput  # noqa: F405  (re-exported from expressions)
matInput = matInput  # noqa: F405


class ComputationGraph:
    """The process-wide graph (DyNet has exactly one); ``dy.cg()`` returns it."""

    def renew(self, immediate_compute: bool = False, check_validity: bool = False, autobatching=None):
        renew_cg(immediate_compute, check_validity, autobatching)
        return self

    def version(self) -> int:
        return _core.cg_version()

    def checkpoint(self) -> None:
        _core.cg_checkpoint()

    def revert(self) -> None:
        _core.cg_revert()

    def forward(self, expr: Expression) -> None:
        expr.forward()

    def backward(self, expr: Expression, full: bool = False) -> None:
        expr.backward(full)

    def size(self) -> int:
        return _core.graph_size()


_CG = ComputationGraph()


def renew_cg(immediate_compute: bool = False, check_validity: bool = False, autobatching=None) -> ComputationGraph:
    """Starts a new graph; expressions built before become stale.

    autobatching: True/False switches the autobatching executor (as DyNet's
    ``--dynet-autobatch``); None keeps the current setting.
    """
    _config.ensure_initialized()
    if autobatching is not None:
        _core.set_autobatch(bool(autobatching))
    _core.renew_cg()
    return _CG


def cg() -> ComputationGraph:
    return _CG


def forward(expressions) -> None:
    """Evaluates a list of expressions (DyNet's dy.forward)."""
    _core.forward_all(list(expressions))


__all__ = sorted(set(
    ["Expression", "ComputationGraph", "renew_cg", "cg", "cg_version", "cg_checkpoint", "cg_revert", "forward",
     "init", "init_from_params", "DynetParams", "dynet_config", "reset_random_seed", "zeroes"]
    + _ENGINE_FUNCTIONS + _expr_all + _params_all + _trainers_all + _builders_all + ["save", "load"]))

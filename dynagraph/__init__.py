"""dynagraph: define-by-run deep learning with cheap per-sample graphs.

DyNet's Python API on a C++ engine: ``import dynagraph as dy`` runs DyNet
programs. Build a fresh graph per sample with ``renew_cg()``; expressions are
evaluated lazily by ``value()`` and differentiated by ``backward()``.
"""
from __future__ import annotations

import numpy as np

from . import _blas, _config, _core, _errors
from ._config import DynetParams, dynet_config, init, init_from_params, reset_random_seed
from ._core import (Expression, autobatch_stats, blas_info, cg_checkpoint, cg_revert, cg_version,
                    get_autobatch_policy, get_num_threads, set_autobatch_policy, set_num_threads)
from .expressions import *  # noqa: F401,F403
from .expressions import __all__ as _expr_all
from .params import *  # noqa: F401,F403
from .params import __all__ as _params_all
from .trainers import *  # noqa: F401,F403
from .trainers import __all__ as _trainers_all
from .builders import *  # noqa: F401,F403
from .builders import __all__ as _builders_all
from .serialize import load, save
from . import devices, graph_tools, inputs, softmax_builders, values as _values
from .devices import *  # noqa: F401,F403
from .devices import _check_device
from .graph_tools import *  # noqa: F401,F403
from .inputs import *  # noqa: F401,F403
from .softmax_builders import *  # noqa: F401,F403
from .values import *  # noqa: F401,F403

_blas.load()  # large matrix products to OpenBLAS when its wheel is installed

# Engine-built expression functions, re-exported under DyNet's names.
_ENGINE_FUNCTIONS = [
    "inputTensor", "inputVector", "inputMatrix", "scalarInput", "constant", "zeros", "ones",
    "random_normal", "random_uniform", "random_bernoulli", "random_gumbel",
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
    # convolution and pooling
    "conv2d", "conv2d_bias", "maxpooling2d", "filter1d_narrow", "kmax_pooling", "fold_rows", "kmh_ngram",
    "circ_conv", "circ_corr",
    # contractions, normalisation, LSTM kernels, sparse normalisers
    "contract3d_1d", "contract3d_1d_bias", "contract3d_1d_1d", "contract3d_1d_1d_bias", "layer_norm", "weight_norm",
    "vanilla_lstm_gates", "vanilla_lstm_gates_concat", "vanilla_lstm_gates_dropout",
    "vanilla_lstm_gates_dropout_concat", "vanilla_lstm_c", "vanilla_lstm_h", "sparsemax", "constrained_softmax",
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

    def forward(self, index) -> None:
        _node(index).forward()

    def backward(self, index, full: bool = False) -> None:
        _node(index).backward(full)

    def size(self) -> int:
        return _core.graph_size()

    # DyNet's node-index forms: ``index`` is an Expression or a node number of this graph.
    def forward_scalar(self, index) -> float:
        return _node(index).scalar_value()

    def forward_vec(self, index) -> list:
        return _node(index).vec_value()

    inc_forward, inc_forward_scalar, inc_forward_vec = forward, forward_scalar, forward_vec

    def inputMatrixLiteral(self, v, d, batch_size: int = 1, device: str = "") -> Expression:
        """Values ``v`` in column-major order as a tensor of shape ``d`` with ``batch_size`` elements."""
        _check_device(device)
        return inputTensorTranspose(v, d, batch_size)

    def inputSparseTensor(self, idxs, v, dim, batch_size: int = 1, defval: float = 0.0, device: str = "") -> Expression:
        """``defval`` everywhere except at the flat column-major positions ``idxs`` (batch included)."""
        _check_device(device)
        where = "ComputationGraph.inputSparseTensor"
        shape = inputs._as_shape(dim, where) + (_errors.positive(batch_size, where, "batch_size"),)
        flat = _errors.indices(idxs, where, "idxs")
        total = int(np.prod(shape))
        bad = [i for i in flat if not 0 <= i < total]
        if bad:
            raise IndexError(f"inputSparseTensor: index {bad[0]} out of range for {total} values")
        coords = np.unravel_index(np.asarray(flat, dtype=np.int64), shape, order="F")
        return sparse_inputTensor(coords, v, shape, batched=True, defval=defval)

    def dump(self, filename: str = "", show_values: bool = True, show_gradients: bool = True,
             nan_check_only: bool = False) -> None:
        dump_cg(filename, show_values, show_gradients, nan_check_only)

    def print_graphviz(self) -> None:
        print_text_graphviz()


def _node(index) -> Expression:
    if isinstance(index, Expression):
        return index
    if isinstance(index, (_core.Parameters, _core.LookupParameters)):
        return _core.parameter(index)
    return _core.node_expression(int(index))


_CG = ComputationGraph()


def renew_cg(immediate_compute: bool = False, check_validity: bool = False, autobatching=None) -> ComputationGraph:
    """Starts a new graph; expressions built before become stale.

    immediate_compute: evaluate each expression as it is built, so an error
    surfaces at the line that built it (slower; for debugging).
    check_validity: raise ValueError when an evaluated value holds NaN or inf,
    naming the node (with ``immediate_compute``, at the line that built it).
    autobatching: True/False switches the autobatching executor (as DyNet's
    ``--dynet-autobatch``); None keeps the current setting.
    """
    _config.ensure_initialized()
    if autobatching is not None:
        _core.set_autobatch(bool(autobatching))
    _core.renew_cg(bool(immediate_compute), bool(check_validity))
    return _CG


def cg() -> ComputationGraph:
    """The process-wide graph object (the one ``renew_cg()`` renews)."""
    return _CG


def forward(exps, recalculate: bool = False) -> None:
    """Evaluates a list of expressions (DyNet's dy.forward); ``recalculate``
    evaluates the whole graph again (after inputs or parameters changed)."""
    _core.forward_all(list(exps), bool(recalculate))


def load_generator(basename: str, params):
    """As :func:`load`, but yields the loaded objects one at a time (in the order they were saved)."""
    yield from load(basename, params)


__all__ = sorted(set(
    ["Expression", "ComputationGraph", "renew_cg", "cg", "cg_version", "cg_checkpoint", "cg_revert", "forward",
     "init", "init_from_params", "DynetParams", "dynet_config", "reset_random_seed", "zeroes",
     "blas_info", "get_num_threads", "set_num_threads", "set_autobatch_policy", "get_autobatch_policy",
     "autobatch_stats"]
    + _ENGINE_FUNCTIONS + _expr_all + _params_all + _trainers_all + _builders_all + ["save", "load", "load_generator"]
    + devices.__all__ + graph_tools.__all__ + inputs.__all__ + softmax_builders.__all__ + _values.__all__))

# Every error raised inside a public Python function or method names it (see _errors).
_errors.name_errors(globals(), __all__)

"""dynagraph: define-by-run deep learning with cheap per-sample graphs.

DyNet's Python API on a C++ engine: ``import dynagraph as dy`` runs DyNet
programs. Build a fresh graph per sample with ``renew_cg()``; expressions are
evaluated lazily by ``value()`` and differentiated by ``backward()``.
"""
from __future__ import annotations

from . import _cuda_libs

_cuda_libs.import_core()  # a CUDA build's cudart/cuBLAS come from the `cuda` extra's wheels

from . import _blas, _config, _core, _errors  # noqa: E402
# The Python halves of Expression, Parameters and LookupParameters (their types are bound in C++).
from . import _expression, _parameters  # noqa: E402,F401
from ._config import DynetParams, dynet_config, init, init_from_params, reset_random_seed
from ._core import (Expression, autobatch_stats, set_autobatch_profiling, blas_info, cg_checkpoint, cg_revert, cg_version,
                    get_autobatch_policy, get_autobatch_stacking, get_num_threads, set_autobatch_policy,
                    set_autobatch_stacking, set_num_threads)
from .expressions import *  # noqa: F401,F403
from .expressions import __all__ as _expr_all
from .params import *  # noqa: F401,F403
from .params import __all__ as _params_all
from .trainers import *  # noqa: F401,F403
from .trainers import __all__ as _trainers_all
from .builders import *  # noqa: F401,F403
from .builders import __all__ as _builders_all
from .serialize import load, save, saveable
from . import devices, graph_tools, inputs, softmax_builders
# Not `from . import values`: after the star import below, dynagraph.values is the
# function of that name, which a reload (importlib.reload) would get instead.
from .values import __all__ as _values_all
from .devices import *  # noqa: F401,F403
from .devices import _check_device
from .graph_tools import *  # noqa: F401,F403
from .inputs import *  # noqa: F401,F403
from .softmax_builders import *  # noqa: F401,F403
from .values import *  # noqa: F401,F403

_blas.load()  # large matrix products to OpenBLAS when its wheel is installed
_blas.threads_from_environment()

# Engine-built expression functions, re-exported under DyNet's names: the
# functions op_table.def lists for each op (csrc/ops/op_table.def).
_ENGINE_FUNCTIONS = [name for row in _core.op_table() for name in row["functions"]]
globals().update({name: getattr(_core, name) for name in _ENGINE_FUNCTIONS})
zeroes = zeros


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
        return inputs.inputTensorTranspose(v, d, batch_size)

    def inputSparseTensor(self, idxs, v, dim, batch_size: int = 1, defval: float = 0.0, device: str = "") -> Expression:
        """``defval`` everywhere except at the flat column-major positions ``idxs`` (batch included)."""
        _check_device(device)
        return inputs._sparse_column_major(idxs, v, dim, batch_size, defval)

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


@_errors.names_itself
def renew_cg(immediate_compute: bool = False, check_validity: bool = False, autobatching=None) -> ComputationGraph:
    """Starts a new graph; expressions built before become stale.

    immediate_compute: evaluate each expression as it is built, so an error
    surfaces at the line that built it (slower; for debugging).
    check_validity: raise ValueError when an evaluated value holds NaN or inf,
    naming the node (with ``immediate_compute``, at the line that built it).
    autobatching: True/False switches the autobatching executor (as DyNet's
    ``--dynet-autobatch``); None keeps the current setting.
    """
    try:
        _config.ensure_initialized()
        if autobatching is not None:
            _core.set_autobatch(bool(autobatching))
        _core.renew_cg(bool(immediate_compute), bool(check_validity))
    except _errors.CAUGHT as exc:
        _errors.reraise(exc, "renew_cg", (immediate_compute, check_validity, autobatching))
    return _CG


def cg() -> ComputationGraph:
    """The process-wide graph object (the one ``renew_cg()`` renews)."""
    return _CG


def forward(exps, recalculate: bool = False) -> None:
    """Evaluates a list of expressions (DyNet's dy.forward); ``recalculate``
    evaluates the whole graph again (after inputs or parameters changed)."""
    _core.forward_all(list(exps), bool(recalculate))


def load_generator(basename: str, params, classes=()):
    """As :func:`load`, but yields the loaded objects one at a time (in the order they were saved)."""
    yield from load(basename, params, classes)


__all__ = sorted(set(
    ["Expression", "ComputationGraph", "renew_cg", "cg", "cg_version", "cg_checkpoint", "cg_revert", "forward",
     "init", "init_from_params", "DynetParams", "dynet_config", "reset_random_seed", "zeroes",
     "blas_info", "get_num_threads", "set_num_threads", "set_autobatch_policy", "get_autobatch_policy",
     "autobatch_stats", "set_autobatch_profiling", "set_autobatch_stacking", "get_autobatch_stacking"]
    + _ENGINE_FUNCTIONS + _expr_all + _params_all + _trainers_all + _builders_all + ["save", "load", "load_generator", "saveable"]
    + devices.__all__ + graph_tools.__all__ + inputs.__all__ + softmax_builders.__all__ + _values_all))

# Every error raised inside a public Python function or method names it (see _errors).
_errors.name_errors(globals(), __all__)

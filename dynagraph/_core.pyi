"""
dynagraph's C++ engine (private; use the dynagraph package)
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing

from dynagraph.values import Tensor
import typing_extensions
__all__: list[str] = ['Expression', 'IndexOutOfRange', 'LookupParameters', 'ParameterCollectionCore', 'Parameters', 'TrainerCore', 'abs', 'acos', 'acosh', 'add_grad', 'add_grad_outer', 'affine_transform', 'argmax', 'asin', 'asinh', 'atan', 'atanh', 'autobatch_stats', 'binary_log_loss', 'blas_info', 'block_dropout', 'bmax', 'bmin', 'cdiv', 'ceil', 'cg_checkpoint', 'cg_epoch', 'cg_revert', 'cg_version', 'circ_conv', 'circ_corr', 'cmult', 'concatenate', 'concatenate_cols', 'concatenate_to_batch', 'const_parameter', 'constant', 'constrained_softmax', 'contract3d_1d', 'contract3d_1d_1d', 'contract3d_1d_1d_bias', 'contract3d_1d_bias', 'conv2d', 'conv2d_bias', 'cos', 'cosh', 'cube', 'cuda_device_count', 'cumsum', 'device_id', 'device_launch_stats', 'device_memory', 'device_memory_stats', 'device_name', 'device_op_names', 'dot_product', 'dropout', 'dropout_batch', 'dropout_dim', 'elu', 'emax', 'erf', 'esum', 'exp', 'filter1d_narrow', 'flip_gradient', 'floor', 'fold_rows', 'forward_all', 'get_autobatch', 'get_autobatch_policy', 'get_autobatch_stacking', 'get_default_device', 'get_num_threads', 'graph_nodes', 'graph_size', 'have_cuda', 'hinge', 'hinge_batch', 'hinge_dim', 'huber_distance', 'inputMatrix', 'inputTensor', 'inputVector', 'inverse', 'kmax_pooling', 'kmh_ngram', 'l1_distance', 'l2_norm', 'layer_norm', 'lgamma', 'log', 'log_sigmoid', 'log_softmax', 'logdet', 'logistic', 'logsumexp', 'logsumexp_dim', 'lookup', 'lookup_batch', 'max_dim', 'maxpooling2d', 'memory_in_use', 'min_dim', 'moment_batches', 'moment_dim', 'moment_elems', 'nobackprop', 'node_expression', 'node_ops', 'noise', 'ones', 'op_families', 'op_table', 'pairwise_rank_loss', 'parameter', 'pick', 'pick_batch', 'pick_batch_elem', 'pick_batch_elems', 'pick_range', 'pickneglogsoftmax', 'pickneglogsoftmax_batch', 'pickrange', 'pinned_empty', 'pinned_memory_stats', 'poisson_loss', 'pow', 'random_bernoulli', 'random_gumbel', 'random_normal', 'random_uniform', 'rectify', 'renew_cg', 'reset_device_launch_stats', 'reset_device_memory_stats', 'reshape', 'round', 'scalarInput', 'scale_gradient', 'select_cols', 'select_rows', 'selu', 'set_autobatch', 'set_autobatch_policy', 'set_autobatch_profiling', 'set_autobatch_stacking', 'set_collect_factors', 'set_default_device', 'set_device_budget', 'set_device_prefetch', 'set_initial_memory', 'set_input_values', 'set_num_threads', 'set_param_grad_hook', 'set_seed', 'silu', 'sin', 'sinh', 'softmax', 'softsign', 'sparsemax', 'sqrt', 'square', 'squared_distance', 'squared_norm', 'stage_grad', 'staging_stats', 'std_batches', 'std_dim', 'std_elems', 'strided_select', 'sum_batches', 'sum_dim', 'sum_elems', 'take_factors', 'tan', 'tanh', 'to_device', 'trace_of_product', 'transpose', 'trim_pinned_memory', 'vanilla_lstm_c', 'vanilla_lstm_gates', 'vanilla_lstm_gates_concat', 'vanilla_lstm_gates_dropout', 'vanilla_lstm_gates_dropout_concat', 'vanilla_lstm_h', 'weight_norm', 'zeros']
class IndexOutOfRange(IndexError, ValueError):
    """
    An index out of range: an IndexError and a ValueError (DyNet's kind).
    """
class Expression:
    """
    A node of the current computation graph (stale after renew_cg()).
    """
    __array_ufunc__ = None
    def __add__(self, value: Expression | Parameters | float) -> Expression:
        """
        Return self+value.
        """
    def __dlpack__(self, **kwargs) -> typing_extensions.CapsuleType:
        """
        The value as a DLPack capsule (float32; column-major axes, then the batch). Zero-copy when the value is in graph memory, which stays unchanged while the capsule's consumer holds it (renew_cg() leaves it alone); copy=True forces a copy, copy=False raises BufferError where only a copy is possible.
        """
    def __dlpack_device__(self) -> tuple:
        ...
    def __getitem__(self, key) -> Expression:
        """
        Indexes the axes of an expression as NumPy does; one index more than the
                expression has axes indexes the batch, as in DyNet.
        
                An int picks one position and removes that axis (``x[1]`` on a 3x4 matrix is
                its second row, shape (4,)); negative ints count from the end. A slice keeps
                the axis (``x[0:2]`` is shape (2, 4)); steps > 1 are allowed. A tuple indexes
                several axes at once (``x[:, 1]`` is the second column). Every batch element
                is indexed the same way, unless the tuple has an entry for the batch
                (``x[:1, :2, :3]`` on a batch of (10, 10) matrices: the first 3 elements; an
                int there picks one batch element).
                
        """
    def __mul__(self, value: Expression | Parameters | float) -> Expression:
        """
        Return self*value.
        """
    def __neg__(self) -> Expression:
        """
        -self
        """
    def __pow__(self, value, mod = None):
        """
        Return pow(self, value, mod).
        """
    def __radd__(self, value: Expression | Parameters | float) -> Expression:
        """
        Return value+self.
        """
    def __repr__(self) -> str:
        """
        "expression N/V": the node's number N in graph version V, as DyNet prints it.
        """
    def __rmul__(self, value: Expression | Parameters | float) -> Expression:
        """
        Return value*self.
        """
    def __rpow__(self, value, mod = None):
        """
        Return pow(value, self, mod).
        """
    def __rsub__(self, value: Expression | Parameters | float) -> Expression:
        """
        Return value-self.
        """
    def __rtruediv__(self, value: Expression | Parameters | float) -> Expression:
        """
        Return value/self.
        """
    def __sub__(self, value: Expression | Parameters | float) -> Expression:
        """
        Return self-value.
        """
    def __truediv__(self, value: Expression | Parameters | float) -> Expression:
        """
        Return self/value.
        """
    def backward(self, full: bool = False) -> None:
        """
        Reverse-mode gradients of this scalar (summed over the batch).
        """
    def device(self) -> str:
        """
        The device this expression's value lives on ('CPU', 'EMU:0', 'GPU:0').
        """
    def dim(self) -> tuple:
        """
        Shape as ((axes...), batch).
        """
    def forward(self, recalculate: bool = False) -> None:
        ...
    def gradient(self) -> numpy.ndarray:
        ...
    def npvalue(self, recalculate: bool = False) -> numpy.ndarray:
        """
        Value as a NumPy array: the axes, plus the batch as a last axis if > 1.
        """
    def scalar_value(self, recalculate: bool = False) -> float:
        ...
    def set(self, values) -> None:
        """
        New data for an input expression, or new rows for a lookup, in this graph.
        
                On an input (vecInput, matInput, inputVector, inputTensor): ``values`` is a
                flat list in column-major order (DyNet's memory order), or an array of the
                expression's shape (with the batch as a last axis if > 1). On a lookup
                (``lp[5]``, ``lookup``, ``lookup_batch``): the new row index (a list of them
                for a batched lookup), as in DyNet. Every value computed from it is
                recomputed at the next ``value()``.
                
        """
    def tensor_value(self, recalculate: bool = False) -> Tensor:
        """
        The value as a :class:`Tensor` (keeps shape and batch size).
        """
    def value(self, recalculate: bool = False) -> typing.Any:
        """
        float for a scalar, list for a vector (batch elements concatenated), else npvalue().
        """
    def vec_value(self, recalculate: bool = False) -> list:
        ...
    @property
    def __cuda_array_interface__(self) -> dict:
        """
        CUDA Array Interface (version 3) of a GPU value: zero-copy, the memory pinned while this Expression lives.
        """
class _TestArena:
    def __init__(self) -> None:
        ...
    def allocate(self, arg0: int) -> int:
        ...
    def allocator_bytes(self) -> int:
        ...
    def capacity(self) -> int:
        ...
    def chunks(self) -> int:
        ...
    def reset(self) -> None:
        ...
    def used(self) -> int:
        ...
class _TestBlockPool:
    def __init__(self, arg0: int) -> None:
        ...
    def allocate(self, arg0: int) -> int:
        ...
    def allocate_top(self, arg0: int) -> int:
        ...
    def free(self, arg0: int) -> None:
        ...
    def free_blocks(self) -> int:
        ...
    def in_use(self) -> int:
        ...
    def largest_free(self) -> int:
        ...
    def peak(self) -> int:
        ...
    def reset(self) -> None:
        ...
class Parameters:
    """
    A parameter tensor owned by a ParameterCollection.
    """
    __array_ufunc__ = None
    _device: str
    def __getitem__(self, key) -> Expression:
        """
        Indexes this parameter's node as an Expression is indexed (``W[0]``, ``W[:, 1]``).
        """
    def __repr__(self) -> str:
        ...
    def _clear_grad(self) -> None:
        """
        Zeroes the gradient (what a trainer's update does after applying it).
        """
    def _entry_text(self, key: str = '') -> bytes:
        """
        The entry save() writes, as bytes.
        """
    def _grad_view(self) -> numpy.ndarray:
        ...
    def _mark_grad(self) -> None:
        ...
    def _values_view(self) -> numpy.ndarray:
        ...
    def as_array(self) -> numpy.ndarray:
        ...
    def backward(self, full: bool = False) -> None:
        """
        Expression.backward of this parameter's node in the current graph.
        """
    def clip_inplace(self, left: float, right: float) -> None:
        ...
    def dim(self) -> tuple:
        ...
    def expr(self, update: bool = False) -> Expression:
        """
        This parameter's node; update=False (the default, as in DyNet) keeps it out of training.
        """
    def forward(self, recalculate: bool = False) -> None:
        """
        Expression.forward of this parameter's node in the current graph.
        """
    def grad_as_array(self) -> numpy.ndarray:
        ...
    def gradient(self) -> numpy.ndarray:
        """
        Expression.gradient of this parameter's node in the current graph.
        """
    def is_updated(self) -> bool:
        ...
    def name(self) -> str:
        ...
    def npvalue(self, recalculate: bool = False) -> numpy.ndarray:
        """
        Expression.npvalue of this parameter's node in the current graph.
        """
    def populate(self, fname: str, key: str = '') -> None:
        ...
    def populate_from_textfile(self, fname: str, key: str = '') -> None:
        """
        :meth:`populate` under DyNet's other name.
        """
    def save(self, fname: str, key: str = '', append: bool = False) -> None:
        """
        Writes this parameter as one entry of DyNet's text format, named `key` (default: its name).
        """
    def scalar_value(self, recalculate: bool = False) -> float:
        """
        Expression.scalar_value of this parameter's node in the current graph.
        """
    def scale(self, s: float) -> None:
        ...
    def scale_gradient(self, s: float) -> None:
        ...
    def set_updated(self, b: bool) -> None:
        ...
    def set_value(self, arr: typing.Any) -> None:
        ...
    def shape(self) -> typing.Any:
        ...
    def tensor_value(self, recalculate: bool = False) -> Tensor:
        """
        Expression.tensor_value of this parameter's node in the current graph.
        """
    def value(self, recalculate: bool = False):
        """
        Expression.value of this parameter's node in the current graph.
        """
    def vec_value(self, recalculate: bool = False) -> list:
        """
        Expression.vec_value of this parameter's node in the current graph.
        """
    def write_to_textfile(self, fname: str, key: str = '', append: bool = False) -> None:
        """
        :meth:`save` under DyNet's other name.
        """
    def zero(self) -> None:
        ...
    @property
    def cg_version(self) -> int:
        """
        The version of the current graph (where this parameter's node is).
        """
    @property
    def vindex(self) -> int:
        """
        The index of this parameter's node in the current graph.
        """
class LookupParameters:
    """
    A table of parameter rows (embeddings).
    """
    __array_ufunc__ = None
    _device: str
    @typing.overload
    def __getitem__(self, index: int) -> Expression:
        """
        Row `index` as an expression (DyNet's lookup).
        """
    @typing.overload
    def __getitem__(self, indices: collections.abc.Sequence[int]) -> Expression:
        """
        Rows `indices` as one batched expression (DyNet's lookup_batch).
        """
    def __len__(self) -> int:
        """
        The number of rows, as DyNet's ``len(lp)``.
        """
    def __repr__(self) -> str:
        ...
    def _clear_grad(self) -> None:
        """
        Zeroes the gradient and forgets the touched rows.
        """
    def _entry_text(self, key: str = '') -> bytes:
        """
        The entry save() writes, as bytes.
        """
    def _grad_rows(self) -> numpy.ndarray:
        """
        The gradient as (rows, *row_shape), a view: no copy of the table.
        """
    def _grad_view(self) -> numpy.ndarray:
        ...
    def _mark_all_grad(self) -> None:
        ...
    def _mark_rows(self, rows: collections.abc.Sequence[int]) -> None:
        """
        Marks rows as holding a gradient written through _grad_view (a trainer then updates them).
        """
    def _touched_rows(self) -> list[int]:
        """
        Rows with a gradient since the last update.
        """
    def _values_view(self) -> numpy.ndarray:
        ...
    def as_array(self) -> numpy.ndarray:
        ...
    def backward(self, full: bool = False) -> None:
        """
        Expression.backward of this parameter's node in the current graph.
        """
    def batch(self, i):
        """
        The rows ``i`` (a sequence of indices) as one batched expression (``lookup_batch``).
        """
    def dim(self) -> tuple:
        """
        ((row shape..., rows), 1): the whole table's expression shape, as DyNet's.
        """
    def expr(self, update: bool = True) -> Expression:
        """
        The whole table as one (row shape..., rows) expression.
        """
    def forward(self, recalculate: bool = False) -> None:
        """
        Expression.forward of this parameter's node in the current graph.
        """
    def grad_as_array(self) -> numpy.ndarray:
        ...
    def gradient(self) -> numpy.ndarray:
        """
        Expression.gradient of this parameter's node in the current graph.
        """
    def init_from_array(self, arr: typing.Any) -> None:
        ...
    def init_row(self, i: int, row: typing.Any) -> None:
        ...
    def is_updated(self) -> bool:
        ...
    def name(self) -> str:
        ...
    def npvalue(self, recalculate: bool = False) -> numpy.ndarray:
        """
        Expression.npvalue of this parameter's node in the current graph.
        """
    def populate(self, fname: str, key: str = '') -> None:
        ...
    def populate_from_textfile(self, fname: str, key: str = '') -> None:
        """
        :meth:`populate` under DyNet's other name.
        """
    def row_as_array(self, row: int) -> numpy.ndarray:
        ...
    def row_grad_as_array(self, row) -> numpy.ndarray:
        """
        The gradient of one row, shaped like the row (float64, a copy).
        """
    def rows_as_array(self, rows) -> numpy.ndarray:
        """
        The given rows as one array of shape (len(rows), *row_shape).
        """
    def rows_grad_as_array(self, rows) -> numpy.ndarray:
        """
        The gradients of the given rows, one array of shape (len(rows), *row_shape).
        """
    def save(self, fname: str, key: str = '', append: bool = False) -> None:
        """
        Writes this table as one entry of DyNet's text format, named `key` (default: its name).
        """
    def scalar_value(self, recalculate: bool = False) -> float:
        """
        Expression.scalar_value of this parameter's node in the current graph.
        """
    def scale(self, s: float) -> None:
        ...
    def scale_gradient(self, s: float) -> None:
        ...
    def set_updated(self, b: bool) -> None:
        ...
    def shape(self) -> tuple:
        ...
    def tensor_value(self, recalculate: bool = False) -> Tensor:
        """
        Expression.tensor_value of this parameter's node in the current graph.
        """
    def value(self, recalculate: bool = False):
        """
        Expression.value of this parameter's node in the current graph.
        """
    def vec_value(self, recalculate: bool = False) -> list:
        """
        Expression.vec_value of this parameter's node in the current graph.
        """
    def write_to_textfile(self, fname: str, key: str = '', append: bool = False) -> None:
        """
        :meth:`save` under DyNet's other name.
        """
    def zero(self) -> None:
        ...
    @property
    def cg_version(self) -> int:
        """
        The version of the current graph (where this parameter's node is).
        """
    @property
    def vindex(self) -> int:
        """
        The index of this parameter's node in the current graph.
        """
class ParameterCollectionCore:
    def __init__(self) -> None:
        ...
    def _checkpoint(self) -> ...:
        """
        What the collection holds now, for _restore.
        """
    def _entries_text(self, name: str = '') -> bytes:
        """
        The entries save() writes, as bytes.
        """
    def _restore(self, state: ...) -> None:
        """
        Forgets every parameter and subcollection added since the checkpoint.
        """
    def add_lookup_parameters(self, dim: typing.Any, name: str = '') -> LookupParameters:
        ...
    def add_parameters(self, dim: typing.Any, name: str = '') -> Parameters:
        ...
    def add_subcollection(self, name: str = '') -> ParameterCollectionCore:
        ...
    def lookup_parameters_list(self) -> list[LookupParameters]:
        ...
    def name(self) -> str:
        ...
    def parameter_count(self) -> int:
        ...
    def parameters_list(self) -> list[Parameters]:
        ...
    def populate(self, fname: str, key: str = '') -> None:
        ...
    def save(self, fname: str, name: str = '', append: bool = False) -> None:
        ...
    @property
    def weight_decay(self) -> float:
        ...
    @weight_decay.setter
    def weight_decay(self, arg0: float) -> None:
        ...
class _CollectionState:
    pass
class TrainerCore:
    check_finite: bool
    clipping_enabled: bool
    sparse_updates: bool
    def __init__(self, kind: str, pc: ParameterCollectionCore, hyper: collections.abc.Sequence[float]) -> None:
        ...
    def _set_state(self, param: typing.Any, state: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> None:
        """
        Sets what _state_of returns (empty: forget it).
        """
    def _state_of(self, param: typing.Any) -> numpy.typing.NDArray[numpy.float32]:
        """
        The rule's state of one parameter (slot-major floats; empty before its first update).
        """
    def restart(self) -> None:
        ...
    def status(self) -> str:
        ...
    def update(self) -> None:
        ...
    @property
    def clip_threshold(self) -> float:
        ...
    @clip_threshold.setter
    def clip_threshold(self, arg0: float) -> None:
        ...
    @property
    def clips(self) -> int:
        ...
    @property
    def learning_rate(self) -> float:
        ...
    @learning_rate.setter
    def learning_rate(self, arg0: float) -> None:
        ...
    @property
    def updates(self) -> int:
        ...
    @updates.setter
    def updates(self, arg0: int) -> None:
        ...
def _autobatch_pool_min_work(work: float = -1.0) -> float:
    """
    For measurements: the work (values read and written, plus a product's multiply-adds) from which a group may run on the engine's threads; sets it when work >= 0 and returns the previous value.
    """
def _check_parameter_shape(dim: typing.Any, lookup: bool) -> None:
    """
    Raises for a shape that add_parameters could never allocate.
    """
def _cuda_array_interface(e: typing.Any) -> dict:
    """
    __cuda_array_interface__'s dict, also for EMU:0 values (host memory), for the tests.
    """
def _fail_next_params_block() -> None:
    """
    For the tests: the next renew_cg() under a device budget finds no room for the resident parameters.
    """
def _gemm(C: numpy.ndarray, A: numpy.ndarray, trans_a: bool, B: numpy.ndarray, trans_b: bool, beta: float, alpha: float) -> None:
    ...
def _general(f: typing.Any) -> typing.Any:
    """
    The general function behind a fast-call front (the one its uncommon calls go to).
    """
def _kept_alive_count() -> int:
    """
    Parameter storages the current graph holds a reference to (one per storage used; 0 after renew_cg).
    """
def _load_blas(path: str, prefix: str) -> None:
    """
    dlopen a CBLAS library and send large matrix products to <prefix>cblas_sgemm.
    """
def _matmul(arg0: Expression, arg1: Expression) -> Expression:
    ...
def _parameters_front(general: collections.abc.Callable) -> typing.Any:
    """
    dy.parameter: returns a single Parameters or LookupParameters argument in C, general(...) otherwise.
    """
def _pool_handoff_ns(jobs: int, tasks: int) -> float:
    """
    For measurements: nanoseconds per job of `jobs` empty jobs of `tasks` tasks each, run back to back on the engine's threads (set_num_threads).
    """
def _pool_parallel_ns() -> int:
    """
    For measurements: wall-clock nanoseconds spent in jobs handed to the engine's threads (two or more tasks, two or more threads) since the process started; the rest ran on one thread.
    """
def _pool_worker_sleeps() -> int:
    """
    For tests: how many times the engine's pool workers have gone to sleep (after spinning without a job) since the pool started; 0 without a pool.
    """
def _resident_traffic() -> tuple[int, int]:
    """
    Bytes of parameter memory (values, gradients, trainer state) copied (to the device, to the host) so far.
    """
def _saved_dim(fname: str, lookup: bool, key: str) -> tuple:
    """
    ((shape), batch) of the entry saved under `key`.
    """
def _saved_entries(fname: str) -> list:
    """
    (kind, name, shape, value count) of every entry of a model file.
    """
def _set_absorb_activation(on: bool) -> bool:
    """
    For tests and measurements: whether tanh / logistic / rectify of an affine_transform nothing else holds (f(W * x + b)) is folded into that node (default on); returns the previous setting.
    """
def _set_absorb_bias(on: bool) -> bool:
    """
    For tests and measurements: whether `W * x + b` with a product nothing else holds is built as one affine_transform node (default on); returns the previous setting.
    """
def _set_autobatch_backward_waves(on: bool) -> bool:
    """
    For measurements and tests: whether backward on the engine's threads runs independent groups at once (default on); returns the previous setting.
    """
def _set_autobatch_fault(members: int) -> None:
    """
    For tests: the next batched group of at least `members` members raises IndexError in its forward, or (set after the forward) in its backward (0: off).
    """
def _set_autobatch_place_outputs(on: bool) -> None:
    """
    For tests and measurements: whether autobatched forward writes groups' outputs end to end where a later group reads them as one argument (default on).
    """
def _set_autobatch_share_grads(on: bool) -> None:
    """
    For tests and measurements: whether autobatched backward lets an add's / sub's / esum's arguments share its gradient block (default on).
    """
def _set_emu_copy_delay(us: int) -> None:
    """
    For the tests: every copy on EMU:0's copy stream takes `us` microseconds longer.
    """
def _unload_blas() -> None:
    """
    Send every matrix product to Eigen again.
    """
def abs(x: Expression) -> Expression:
    """
    Element-wise absolute value.
    """
def acos(x: Expression) -> Expression:
    """
    Element-wise arccosine.
    """
def acosh(x: Expression) -> Expression:
    """
    Element-wise inverse hyperbolic cosine.
    """
def add_grad(p: Parameters, g: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> None:
    """
    Adds g (p's shape, as as_array() lays it out) to p's gradient where it lives and marks it for the trainer's next update.
    """
def add_grad_outer(p: Parameters, u: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], v: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> None:
    """
    Adds u v^T (u: rows x K, v: cols x K) to p's gradient where it lives (on a device: one GEMM there) and marks it for the trainer's next update.
    """
def affine_transform(exprs: collections.abc.Sequence[Expression]) -> Expression:
    """
    b + W1*x1 + W2*x2 + ... for exprs = [b, W1, x1, W2, x2, ...].
    """
def argmax(x: Expression, gradient_mode: str = 'zero_gradient') -> Expression:
    """
    One-hot vector of the (first) maximum of x.
    """
def asin(x: Expression) -> Expression:
    """
    Element-wise arcsine.
    """
def asinh(x: Expression) -> Expression:
    """
    Element-wise inverse hyperbolic sine.
    """
def atan(x: Expression) -> Expression:
    """
    Element-wise arctangent.
    """
def atanh(x: Expression) -> Expression:
    """
    Element-wise inverse hyperbolic tangent.
    """
def autobatch_stats() -> dict:
    """
    Nodes executed, kernel groups launched and scheduler time since start (autobatching); batched arguments used in place (one contiguous block) or gathered, and their gradients likewise (counted since start or the last set_autobatch_profiling); grads_aliased: groups whose gradient block is their only user's (an argument of add, sub, esum or +c whose gradient is the user's own: no zeroing, no copy); products_stacked: product groups run as part of one GEMM over stacked weights, in stacked_sets such GEMMs (see set_autobatch_stacking); weights_transposed: transposed copies of weight matrices made in batched backward passes (one per matrix per pass; a group's W^T dY then runs as a plain product); groups_pooled: groups run on the engine's threads, in waves_pooled waves (see set_num_threads); pieces_forward: pieces of groups split by members over the threads, pieces_backward: argument gradients so split, pieces_outer: weight-gradient products split by columns; groups_waved_backward: groups whose argument gradients ran at once with other groups' on the threads, in waves_backward such waves; outputs_placed: groups whose output was written where a later group reads it together with other groups' outputs as one argument (no gather); phase_ns: nanoseconds per executor phase while set_autobatch_profiling(True) is on (zeros otherwise).
    """
def binary_log_loss(x: Expression, y: Expression) -> Expression:
    """
    Binary cross-entropy -sum(y log x + (1 - y) log(1 - x)) of probabilities x and targets y.
    """
def blas_info() -> str:
    """
    Which library runs large matrix products: 'openblas <path>' or 'eigen'.
    """
def block_dropout(x: Expression, p: float) -> Expression:
    """
    Drops all of x or none of it (one draw); p = 1 gives zeros, as in DyNet.
    """
def bmax(x: Expression, y: Expression) -> Expression:
    """
    Element-wise maximum of x and y.
    """
def bmin(x: Expression, y: Expression) -> Expression:
    """
    Element-wise minimum of x and y.
    """
def cdiv(x: Expression, y: Expression) -> Expression:
    """
    Element-wise quotient x / y (broadcasting a size-1 axis or batch).
    """
def ceil(x: Expression, gradient_mode: str = 'zero_gradient') -> Expression:
    """
    Element-wise ceiling; gradient_mode zero_gradient or straight_through_gradient.
    """
def cg_checkpoint() -> None:
    """
    Marks the graph's current size; cg_revert() goes back to it.
    """
def cg_epoch() -> int:
    """
    Changes at every renew_cg() and cg_revert(): expressions cached under an older epoch may have been removed (and their node numbers reused), so caches of expressions key on this.
    """
def cg_revert() -> None:
    """
    Removes the nodes added since the last cg_checkpoint() (their expressions become stale).
    """
def cg_version() -> int:
    """
    The current graph's version: renew_cg() and cg_revert() start a new one (DyNet's cg_version).
    """
def circ_conv(u: Expression, v: Expression) -> Expression:
    """
    Circular convolution y_k = sum_i u_i v_{(k - i) mod n} of two vectors.
    """
def circ_corr(u: Expression, v: Expression) -> Expression:
    """
    Circular correlation y_k = sum_i u_i v_{(i + k) mod n} of two vectors.
    """
def cmult(x: Expression, y: Expression) -> Expression:
    """
    Element-wise product (broadcasting a size-1 axis or batch).
    """
def concatenate(xs: collections.abc.Sequence[Expression], d: int = 0) -> Expression:
    """
    Joins xs along axis d.
    """
def concatenate_cols(xs: collections.abc.Sequence[Expression]) -> Expression:
    """
    Joins xs side by side (along axis 1).
    """
def concatenate_to_batch(xs: collections.abc.Sequence[Expression]) -> Expression:
    """
    The batch elements of all xs, as one batch.
    """
@typing.overload
def const_parameter(p: Parameters) -> Expression:
    ...
@typing.overload
def const_parameter(p: LookupParameters) -> Expression:
    ...
def constant(dim: typing.Any, val: float, batch_size: int = 1) -> Expression:
    """
    A tensor of shape dim (batch_size elements) filled with val.
    """
def constrained_softmax(x: Expression, y: Expression) -> Expression:
    """
    Softmax of the scores x with upper bounds y on the probabilities.
    """
def contract3d_1d(x: Expression, y: Expression) -> Expression:
    """
    z[i, j] = sum_k x[i, j, k] y[k] for x (a, b, c) and y (c,): result (a, b).
    """
def contract3d_1d_1d(x: Expression, y: Expression, z: Expression) -> Expression:
    """
    t[i] = sum_{j,k} x[i, j, k] y[k] z[j] for x (a, b, c), y (c,), z (b,): result (a,).
    """
def contract3d_1d_1d_bias(x: Expression, y: Expression, z: Expression, b: Expression) -> Expression:
    """
    contract3d_1d_1d(x, y, z) + b, b of shape (a,).
    """
def contract3d_1d_bias(x: Expression, y: Expression, b: Expression) -> Expression:
    """
    contract3d_1d(x, y) + b, b of shape (a, b).
    """
def conv2d(x: Expression, f: Expression, stride: collections.abc.Sequence[int], is_valid: bool = True) -> Expression:
    """
    2-D convolution (cross-correlation) of feature maps x (H, W, C_in) with filters f (fh, fw, C_in, C_out); stride [sh, sw]; is_valid=False pads as TensorFlow's SAME. Result (YH, YW, C_out), batch kept.
    """
def conv2d_bias(x: Expression, f: Expression, b: Expression, stride: collections.abc.Sequence[int], is_valid: bool = True) -> Expression:
    """
    conv2d(x, f, stride, is_valid) plus the bias b (C_out,) on every output position.
    """
def cos(x: Expression) -> Expression:
    """
    Element-wise cosine.
    """
def cosh(x: Expression) -> Expression:
    """
    Element-wise hyperbolic cosine.
    """
def cube(x: Expression) -> Expression:
    """
    Element-wise cube.
    """
def cuda_device_count() -> int:
    """
    GPUs the CUDA runtime sees (0 without a CUDA build or a GPU).
    """
def cumsum(x: Expression, d: int = 0) -> Expression:
    """
    Cumulative sum along axis d.
    """
def device_id(name: str) -> int:
    """
    The engine's number of a device name ('CPU' 0, 'EMU:0' 1, 'GPU:i' 2+i); ValueError for an unknown one.
    """
def device_launch_stats(device: str) -> dict:
    """
    What a device's launcher issued since the last reset: kernel launches, sgemm and strided-batched sgemm calls (one each) and copies (host<->device and within the device).
    """
def device_memory(device: str) -> dict:
    """
    Bytes of the device's memory: the graph's pools, all live allocations, their peak.
    """
def device_memory_stats(device: str) -> dict:
    """
    Counters of the graph memory on a device since the last reset (see docs/memory.md).
    """
def device_name(arg0: int) -> str:
    ...
def device_op_names(device: str) -> str:
    """
    Space-separated names of the ops with a kernel on the device.
    """
def dot_product(x: Expression, y: Expression) -> Expression:
    """
    Dot product of two vectors (one value per batch element).
    """
def dropout(x: Expression, p: float) -> Expression:
    """
    Inverted dropout: each unit is zeroed with probability p, kept units scaled by 1/(1-p) (p = 1 gives NaN, as in DyNet, with a RuntimeWarning).
    """
def dropout_batch(x: Expression, p: float) -> Expression:
    """
    Dropout of whole batch elements.
    """
def dropout_dim(x: Expression, d: int, p: float) -> Expression:
    """
    Dropout with one mask value shared along axis d (drops whole columns for d=0, rows for d=1).
    """
def elu(x: Expression, alpha: float = 1.0) -> Expression:
    """
    Element-wise ELU: x for x > 0, alpha * (exp(x) - 1) otherwise.
    """
def emax(xs: collections.abc.Sequence[Expression]) -> Expression:
    """
    Element-wise maximum of a list of expressions of one shape.
    """
def erf(x: Expression) -> Expression:
    """
    Element-wise Gauss error function.
    """
def esum(xs: collections.abc.Sequence[Expression]) -> Expression:
    """
    Element-wise sum of a list of expressions of one shape.
    """
def exp(x: Expression) -> Expression:
    """
    Element-wise exponential.
    """
def filter1d_narrow(x: Expression, y: Expression) -> Expression:
    """
    Narrow 1-D convolution of x (d, n) with filters y (d, w[, m]): result (m, n - w + 1), entry [k, j] = sum(x[:, j:j+w] * y[:, :, k]).
    """
def flip_gradient(x: Expression) -> Expression:
    """
    x itself; backward passes the negated gradient (adversarial training).
    """
def floor(x: Expression, gradient_mode: str = 'zero_gradient') -> Expression:
    """
    Element-wise floor; gradient_mode zero_gradient or straight_through_gradient.
    """
def fold_rows(x: Expression, nrows: int = 2) -> Expression:
    """
    Sums each group of nrows consecutive rows: (r, c) -> (r / nrows, c).
    """
def forward_all(exps: collections.abc.Sequence[Expression], recalculate: bool = False) -> None:
    ...
def get_autobatch() -> bool:
    ...
def get_autobatch_policy() -> str:
    """
    The autobatching executor's rule for the next group: "height" (default) or "depth" (DyNet's).
    """
def get_autobatch_stacking() -> bool:
    """
    Whether products sharing a batched right operand run as one GEMM (set_autobatch_stacking).
    """
def get_default_device() -> str:
    ...
def get_num_threads() -> int:
    """
    Threads the engine may use (set_num_threads; 1 by default).
    """
def graph_nodes() -> list:
    """
    Every node of the current graph as (op name, argument node ids, ((axes...), batch), parameter name or None), in order: what graph printers need.
    """
def graph_size() -> int:
    """
    Number of nodes in the current graph.
    """
def have_cuda() -> bool:
    """
    True in a CUDA build (DYNAGRAPH_BACKEND=cuda).
    """
@typing.overload
def hinge(x: Expression, v: int, m: float = 1.0) -> Expression:
    """
    sum_{j != v} max(0, x_j - x_v + m).
    """
@typing.overload
def hinge(x: Expression, v: collections.abc.Sequence[int], m: float = 1.0) -> Expression:
    ...
def hinge_batch(x: Expression, vs: collections.abc.Sequence[int], m: float = 1.0) -> Expression:
    """
    hinge(x, vs[b], m) for each batch element b.
    """
@typing.overload
def hinge_dim(x: Expression, v: collections.abc.Sequence[int], d: int = 0, m: float = 1.0) -> Expression:
    """
    Hinge loss along axis d of a matrix, one correct index per line (or one list per batch element).
    """
@typing.overload
def hinge_dim(x: Expression, v: collections.abc.Sequence[collections.abc.Sequence[int]], d: int = 0, m: float = 1.0) -> Expression:
    ...
def huber_distance(x: Expression, y: Expression, c: float = 1.3450000286102295) -> Expression:
    """
    Huber loss of x - y: quadratic within c, linear beyond, summed.
    """
def inputMatrix(v: typing.Any, d: typing.Any) -> Expression:
    """
    An input of shape d from the numbers v in column-major order.
    """
def inputTensor(arr: typing.Any, batched: bool = False, device: str = '', reusable_expr: bool = False) -> Expression:
    """
    A tensor of a NumPy array or nested lists (with batched=True the last axis is the batch); a list of NumPy arrays is a batch of them. A DLPack array in host memory is read through numpy.from_dlpack; a float32 contiguous CUDA array (__cuda_array_interface__) is copied device to device on a GPU.
    """
def inputVector(v: typing.Any, device: str = '') -> Expression:
    """
    A vector input of the numbers in v (a list or a 1-D array).
    """
def inverse(x: Expression) -> Expression:
    """
    Inverse of a square matrix.
    """
def kmax_pooling(x: Expression, k: int, d: int = 1) -> Expression:
    """
    The k largest entries along axis d, kept in their original order.
    """
def kmh_ngram(x: Expression, v: int) -> Expression:
    """
    Sums of v consecutive columns: (d, n) -> (d, n - v + 1).
    """
def l1_distance(x: Expression, y: Expression) -> Expression:
    """
    sum(|x - y|), one value per batch element.
    """
def l2_norm(x: Expression) -> Expression:
    """
    sqrt(sum(x^2)), one value per batch element.
    """
def layer_norm(x: Expression, g: Expression, b: Expression) -> Expression:
    """
    g * (x - mean(x)) / (std(x) + 1e-8) + b over all elements of each batch element; g, b shaped like x.
    """
def lgamma(x: Expression) -> Expression:
    """
    Element-wise log of the absolute gamma function.
    """
def log(x: Expression) -> Expression:
    """
    Element-wise natural logarithm.
    """
def log_sigmoid(x: Expression) -> Expression:
    """
    Element-wise log(sigmoid(x)), computed stably.
    """
def log_softmax(x: Expression, restrict: collections.abc.Sequence[int] | None = None) -> Expression:
    """
    Column-wise log softmax; with `restrict` (indices) the others are -inf.
    """
def logdet(x: Expression) -> Expression:
    """
    log(det(x)) of a square positive-definite matrix.
    """
def logistic(x: Expression) -> Expression:
    """
    Element-wise sigmoid 1 / (1 + exp(-x)).
    """
def logsumexp(xs: collections.abc.Sequence[Expression]) -> Expression:
    """
    Element-wise log(sum_k exp(xs[k])).
    """
def logsumexp_dim(x: Expression, d: int = 0) -> Expression:
    """
    log(sum(exp(x))) along axis d (which is removed).
    """
def lookup(p: LookupParameters, index: int = 0, update: bool = True) -> Expression:
    """
    Row `index` of a lookup table as an expression (update=False: a constant, no gradient).
    """
def lookup_batch(p: LookupParameters, indices: collections.abc.Sequence[int], update: bool = True) -> Expression:
    """
    The rows `indices` of a lookup table as one batched expression.
    """
def max_dim(x: Expression, d: int = 0) -> Expression:
    """
    Maximum along axis d (removed from the shape).
    """
def maxpooling2d(x: Expression, ksize: collections.abc.Sequence[int], stride: collections.abc.Sequence[int], is_valid: bool = True) -> Expression:
    """
    2-D max pooling of feature maps x (H, W, C) with window ksize [kh, kw] and stride [sh, sw]; is_valid=False pads as SAME (padding never wins).
    """
def memory_in_use() -> dict:
    """
    Bytes reserved by the graph's memory pools.
    """
def min_dim(x: Expression, d: int = 0) -> Expression:
    """
    Minimum along axis d (removed from the shape).
    """
def moment_batches(x: Expression, r: int) -> Expression:
    """
    r-th moment over the batch.
    """
def moment_dim(x: Expression, d: typing.Any, r: int, b: bool = False, n: int = 0) -> Expression:
    """
    r-th moment over the axes in d (and the batch when b); n > 0 replaces the divisor.
    """
def moment_elems(x: Expression, r: int) -> Expression:
    """
    r-th moment (1/n) sum x^r of all elements of each batch element.
    """
def nobackprop(x: Expression) -> Expression:
    """
    x itself, through which backward passes no gradient.
    """
def node_expression(i: int) -> Expression:
    """
    An Expression for node i of the current graph.
    """
def node_ops() -> list:
    """
    The op name of every node of the current graph, in order.
    """
def noise(x: Expression, stddev: float) -> Expression:
    """
    x plus Gaussian noise of standard deviation stddev.
    """
def ones(dim: typing.Any, batch_size: int = 1) -> Expression:
    """
    A tensor of shape dim (batch_size elements) of ones.
    """
def op_families() -> list:
    """
    The op families in op_table.def's order: name (csrc/ops/<name>.cc) and title.
    """
def op_table() -> list:
    """
    Every registered op, as op_table.def lists it: name, family, arity (-1 = any), differentiable-argument mask, autobatching kind (none, plain, per_element), devices with a kernel (CPU, GPU) and the functions that build it.
    """
def pairwise_rank_loss(x: Expression, y: Expression, m: float = 1.0) -> Expression:
    """
    Element-wise max(0, m - x + y).
    """
@typing.overload
def parameter(p: Parameters) -> Expression:
    ...
@typing.overload
def parameter(p: LookupParameters) -> Expression:
    ...
def pick(e: Expression, index: typing.Any = 0, dim: int = 0) -> Expression:
    """
    Position `index` of axis `dim` (that axis is removed); a list of indices picks one per batch element.
    """
def pick_batch(e: Expression, indices: collections.abc.Sequence[int], dim: int = 0) -> Expression:
    """
    One index of axis `dim` per batch element.
    """
def pick_batch_elem(x: Expression, v: int) -> Expression:
    """
    Batch element v (result has batch 1).
    """
def pick_batch_elems(x: Expression, vs: collections.abc.Sequence[int]) -> Expression:
    """
    Batch elements vs, in that order (batch len(vs)).
    """
def pick_range(x: Expression, s: int, e: int, d: int = 0) -> Expression:
    """
    Positions [s, e) of axis d.
    """
@typing.overload
def pickneglogsoftmax(x: Expression, v: int) -> Expression:
    """
    -log(softmax(x)[v]); v a list gives one index per batch element.
    """
@typing.overload
def pickneglogsoftmax(x: Expression, v: collections.abc.Sequence[int]) -> Expression:
    ...
def pickneglogsoftmax_batch(x: Expression, vs: collections.abc.Sequence[int]) -> Expression:
    """
    -log(softmax(x)[vs[b]]) for each batch element b.
    """
def pickrange(x: Expression, s: int, e: int, d: int = 0) -> Expression:
    """
    Positions [s, e) of axis d.
    """
def pinned_empty(shape: collections.abc.Sequence[int], dtype: typing.Any, device: str) -> numpy.ndarray:
    """
    An uninitialised NumPy array in the pinned host memory of a device's transfers (page-locked on a GPU); its buffer goes back to the pool when the array is gone.
    """
def pinned_memory_stats(device: str) -> dict:
    """
    Counters of a device's pinned host memory pool (see docs/memory.md).
    """
def poisson_loss(log_lambda: Expression, x: int) -> Expression:
    """
    Negative log-likelihood of count x under Poisson(exp(log_lambda)).
    """
def pow(x: Expression, y: Expression) -> Expression:
    """
    Element-wise power x ** y.
    """
def random_bernoulli(dim: typing.Any, p: float, scale: float = 1.0, batch_size: int = 1) -> Expression:
    """
    scale with probability p, else 0, per element of shape dim, drawn at evaluation.
    """
def random_gumbel(dim: typing.Any, mu: float = 0.0, beta: float = 1.0, batch_size: int = 1) -> Expression:
    """
    Gumbel(mu, beta) samples of shape dim, drawn at evaluation.
    """
def random_normal(dim: typing.Any, mean: float = 0.0, stddev: float = 1.0, batch_size: int = 1) -> Expression:
    """
    Gaussian samples N(mean, stddev^2) of shape dim, drawn at evaluation.
    """
def random_uniform(dim: typing.Any, left: float, right: float, batch_size: int = 1) -> Expression:
    """
    Uniform samples in [left, right) of shape dim, drawn at evaluation (left > right draws in (right, left], as DyNet).
    """
def rectify(x: Expression) -> Expression:
    """
    Element-wise ReLU max(0, x).
    """
def renew_cg(immediate_compute: bool = False, check_validity: bool = False) -> None:
    """
    Drops the current graph (expressions made before are stale); the flags hold for the new graph.
    """
def reset_device_launch_stats(device: str) -> None:
    """
    Zeroes the counters of device_launch_stats.
    """
def reset_device_memory_stats(device: str) -> None:
    """
    Zeroes the counters of device_memory_stats (the peak starts again from now).
    """
def reshape(x: Expression, d: typing.Any, batch_size: int = 1) -> Expression:
    """
    Same values (column-major) with shape d; no copy.
    """
def round(x: Expression, gradient_mode: str = 'zero_gradient') -> Expression:
    """
    Element-wise rounding; gradient_mode zero_gradient or straight_through_gradient.
    """
def scalarInput(s: float, device: str = '') -> Expression:
    """
    A one-element input holding s.
    """
def scale_gradient(x: Expression, lambd: float = 1.0) -> Expression:
    """
    x itself; backward multiplies its gradient by lambd.
    """
def select_cols(x: Expression, cs: collections.abc.Sequence[int]) -> Expression:
    """
    Columns cs of the matrix x (any order, repeats allowed).
    """
def select_rows(x: Expression, rs: collections.abc.Sequence[int]) -> Expression:
    """
    Rows rs of x (any order, repeats allowed).
    """
def selu(x: Expression) -> Expression:
    """
    Element-wise scaled exponential linear unit (SELU).
    """
def set_autobatch(arg0: bool) -> None:
    """
    Switch the autobatching executor on or off.
    """
def set_autobatch_policy(arg0: str) -> None:
    """
    Which ready group the autobatching executor runs next: 'height' (longest remaining path, the default) or 'depth' (DyNet's rule: closest to the inputs).
    """
def set_autobatch_profiling(on: bool) -> None:
    """
    Turns the autobatching executor's per-phase timers on or off (and resets them); autobatch_stats()['phase_ns'] reports them. DyNet's --dynet-profiling, for the executor's phases.
    """
def set_autobatch_stacking(on: bool) -> None:
    """
    Whether the autobatching executor runs ready products of different weights with the same batched right operand (W_i x, W_o x, ... of a cell's gates) as one GEMM over the weights stacked, for groups of 32 members or more (default off: on one CPU core it measured slower, the copies costing more than the larger GEMM saves). Results are the same either way up to float rounding.
    """
def set_collect_factors(on: bool, cap: bool = False) -> None:
    """
    Record the sufficient factors (U, V) of every product W*x with a parameter W during backward. cap=True gives up on (marks dense) a parameter whose factors grow larger than its gradient.
    """
def set_default_device(name: str) -> None:
    """
    The device of new inputs (and, through dynagraph, new parameters).
    """
def set_device_budget(device: str, bytes: int, policy: str = 'auto') -> None:
    """
    Caps the graph's memory on a device at `bytes` (0: no cap); policy picks what leaves the device when a graph needs more: 'swap', 'recompute' or 'auto'. Applies from the next renew_cg().
    """
def set_device_prefetch(device: str, nodes: int) -> None:
    """
    How many nodes ahead a device's swapped values and gradients are brought back on the copy stream (0: only when needed). Applies at once.
    """
def set_initial_memory(arg0: int) -> None:
    ...
def set_input_values(e: Expression, values: typing.Any) -> None:
    """
    Overwrites the data of an input node (column-major values) or a lookup's row indices, and invalidates the graph's values.
    """
def set_num_threads(n: int) -> None:
    """
    Threads the engine may use: for one large matrix product (the BLAS's threads), and with autobatching for the large groups of one step that read none of each other's outputs (run at once, each with a one-thread BLAS), a large group of an element-wise op or product split by members, its batched arguments' gradients likewise, the argument gradients of independent small groups of backward at once, and a weight's gradient product by columns (values and gradients are the same as with one thread). 1 (no threads) by default, as DyNet; DYNAGRAPH_NUM_THREADS or OMP_NUM_THREADS set it at import.
    """
def set_param_grad_hook(fn: typing.Any) -> None:
    """
    Calls fn(name, is_lookup) during backward as soon as a parameter's gradient is final (once per backward, after the last of its trainable nodes; for lookup tables: after each lookup node, final only when backward returns). None removes it.
    """
def set_seed(arg0: int) -> None:
    ...
def silu(x: Expression, beta: float = 1.0) -> Expression:
    """
    Element-wise SiLU (swish) x * sigmoid(beta * x).
    """
def sin(x: Expression) -> Expression:
    """
    Element-wise sine.
    """
def sinh(x: Expression) -> Expression:
    """
    Element-wise hyperbolic sine.
    """
def softmax(x: Expression, d: int = 0) -> Expression:
    """
    Softmax along axis d (columns of a matrix for d = 0).
    """
def softsign(x: Expression) -> Expression:
    """
    Element-wise x / (1 + |x|).
    """
def sparsemax(x: Expression) -> Expression:
    """
    Sparsemax: Euclidean projection of the vector x onto the probability simplex.
    """
def sqrt(x: Expression) -> Expression:
    """
    Element-wise square root.
    """
def square(x: Expression) -> Expression:
    """
    Element-wise square.
    """
def squared_distance(x: Expression, y: Expression) -> Expression:
    """
    sum((x - y)^2), one value per batch element.
    """
def squared_norm(x: Expression) -> Expression:
    """
    sum(x^2), one value per batch element.
    """
def stage_grad(p: typing.Any) -> numpy.ndarray:
    """
    Copies p's gradient (from its device, or host memory) into p's reused host staging buffer and returns a flat float32 view of that buffer (no further copy; the next stage_grad of p overwrites it).
    """
def staging_stats() -> dict:
    """
    Host staging buffers of gradients and sufficient factors since the process started: bytes copied into them, copies, buffers allocated (or grown) and fills that reused a buffer; the in_* counters the same for received factors and gradients on their way up to a device (copied into the device's pinned buffer).
    """
def std_batches(x: Expression) -> Expression:
    """
    Standard deviation over the batch.
    """
def std_dim(x: Expression, d: typing.Any, b: bool = False, n: int = 0) -> Expression:
    """
    Standard deviation over the axes in d (and the batch when b).
    """
def std_elems(x: Expression) -> Expression:
    """
    Standard deviation of all elements of each batch element.
    """
def strided_select(x: Expression, strides: collections.abc.Sequence[int], range_from: collections.abc.Sequence[int], range_to: collections.abc.Sequence[int]) -> Expression:
    """
    x[from:to:stride] per axis (NumPy-like); a last extra entry applies to the batch.
    """
def sum_batches(x: Expression) -> Expression:
    """
    Sum over the batch (result has batch 1).
    """
def sum_dim(x: Expression, d: typing.Any, b: bool = False, n: int = 0) -> Expression:
    """
    Sum over the axes in d (removed from the shape), and over the batch when b.
    """
def sum_elems(x: Expression) -> Expression:
    """
    Sum of all elements of each batch element.
    """
def take_factors() -> tuple[list, set]:
    """
    Returns and empties ([(name, U (M x K), V (N x K)) per parameter, ...], {names whose gradient is not sent as factors}).
    """
def tan(x: Expression) -> Expression:
    """
    Element-wise tangent.
    """
def tanh(x: Expression) -> Expression:
    """
    Element-wise hyperbolic tangent.
    """
def to_device(e: Expression, device_str: str) -> Expression:
    """
    e's value on another device ('CPU', 'EMU:0', 'GPU:0').
    """
def trace_of_product(x: Expression, y: Expression) -> Expression:
    """
    trace(x * transpose(y)) of two matrices of one shape.
    """
def transpose(x: Expression, dims: typing.Any = [1, 0]) -> Expression:
    """
    Each batch element with its axes permuted: axis i of the result is axis dims[i] of x. The default [1, 0] is the matrix transpose (a vector (n,) becomes (1, n)). dims lists every axis of x once (trailing axes of length 1 may be left out or added); the batch is never permuted.
    """
def trim_pinned_memory(device: str) -> None:
    """
    Gives the cached (unused) pinned buffers of a device's pool back to the system.
    """
def vanilla_lstm_c(c_tm1: Expression, gates_t: Expression) -> Expression:
    """
    LSTM cell c_t = i .* g + f .* c_tm1 (gates_t from vanilla_lstm_gates).
    """
def vanilla_lstm_gates(x_t: Expression, h_tm1: Expression, Wx: Expression, Wh: Expression, b: Expression, weightnoise_std: float = 0.0) -> Expression:
    """
    LSTM gates [sigmoid(z_i); sigmoid(z_f + 1); sigmoid(z_o); tanh(z_g)] with z = Wx x_t + Wh h_tm1 + b (Wx: 4H x I, Wh: 4H x H, b: 4H); optional Gaussian weight noise. Result (4H,).
    """
def vanilla_lstm_gates_concat(x_t: collections.abc.Sequence[Expression], h_tm1: Expression, Wx: Expression, Wh: Expression, b: Expression, weightnoise_std: float = 0.0) -> Expression:
    """
    vanilla_lstm_gates with the list x_t concatenated as the input.
    """
def vanilla_lstm_gates_dropout(x_t: Expression, h_tm1: Expression, Wx: Expression, Wh: Expression, b: Expression, dropout_mask_x: Expression, dropout_mask_h: Expression, weightnoise_std: float = 0.0) -> Expression:
    """
    vanilla_lstm_gates with z = Wx (x_t .* dropout_mask_x) + Wh (h_tm1 .* dropout_mask_h) + b.
    """
def vanilla_lstm_gates_dropout_concat(x_t: collections.abc.Sequence[Expression], h_tm1: Expression, Wx: Expression, Wh: Expression, b: Expression, dropout_mask_x: Expression, dropout_mask_h: Expression, weightnoise_std: float = 0.0) -> Expression:
    """
    vanilla_lstm_gates_dropout with the list x_t concatenated as the input.
    """
def vanilla_lstm_h(c_t: Expression, gates_t: Expression) -> Expression:
    """
    LSTM output h_t = o .* tanh(c_t).
    """
def weight_norm(w: Expression, g: Expression) -> Expression:
    """
    g * w / ||w|| (g has one element).
    """
def zeros(dim: typing.Any, batch_size: int = 1) -> Expression:
    """
    A tensor of shape dim (batch_size elements) of zeros.
    """

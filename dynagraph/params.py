"""ParameterCollection (alias Model) and DyNet's parameter initializers.

Parameters live in C++ storage; initial values are drawn here with NumPy from
the generator seeded by ``dynagraph.init(seed=...)``.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading

import numpy as np

from . import _core, _errors
from ._config import ensure_initialized, rng, settings
from ._safe_files import check_path
from .devices import _check_device

Parameters = _core.Parameters  # their Python methods: _parameters.py
LookupParameters = _core.LookupParameters

__all__ = [
    "ParameterCollection", "Model", "Parameters", "LookupParameters", "PyInitializer",
    "GlorotInitializer", "SaxeInitializer", "NormalInitializer", "UniformInitializer",
    "ConstInitializer", "IdentityInitializer", "NumpyInitializer", "FromFileInitializer",
]


class PyInitializer:
    """Base of initializers: ``initialize(shape, is_lookup)`` returns an array of that shape."""

    def initialize(self, shape: tuple, is_lookup: bool = False) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GlorotInitializer(PyInitializer):
    """Uniform in ±gain·sqrt(3n / (sum of the n axes)) — sqrt(6 / (fan_in + fan_out))
    for a matrix — as DyNet computes it. The axes are all of the shape (a lookup
    table's row count included), or with ``is_lookup=True`` all but the last axis of
    DyNet's tensor: one row's axes for a lookup table, all but the last axis for a
    parameter (a (200, 300) matrix is sized by 200 alone, as in DyNet).
    Four axes are a convolution filter (h, w, in, out): ±gain·sqrt(6 / (h·w·(in + out)))."""

    def __init__(self, is_lookup: bool = False, gain: float = 1.0):
        self.is_lookup, self.gain = is_lookup, gain

    def initialize(self, shape, is_lookup=False):
        # DyNet keeps a table's row count as its tensor's last axis; here it is the first.
        axes = (tuple(shape[1:]) if is_lookup else tuple(shape[:-1])) if self.is_lookup else tuple(shape)
        if not axes:
            raise ValueError(f"GlorotInitializer(is_lookup=True) needs rows with at least one axis, got {shape}")
        if len(axes) == 4:
            bound = self.gain * math.sqrt(6.0 / (axes[0] * axes[1] * (axes[2] + axes[3])))
        else:
            bound = self.gain * math.sqrt(3.0 * len(axes) / sum(axes))
        return rng().uniform(-bound, bound, size=shape)


class SaxeInitializer(PyInitializer):
    """Random orthogonal matrix (Saxe et al. 2014), scaled by ``scale``."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def initialize(self, shape, is_lookup=False):
        if len(shape) != 2:
            raise ValueError(f"SaxeInitializer needs a matrix shape, got {shape}")
        a = rng().normal(size=(max(shape), max(shape)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        return self.scale * q[: shape[0], : shape[1]]


class NormalInitializer(PyInitializer):
    """Gaussian with the given mean and *variance* (DyNet's convention)."""

    def __init__(self, mean: float = 0.0, var: float = 1.0):
        if var < 0:
            raise ValueError(f"NormalInitializer: variance must be >= 0, got {var}")
        self.mean, self.var = mean, var

    def initialize(self, shape, is_lookup=False):
        return rng().normal(self.mean, math.sqrt(self.var), size=shape)


class UniformInitializer(PyInitializer):
    """Uniform in [-scale, scale]."""

    def __init__(self, scale: float):
        self.scale = scale

    def initialize(self, shape, is_lookup=False):
        return rng().uniform(-self.scale, self.scale, size=shape)


class ConstInitializer(PyInitializer):
    def __init__(self, c: float):
        self.c = c

    def initialize(self, shape, is_lookup=False):
        return np.full(shape, self.c, dtype=np.float32)


class IdentityInitializer(PyInitializer):
    def initialize(self, shape, is_lookup=False):
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"IdentityInitializer needs a square matrix shape, got {shape}")
        return np.eye(shape[0], dtype=np.float32)


class NumpyInitializer(PyInitializer):
    """Takes the values of a given array (its shape must match)."""

    def __init__(self, array):
        self.array = _errors.real_array(array, "NumpyInitializer", "array")

    def initialize(self, shape, is_lookup=False):
        if self.array.shape != tuple(shape):
            raise ValueError(f"NumpyInitializer: array shape {self.array.shape} != parameter shape {tuple(shape)}")
        return self.array


class FromFileInitializer(PyInitializer):
    """Reads whitespace-separated values (column-major, as DyNet) from a text file."""

    def __init__(self, fname: str):
        self.fname = check_path("FromFileInitializer", "fname", fname)

    def initialize(self, shape, is_lookup=False):
        values = np.loadtxt(self.fname, dtype=np.float32).ravel()
        if values.size != int(np.prod(shape)):
            raise ValueError(f"{self.fname}: {values.size} values, parameter shape {tuple(shape)} needs {int(np.prod(shape))}")
        return values.reshape(shape, order="F")


def _shape(dim, fn: str) -> tuple:
    return _errors.shape(dim, fn, "dim")


# While a model file is loaded, the values its data file holds for the object
# being re-created: a spec cannot make from_spec allocate more than that.
_budget = threading.local()


@contextlib.contextmanager
def allocation_budget(values: int, what: str):
    """Within the block, parameters added in this thread may hold ``values`` values
    in all; more raises ValueError naming ``what`` before anything is allocated."""
    previous = getattr(_budget, "left", None)
    _budget.left = [int(values), what]
    try:
        yield
    finally:
        _budget.left = previous


def _spend_budget(shape: tuple) -> None:
    left = getattr(_budget, "left", None)
    if left is None:
        return
    n = math.prod(max(int(d), 0) for d in shape)
    if n > left[0]:
        raise ValueError(f"{left[1]}: re-creating it asks for a parameter of shape {tuple(shape)} ({n} values), "
                         f"but the data file holds only {left[0]} more values for it")
    left[0] -= n


def _check_fits(shape: tuple, fn: str) -> None:
    """A MemoryError before anything is allocated when the parameter's value and
    gradient (float32) and the float64 values an initialiser draws cannot fit in
    this machine's memory: NumPy allocates lazily, and the process would be killed
    filling them."""
    n = math.prod(shape)
    need = n * (4 + 4 + 8)
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > physical:
        raise MemoryError(f"{fn}: shape {shape} ({n} values) needs {need / 2**30:.1f} GiB to create (value, "
                          f"gradient and initial values), more than this machine's {physical / 2**30:.1f} GiB")


def _initializer(init, shape, scale, mean, std) -> PyInitializer:
    """DyNet's ``init`` argument: None (Glorot over every axis, lookup tables'
    row count included), a number, an array, an initializer, or a name;
    ``scale`` is the bound of ``"uniform"``, ``mean``/``std`` those of ``"normal"``."""
    if init is None:
        return GlorotInitializer()
    if isinstance(init, (bool, np.bool_)):
        raise TypeError(f"init must be an initializer, a number, a name or a NumPy array, got {init!r}")
    if isinstance(init, (int, float, np.integer, np.floating)):
        return ConstInitializer(float(init))
    if isinstance(init, np.ndarray):
        return NumpyInitializer(init)
    if isinstance(init, str):
        named = {
            "glorot": GlorotInitializer,
            "identity": IdentityInitializer,
            "uniform": lambda: UniformInitializer(scale),
            "normal": lambda: NormalInitializer(mean, std * std),
            # variance 1 / (2 · the last axis of a row), as DyNet's "he"
            "he": lambda: NormalInitializer(0.0, 1.0 / (2 * shape[-1])),
        }
        if init not in named:
            raise ValueError(f"Didn't recognize initializer {init!r}: expected one of {sorted(named)}")
        return named[init]()
    if not isinstance(init, PyInitializer):
        raise TypeError(f"init must be an initializer, a number, a name or a NumPy array, got {type(init).__name__}")
    return init


def _initial_values(init, shape, is_lookup, scale=1.0, mean=0.0, std=1.0):
    init = _initializer(init, shape, scale, mean, std)
    return np.asarray(init.initialize(shape, is_lookup), dtype=np.float32)


class ParameterCollection:
    """Owns parameters and lookup parameters; subcollections nest their names.

    >>> pc = ParameterCollection()
    >>> W = pc.add_parameters((8, 4))           # Glorot-initialised 8x4 matrix
    >>> E = pc.add_lookup_parameters((100, 4))  # 100 embeddings of size 4
    """

    def __init__(self, _core_pc=None):
        if _core_pc is None:
            ensure_initialized()
            _core_pc = _core.ParameterCollectionCore()
            _core_pc.weight_decay = settings.weight_decay  # DyNet's global default
        self._c = _core_pc

    # ---- adding
    def add_parameters(self, dim, init=None, name: str = "", device: str = "", scale: float = 1.0,
                       mean: float = 0.0, std: float = 1.0) -> Parameters:
        """A new parameter of shape ``dim``. ``init``: None (Glorot), a number, an array,
        an initializer, or one of ``"glorot"``, ``"identity"``, ``"he"``, ``"uniform"``
        (in ±``scale``), ``"normal"`` (``mean``, ``std``), as in DyNet."""
        device = _check_device(device)
        shape = _shape(dim, "add_parameters")
        _spend_budget(shape)  # a file's spec may not ask for more than its data holds (dy.load)
        _core._check_parameter_shape(shape, False)  # before NumPy builds the initial values
        _check_fits(shape, "add_parameters")
        values = _initial_values(init, shape, False, scale, mean, std)
        p = self._c.add_parameters(shape, _errors.text(name, "add_parameters", "name"))
        p.set_value(values)
        p._device = device
        return p

    def add_lookup_parameters(self, dim, init=None, name: str = "", device: str = "", scale: float = 1.0,
                              mean: float = 0.0, std: float = 1.0) -> LookupParameters:
        """A new table of ``dim[0]`` rows of shape ``dim[1:]`` (an int ``n``: n rows of one
        value); ``init`` as for :meth:`add_parameters`."""
        device = _check_device(device)
        shape = _shape(dim, "add_lookup_parameters")
        if len(shape) == 1 and hasattr(dim, "__index__"):
            shape = (shape[0], 1)
        if len(shape) < 2:
            raise ValueError(f"add_lookup_parameters needs (rows, dim, ...), got {shape}")
        _spend_budget(shape)
        _core._check_parameter_shape(shape, True)
        _check_fits(shape, "add_lookup_parameters")
        values = _initial_values(init, shape, True, scale, mean, std)
        p = self._c.add_lookup_parameters(shape, _errors.text(name, "add_lookup_parameters", "name"))
        p.init_from_array(values)
        p._device = device
        return p

    def parameters_from_numpy(self, array, name: str = "", device: str = "") -> Parameters:
        array = _errors.real_array(array, "ParameterCollection.parameters_from_numpy", "array")
        _check_device(device)
        return self.add_parameters(array.shape, init=NumpyInitializer(array), name=name, device=device)

    def lookup_parameters_from_numpy(self, array, name: str = "", device: str = "") -> LookupParameters:
        array = _errors.real_array(array, "ParameterCollection.lookup_parameters_from_numpy", "array")
        _check_device(device)
        return self.add_lookup_parameters(array.shape, init=NumpyInitializer(array), name=name, device=device)

    def add_subcollection(self, name: str | None = None) -> "ParameterCollection":
        sub = self._c.add_subcollection(_errors.text(name or "", "add_subcollection", "name"))
        sub.weight_decay = self._c.weight_decay  # as DyNet's: the parent's decay at the time
        return ParameterCollection(sub)

    # ---- inspecting
    def parameters_list(self) -> list:
        return self._c.parameters_list()

    def lookup_parameters_list(self) -> list:
        return self._c.lookup_parameters_list()

    def parameter_count(self) -> int:
        return self._c.parameter_count()

    def name(self) -> str:
        return self._c.name()

    def get_weight_decay(self) -> float:
        return self._c.weight_decay

    def set_weight_decay(self, lam: float) -> None:
        if not 0.0 <= lam < 1.0:
            raise ValueError(f"weight decay must be in [0, 1), got {lam}")
        self._c.weight_decay = float(lam)

    set_weight_decay_lambda = set_weight_decay

    # ---- persistence (DyNet's text format)
    def save(self, fname: str, name: str = "", append: bool = False) -> None:
        """Writes every parameter in DyNet's text format; the file is replaced
        atomically (a unique temporary beside it, renamed over it)."""
        self._c.save(check_path("ParameterCollection.save", "fname", fname), name, append)

    def populate(self, fname: str, key: str = "") -> None:
        """Sets every parameter's values from the file (entries under ``key``);
        on any error nothing is changed."""
        self._c.populate(check_path("ParameterCollection.populate", "fname", fname), key)

    def write_to_textfile(self, fname: str, key: str = "", append: bool = False) -> None:
        """:meth:`save` under DyNet's other name (whose second argument is ``key``)."""
        self.save(fname, key, append)

    populate_from_textfile = populate

    def load_param(self, fname: str, key: str) -> Parameters:
        """Adds a parameter with the shape and values saved under ``key`` and returns it.

        It is named by the key's last part within this collection (DyNet names it
        by the whole key even when that name is taken; names here stay unique).
        """
        fname = check_path("load_param", "fname", fname)
        (shape, _), name = _core._saved_dim(fname, False, key), _last_part(key)
        state = self._c._checkpoint()
        try:
            p = self.add_parameters(shape, init=ConstInitializer(0.0), name=name)
            p.populate(fname, key)
        except BaseException:
            self._c._restore(state)  # a failed load adds nothing
            raise
        return p

    def load_lookup_param(self, fname: str, key: str) -> LookupParameters:
        """Adds a lookup table with the shape and rows saved under ``key`` and returns it
        (named as by :meth:`load_param`)."""
        fname = check_path("load_lookup_param", "fname", fname)
        (shape, _), name = _core._saved_dim(fname, True, key), _last_part(key)
        state = self._c._checkpoint()
        try:
            p = self.add_lookup_parameters((shape[-1],) + tuple(shape[:-1]), init=ConstInitializer(0.0), name=name)
            p.populate(fname, key)
        except BaseException:
            self._c._restore(state)
            raise
        return p

    # ---- dict interface (used by dynagraph.distributed)
    def to_dict(self) -> dict:
        """Copies of every value, keyed by parameter name."""
        out = {p.name(): p.as_array() for p in self.parameters_list()}
        out.update({p.name(): p.as_array() for p in self.lookup_parameters_list()})
        return out

    def load_dict(self, values: dict) -> None:
        """Sets values by name; a name missing from ``values`` is a ValueError, raised
        before anything is set."""
        if not hasattr(values, "keys") or not hasattr(values, "__getitem__"):
            raise TypeError(f"load_dict: argument 'values' must be a dict of arrays by name, got "
                            f"{type(values).__name__}")
        missing = [p.name() for p in self.parameters_list() + self.lookup_parameters_list() if p.name() not in values]
        if missing:
            raise ValueError(f"load_dict: no values for {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        for p in self.parameters_list():
            p.set_value(values[p.name()])
        for p in self.lookup_parameters_list():
            p.init_from_array(values[p.name()])

    def __repr__(self) -> str:
        return f"<ParameterCollection {self.name()} with {self.parameter_count()} values>"


def _last_part(key: str) -> str:
    if not key or not key.strip("/"):
        raise ValueError(f"load_param: needs the key of one entry (e.g. '/W'), got {key!r}")
    return key.rstrip("/").rsplit("/", 1)[-1]


Model = ParameterCollection

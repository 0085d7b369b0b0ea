"""Engine settings: ``dynagraph.init`` and DyNet's command-line flags.

DyNet reads ``--dynet-seed``, ``--dynet-mem`` and ``--dynet-autobatch`` from
``sys.argv`` when it is imported. We honour the same flags (and
``dynet_config.set(...)``) but read them at first use, not at import, so that
importing dynagraph never has side effects.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from . import _core

__all__ = ["init", "DynetParams", "dynet_config", "reset_random_seed", "settings"]


@dataclass
class _Settings:
    seed: int = 0
    mem: int = 0
    autobatch: bool = False
    check_finite: bool = False
    weight_decay: float = 0.0  # DyNet's global default for new ParameterCollections
    device: str = "CPU"
    initialized: bool = False
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng())


settings = _Settings()


def _parse_mem(mem) -> int:
    """Megabytes (DyNet's unit), possibly 'a,b,c' per pool: the largest is the initial size."""
    if isinstance(mem, str):
        mem = max(int(float(x)) for x in mem.split(",") if x)
    return int(mem)


def _dynet_config_module_values() -> dict:
    """What a program set with DyNet's own ``import dynet_config; dynet_config.set(...)``
    (that module keeps it in ``builtins.__DYNET_CONFIG``), so such a program keeps its
    seed and settings when ``import dynet as dy`` becomes ``import dynagraph as dy``."""
    import builtins
    conf = getattr(builtins, "__DYNET_CONFIG", None)
    if not isinstance(conf, dict):
        return {}
    if conf.get("requested_gpus") or getattr(builtins, "__DYNET_GPU", None):
        raise ValueError("dynet_config asked for a GPU, but this dynagraph build is CPU-only")
    names = {"seed": "seed", "mem": "mem", "autobatch": "autobatch", "weight_decay": "weight_decay"}
    return {names[k]: v for k, v in conf.items() if k in names and v is not None}


def _flags_from_argv(argv) -> dict:
    out = {}
    names = {"--dynet-seed": "seed", "--dynet-mem": "mem", "--dynet-autobatch": "autobatch",
             "--dynet-devices": "device", "--dynet-gpus": "gpus", "--dynet-weight-decay": "weight_decay"}
    it = iter(range(len(argv)))
    for i in it:
        arg = argv[i]
        key, _, val = arg.partition("=")
        if key in names:
            if not val and i + 1 < len(argv):
                val = argv[i + 1]
            out[names[key]] = val
    return out


def _default_device(device) -> str:
    """The device new inputs and parameters go to, from init(device=) or --dynet-devices
    (DyNet's comma-separated list: the first device that is not the CPU, else the CPU)."""
    names = [d.strip() for d in str(device).split(",") if d.strip()] or ["CPU"]
    chosen = next((d for d in names if d.upper() != "CPU"), "CPU")
    if chosen.upper().startswith("GPU") and not _core.have_cuda():
        raise ValueError(f"device {chosen!r} is not available: this dynagraph build is CPU-only (no CUDA); "
                         "build with DYNAGRAPH_BACKEND=cuda, or use the emulated device 'EMU:0'")
    try:
        return _core.device_name(_core.device_id(chosen))
    except ValueError as e:
        raise ValueError(f"init: {e}") from None


def init(shared_parameters=None, *, seed: int | None = None, autobatch: bool | None = None, mem=None,
         device: str | None = None, check_finite: bool | None = None, weight_decay: float | None = None) -> None:
    """Configure the engine (may be called again; later values win).

    The first call (or first use of the engine) also takes, for what it is not
    given, the values of ``dynet_config.set(...)`` and DyNet's command-line flags
    (``--dynet-seed``, ``--dynet-autobatch``, ``--dynet-mem``, ``--dynet-devices``,
    ``--dynet-weight-decay``), as DyNet's ``init()`` does.

    seed: random seed for initializers and random ops (0 = nondeterministic, as DyNet).
    autobatch: run per-sample graphs batched (the autobatching executor).
    mem: initial memory pool size in MB (pools grow on demand; this only pre-sizes them).
    device: where new inputs and parameters go: "CPU", "EMU:0" (the emulated GPU, every
    build) or "GPU:i" (a CUDA build); ops run on their arguments' device.
    check_finite: trainers raise on NaN/inf gradients instead of applying them.
    weight_decay: L2 decay that ParameterCollections made afterwards start with
    (DyNet's global ``weight_decay``; ``pc.set_weight_decay`` changes one).
    shared_parameters: DyNet's shared-memory parameters for multi-process
    training; not supported (``dynagraph.distributed`` trains across processes).
    """
    if shared_parameters:
        raise ValueError("init(shared_parameters=True): DyNet's shared-memory parameters are not supported; "
                         "dynagraph.distributed trains across processes instead")
    if not settings.initialized:
        flags = _dynet_config_module_values()
        flags.update(dynet_config._values)
        flags.update(_flags_from_argv(sys.argv))
        seed = int(flags.get("seed", 0)) if seed is None else seed
        autobatch = flags.get("autobatch") if autobatch is None else autobatch
        mem = flags.get("mem") if mem is None else mem
        device = flags.get("device") if device is None else device
        weight_decay = flags.get("weight_decay") if weight_decay is None else weight_decay
    if weight_decay is not None:
        weight_decay = float(weight_decay)
        if not 0.0 <= weight_decay < 1.0:
            raise ValueError(f"weight decay must be in [0, 1), got {weight_decay}")
        settings.weight_decay = weight_decay
    if seed is not None:
        settings.seed = int(seed)
        settings.rng = np.random.default_rng(settings.seed if settings.seed else None)
        _core.set_seed(settings.seed if settings.seed else int(np.random.SeedSequence().entropy % (2**32)))
    if autobatch is not None:
        settings.autobatch = bool(int(autobatch))
        _core.set_autobatch(settings.autobatch)
    if mem is not None:
        settings.mem = _parse_mem(mem)
        if settings.mem > 0:
            _core.set_initial_memory(settings.mem * (1 << 20))
    if device is None and not settings.initialized and int(flags.get("gpus", 0) or 0) > 0:
        device = "GPU:0"  # --dynet-gpus N: DyNet computes on the first of them by default
    if device is not None:
        settings.device = _default_device(device)
        _core.set_default_device(settings.device)
    if check_finite is not None:
        settings.check_finite = bool(check_finite)
    settings.initialized = True


def ensure_initialized() -> None:
    """First use: apply dynet_config values, then DyNet flags found in sys.argv."""
    if not settings.initialized:
        init()


def rng() -> np.random.Generator:
    ensure_initialized()
    return settings.rng


def reset_random_seed(seed: int) -> None:
    """Re-seeds the random number generators (initializers, dropout, random ops, sampling)."""
    init(seed=seed)


class DynetParams:
    """DyNet's parameter object: set fields, then ``init()``."""

    def __init__(self):
        self.random_seed = 0
        self.mem_descriptor = "0"
        self.autobatch = 0
        self.profiling = 0
        self.weight_decay = 0.0
        self.shared_parameters = False
        self.requested_gpus = 0

    def from_args(self, shared_parameters=None) -> None:
        flags = _flags_from_argv(sys.argv)
        self.random_seed = int(flags.get("seed", self.random_seed))
        self.mem_descriptor = flags.get("mem", self.mem_descriptor)
        self.autobatch = int(flags.get("autobatch", self.autobatch))
        self.weight_decay = float(flags.get("weight_decay", self.weight_decay))

    def set_mem(self, mem) -> None:
        self.mem_descriptor = str(mem)

    def set_random_seed(self, random_seed: int) -> None:
        self.random_seed = int(random_seed)

    def set_autobatch(self, autobatch) -> None:
        self.autobatch = int(autobatch)

    def set_profiling(self, profiling) -> None:
        self.profiling = int(profiling)

    def set_weight_decay(self, weight_decay: float) -> None:
        self.weight_decay = float(weight_decay)

    def set_shared_parameters(self, shared_parameters: bool) -> None:
        self.shared_parameters = bool(shared_parameters)

    def set_requested_gpus(self, requested_gpus: int) -> None:
        self.requested_gpus = int(requested_gpus)

    def from_config(self, conf) -> None:
        """Takes ``mem``, ``seed``, ``autobatch``, ... from a dict (or an object with those attributes)."""
        get = conf.get if isinstance(conf, dict) else (lambda k, d=None: getattr(conf, k, d))
        self.mem_descriptor = str(get("mem", self.mem_descriptor))
        self.random_seed = int(get("seed", self.random_seed))
        self.autobatch = int(get("autobatch", self.autobatch))
        self.profiling = int(get("profiling", self.profiling))
        self.weight_decay = float(get("weight_decay", self.weight_decay))
        self.shared_parameters = bool(get("shared_params", self.shared_parameters))
        self.requested_gpus = int(get("requested_gpus", self.requested_gpus))

    def set_cpu_mode(self) -> None:
        """Compute on the CPU (the only device of this build)."""
        self.requested_gpus = 0

    def set_gpu_mask(self, gpu_mask) -> None:
        if any(int(g) for g in gpu_mask):
            raise ValueError("this dynagraph build is CPU-only")

    def init(self) -> None:
        if self.requested_gpus:
            raise ValueError("this dynagraph build is CPU-only: requested_gpus must be 0")
        init(seed=self.random_seed, autobatch=self.autobatch, mem=self.mem_descriptor,
             weight_decay=self.weight_decay)


def init_from_params(params: DynetParams) -> None:
    """Configures the engine from a :class:`DynetParams` (DyNet's ``init_from_params``)."""
    params.init()


class _DynetConfig:
    """``dynet_config.set(mem=..., random_seed=..., autobatch=...)`` before first use, as in DyNet."""

    def __init__(self):
        self._values: dict = {}

    def set(self, mem=512, random_seed=0, autobatch=0, profiling=0, weight_decay=0, shared_parameters=0,
            requested_gpus=0, gpu_mask=None) -> None:
        """Values for the first initialisation (``profiling`` is accepted and does nothing)."""
        if int(requested_gpus) or (gpu_mask is not None and any(int(g) for g in gpu_mask)):
            raise ValueError("this dynagraph build is CPU-only: requested_gpus and gpu_mask must ask for none")
        if shared_parameters:
            raise ValueError("shared_parameters: DyNet's shared-memory parameters are not supported; "
                             "dynagraph.distributed trains across processes instead")
        self._values = {"mem": mem, "seed": random_seed, "autobatch": autobatch, "weight_decay": weight_decay}

    def set_gpu(self, flag=True) -> None:
        if flag:
            raise ValueError("this dynagraph build is CPU-only")

    def get(self) -> dict:
        return dict(self._values)


dynet_config = _DynetConfig()

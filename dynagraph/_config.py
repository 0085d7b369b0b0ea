"""Engine settings: ``dynagraph.init`` and DyNet's command-line flags.

DyNet reads ``--dynet-seed``, ``--dynet-mem``, ``--dynet-autobatch``, ... (with
dashes or underscores) from ``sys.argv`` when it is imported, unless the program
called ``dynet_config.set(...)`` first, whose settings it takes instead. We do
the same, but at first use, not at import, so that importing dynagraph never
has side effects.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from . import _core, _dynet_config

__all__ = ["init", "DynetParams", "dynet_config", "reset_random_seed", "settings"]


@dataclass
class _Settings:
    seed: int = 0
    mem: int = 0
    autobatch: bool = False
    check_finite: bool = False
    weight_decay: float = 0.0  # DyNet's global default for new ParameterCollections
    device: str = "CPU"
    device_mem: dict = field(default_factory=dict)  # device name -> budget in bytes
    memory_policy: str = "auto"
    prefetch: int = 4  # nodes ahead that swapped values come back on the copy stream
    initialized: bool = False
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng())


settings = _Settings()


def _parse_mem(mem) -> int:
    """Megabytes (DyNet's unit), possibly 'a,b,c' per pool: the largest is the initial size."""
    if isinstance(mem, str):
        mem = max(int(float(x)) for x in mem.split(",") if x)
    return int(mem)


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def _parse_bytes(value, what: str) -> int:
    """An int of bytes, or a string with a unit ("256MB", "1.5GiB", "4096")."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"init: {what} must be bytes (an int) or a string with a unit such as '256MB', "
                        f"got {type(value).__name__}")
    if isinstance(value, int):
        n = value
    else:
        text = value.strip().upper().replace(" ", "")
        num = text.rstrip("KMGIB")
        unit = text[len(num):]
        if unit not in _UNITS or not num:
            raise ValueError(f"init: {what} {value!r} is not a size: a number with an optional unit "
                             "(B, KB, MB, GB, KiB, MiB, GiB)")
        try:
            n = int(float(num) * _UNITS[unit])
        except ValueError:
            raise ValueError(f"init: {what} {value!r} is not a size: a number with an optional unit "
                             "(B, KB, MB, GB, KiB, MiB, GiB)") from None
    if n < 0:
        raise ValueError(f"init: {what} must be >= 0 bytes (0: no budget), got {value!r}")
    return n


def _device_budgets(device_mem) -> dict:
    """{device name: bytes} from init(device_mem=): one size for every device, or per device
    "EMU:0:64MB,GPU:0:1GB" (a device not named keeps no budget)."""
    if isinstance(device_mem, str) and ":" in device_mem:
        out = {}
        for part in device_mem.split(","):
            name, sep, size = part.strip().rpartition(":")
            if not sep or ":" not in name:
                raise ValueError(f"init: device_mem entry {part!r} is not DEVICE:SIZE (e.g. 'EMU:0:64MB')")
            try:
                canonical = _core.device_name(_core.device_id(name))
            except ValueError as e:
                raise ValueError(f"init: device_mem: {e}") from None
            out[canonical] = _parse_bytes(size, "device_mem")
        return out
    n = _parse_bytes(device_mem, "device_mem")
    return {name: n for name in ["EMU:0"] + [f"GPU:{i}" for i in range(_core.cuda_device_count())]}


def _dynet_config_module_values():
    """What a program set with ``import dynet_config; dynet_config.set(...)`` (DyNet's
    module or ours: both keep it in ``builtins.__DYNET_CONFIG``), or None when it set
    nothing. A GPU asked for there is not an error: DyNet's CPU build runs on the CPU."""
    import builtins
    conf = getattr(builtins, "__DYNET_CONFIG", None)
    if not isinstance(conf, dict):
        return None
    if conf.get("shared_params"):
        raise ValueError("dynet_config.set(shared_parameters=1): DyNet's shared-memory parameters are not "
                         "supported; dynagraph.distributed trains across processes instead")
    names = {"seed": "seed", "mem": "mem", "autobatch": "autobatch", "weight_decay": "weight_decay"}
    return {names[k]: v for k, v in conf.items() if k in names and v is not None}


# DyNet's flags, spelled with dashes or underscores (``--dynet-seed 5``,
# ``--dynet_autobatch=1``), each with a value, as DyNet's extract_dynet_params reads them.
_FLAG_NAMES = {"seed": "seed", "mem": "mem", "autobatch": "autobatch", "devices": "device", "gpus": "gpus",
               "weight-decay": "weight_decay", "profiling": "profiling"}
_GPU_ERROR = ("DyNet was not installed with GPU support. Please see the installation instructions for how to "
              "make it possible to use GPUs.")


def _flag_name(arg: str):
    """``--dynet-weight_decay=…`` -> "weight-decay"; None for anything else."""
    key = arg.partition("=")[0]
    if not (key.startswith("--dynet-") or key.startswith("--dynet_")):
        return None
    return key[len("--dynet-"):].replace("_", "-")


def _flags_from_argv(argv) -> dict:
    """DyNet's flags found in ``argv``. A GPU asked for raises RuntimeError with DyNet's
    message, as DyNet's CPU build does at import (this build has no GPU device)."""
    out = {}
    for i, arg in enumerate(argv):
        name = _flag_name(arg)
        if name is None:
            continue
        if name == "gpu":  # DyNet's valueless --dynet-gpu
            raise RuntimeError(_GPU_ERROR)
        if name not in _FLAG_NAMES:
            continue
        _, eq, val = arg.partition("=")
        if not eq:
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is None or nxt.startswith("--"):
                raise ValueError(f"[dynet] {arg} expects an argument")
            val = nxt
        elif not val:
            raise ValueError(f"[dynet] {arg} expects an argument")
        if name == "gpus" or (name == "devices" and "GPU" in val):
            raise RuntimeError(_GPU_ERROR)
        out[_FLAG_NAMES[name]] = val
    out.pop("profiling", None)  # accepted, as DyNet's; nothing to profile here
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
         device: str | None = None, check_finite: bool | None = None, weight_decay: float | None = None,
         device_mem=None, memory_policy: str | None = None, prefetch: int | None = None) -> None:
    """Configure the engine (may be called again; later values win).

    The first call (or first use of the engine) also takes, for what it is not
    given, the values of ``dynet_config.set(...)`` or, when the program did not
    call it, DyNet's command-line flags (``--dynet-seed``, ``--dynet-autobatch``,
    ``--dynet-mem``, ``--dynet-devices``, ``--dynet-weight-decay``, also spelled
    with underscores), as DyNet's import does.

    seed: random seed for initializers and random ops (0 = nondeterministic, as DyNet).
    autobatch: run per-sample graphs batched (the autobatching executor).
    mem: initial memory pool size in MB (pools grow on demand; this only pre-sizes them).
    device: where new inputs and parameters go: "CPU", "EMU:0" (the emulated GPU, every
    build) or "GPU:i" (a CUDA build); ops run on their arguments' device.
    check_finite: trainers raise on NaN/inf gradients instead of applying them.
    device_mem / memory_policy: a cap on the graph's memory per device and what leaves the
    device when a graph needs more ("auto", "swap", "recompute"); docs/memory.md.
    prefetch: under a cap, how many nodes ahead swapped values and gradients are brought
    back on the device's copy stream (default 4; 0: only when needed).
    weight_decay: L2 decay that ParameterCollections made afterwards start with
    (DyNet's global ``weight_decay``; ``pc.set_weight_decay`` changes one).
    shared_parameters: DyNet's shared-memory parameters for multi-process
    training; not supported (``dynagraph.distributed`` trains across processes).
    """
    if shared_parameters:
        raise ValueError("init(shared_parameters=True): DyNet's shared-memory parameters are not supported; "
                         "dynagraph.distributed trains across processes instead")
    if not settings.initialized:
        # As DyNet: dynet_config.set(...) when a program called it, else the flags in
        # sys.argv (whose GPU requests fail on this CPU-only build either way).
        argv_flags = _flags_from_argv(sys.argv)
        flags = _dynet_config_module_values()
        flags = argv_flags if flags is None else flags
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
    if memory_policy is not None and memory_policy not in ("auto", "swap", "recompute"):
        raise ValueError(f"init: memory_policy must be 'auto', 'swap' or 'recompute', got {memory_policy!r}")
    if device_mem is not None:
        settings.device_mem = _device_budgets(device_mem)
    if memory_policy is not None:
        settings.memory_policy = memory_policy
    if prefetch is not None:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
            raise ValueError(f"init: prefetch must be an int >= 0 (nodes ahead; 0: on demand), got {prefetch!r}")
        settings.prefetch = prefetch
    if device_mem is not None or memory_policy is not None or prefetch is not None:
        for name, nbytes in settings.device_mem.items():
            _core.set_device_budget(name, nbytes, settings.memory_policy)
            _core.set_device_prefetch(name, settings.prefetch)
    settings.initialized = True


def ensure_initialized() -> None:
    """First use: apply dynet_config's values, or else the DyNet flags found in sys.argv."""
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
        """Accepted as DyNet's CPU build accepts it (entries 0 or 1); this build computes on the CPU."""
        if any(int(g) not in (0, 1) for g in gpu_mask):
            raise ValueError("gpu_mask should only contain 0 and 1s")

    def init(self) -> None:
        """Configures the engine. GPUs asked for run on the CPU, as with DyNet's CPU build."""
        init(self.shared_parameters or None, seed=self.random_seed, autobatch=self.autobatch, mem=self.mem_descriptor,
             weight_decay=self.weight_decay)


def init_from_params(params: DynetParams) -> None:
    """Configures the engine from a :class:`DynetParams` (DyNet's ``init_from_params``)."""
    params.init()


# DyNet's ``dynet_config`` module (the one ``import dynet_config`` finds where DyNet
# is not installed): its settings live in builtins, where DyNet's copy keeps them.
dynet_config = _dynet_config

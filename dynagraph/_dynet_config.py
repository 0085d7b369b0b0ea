"""DyNet's ``dynet_config`` module, for environments without DyNet.

DyNet programs run ``import dynet_config; dynet_config.set(...)`` before
``import dynet``. This module is what that import finds when DyNet's own
``dynet_config.py`` is not installed (``_dynagraph_dynet_config.py``, loaded by
a ``.pth`` file, provides it); ``dynagraph.dynet_config`` is this module too.

It keeps its settings where DyNet's keeps them, in ``builtins.__DYNET_CONFIG``
and ``builtins.__DYNET_GPU``, with DyNet's keys, so either copy of the module
configures either library. It imports nothing from dynagraph: it is loaded as
a top-level module, before (or without) ``import dynagraph``.
"""
import builtins

_CONFIG = "__DYNET_CONFIG"
_GPU = "__DYNET_GPU"


def set(mem="512", random_seed=0, autobatch=0, profiling=0, weight_decay=0, shared_parameters=0,
        requested_gpus=0, gpu_mask=None):
    """Settings for the first initialisation of the engine (``import dynet`` in
    DyNet, first use in dynagraph). Each call replaces all earlier settings, as
    DyNet's does."""
    setattr(builtins, _CONFIG, {
        "mem": mem, "seed": random_seed, "autobatch": autobatch, "profiling": profiling,
        "weight_decay": weight_decay, "shared_params": shared_parameters,
        "requested_gpus": requested_gpus, "gpu_mask": gpu_mask if gpu_mask else [],
    })


def set_gpu(flag=True):
    """Asks for a GPU. A CPU-only build runs on the CPU, as DyNet's CPU build does."""
    setattr(builtins, _GPU, flag)
    conf = getattr(builtins, _CONFIG, None)
    if isinstance(conf, dict):
        conf["requested_gpus"] = 1
    else:
        set(requested_gpus=1)


def gpu():
    """What ``set_gpu`` was given, or None."""
    return getattr(builtins, _GPU, None)


def get():
    """The settings dict, or None before ``set``."""
    return getattr(builtins, _CONFIG, None)

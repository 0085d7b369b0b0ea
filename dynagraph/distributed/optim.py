"""Update rules where a parameter lives (a server shard or a worker's replicas): the engine's trainers.

There is one implementation of the update rules, ``csrc/params/trainers.cc``.
A shard or a replica set keeps its parameters in an engine
``ParameterCollection`` and applies a summed gradient by writing it into the
parameters' gradient buffers and calling the DyNet trainer's ``update()``: every
DyNet trainer is available, with the collection's weight decay and the
trainer's clipping, and one step equals ``dy.<Name>Trainer.update()`` on the
same gradient. A lookup table's gradient of some rows, ``(rows, values)``,
marks just those rows, so a sparse update touches just those rows and their
state, as in the engine.

The optimizer is described by a spec the job can ship to its actors:

* a name: ``"sgd"``, ``"cyclical"``, ``"momentum"``, ``"adagrad"``,
  ``"adadelta"``, ``"rmsprop"``, ``"adam"``, ``"amsgrad"``;
* ``(name, kwargs)``: the DyNet trainer's keyword arguments
  (``learning_rate`` is accepted for Adam's ``alpha``), plus
  ``clip_threshold`` (clipping is off unless given);
* a callable ``pc -> dy.Trainer`` that makes and configures the trainer itself.

Clipping acts on the gradients of one ``step`` (a shard's share of an
iteration, or one push under SSP), not on the whole model's: a shard never sees
the other shards' gradients.
"""
from __future__ import annotations

import numpy as np

__all__ = ["EngineOptimizer", "make_trainer", "learning_rate_of", "with_learning_rate", "TRAINERS"]

# spec name -> the DyNet trainer class name in dynagraph
TRAINERS = {"sgd": "SimpleSGDTrainer", "cyclical": "CyclicalSGDTrainer", "momentum": "MomentumSGDTrainer",
            "adagrad": "AdagradTrainer", "adadelta": "AdadeltaTrainer", "rmsprop": "RMSPropTrainer",
            "adam": "AdamTrainer", "amsgrad": "AmsgradTrainer"}


def _parse(spec) -> tuple:
    """(name, kwargs) or (callable, {})."""
    if callable(spec):
        return spec, {}
    name, kwargs = (spec, {}) if isinstance(spec, str) else spec
    if name not in TRAINERS:
        raise ValueError(f"optimizer: unknown name {name!r}; choose one of {sorted(TRAINERS)}, "
                         f"or give a callable pc -> dy.Trainer")
    return name, dict(kwargs)


def make_trainer(spec, pc):
    """The engine trainer ``spec`` describes, over collection ``pc``."""
    import dynagraph as dy

    name, kwargs = _parse(spec)
    if callable(name):
        trainer = name(pc)
        if not isinstance(trainer, dy.Trainer):
            raise TypeError(f"optimizer: the callable must return a dy.Trainer, got {type(trainer).__name__}")
        return trainer
    clip = kwargs.pop("clip_threshold", None)
    if name in ("adam", "amsgrad") and "learning_rate" in kwargs:
        kwargs["alpha"] = kwargs.pop("learning_rate")
    trainer = getattr(dy, TRAINERS[name])(pc, **kwargs)
    trainer.set_clip_threshold(float(clip) if clip else 0.0)
    return trainer


def learning_rate_of(spec) -> float:
    """The learning rate a trainer made from ``spec`` starts with (as given, when it is given)."""
    import dynagraph as dy

    name, kwargs = _parse(spec)
    for key in ("learning_rate", "alpha"):
        if not callable(name) and key in kwargs:
            return float(kwargs[key])
    return float(make_trainer(spec, dy.ParameterCollection()).learning_rate)  # the trainer's default (float32)


def with_learning_rate(spec, learning_rate: float):
    """``spec`` with a new starting learning rate."""
    name, kwargs = _parse(spec)
    if callable(name):
        def make(pc, _make=name, _lr=float(learning_rate)):
            trainer = _make(pc)
            trainer.learning_rate = _lr
            return trainer
        return make
    key = "alpha" if name in ("adam", "amsgrad") and "alpha" in kwargs else "learning_rate"
    return name, {**kwargs, key: float(learning_rate)}


class EngineOptimizer:
    """Parameters in an engine collection and the trainer that updates them.

    ``values``: name -> a writable wire-layout view of each parameter's values
    (dense: the parameter's shape; lookup table: (rows, row size)).
    """

    def __init__(self, spec, pc, dense: dict, lookups: dict, on_device: bool = False):
        # The views below stay valid across updates only for parameters in host memory: a
        # parameter resident on a device is updated there and its host copy goes stale. A
        # worker's replicas (on_device=True) may live on its device: their gradients are
        # written there (``sfb.FactorSum``, ``_core.add_grad``) and no view is kept.
        for name, p in {**dense, **lookups}.items():
            if p._device != "CPU" and not (on_device and name in dense):
                raise ValueError(f"dynagraph.distributed: parameter {name!r} lives on {p._device}; the "
                                 "distributed optimiser updates it in host memory here (servers, and lookup "
                                 "tables outside a worker's replicas): create it with device='CPU'")
        self.pc, self.dense, self.lookups = pc, dense, lookups
        self.trainer = make_trainer(spec, pc)
        self.values = {n: p._values_view().reshape(p.shape(), order="F") for n, p in dense.items()
                       if p._device == "CPU"}
        self.values.update({n: p._values_view().reshape(p.shape()[0], -1) for n, p in lookups.items()})

    @classmethod
    def holding(cls, spec, values: dict, lookup_names=(), weight_decay: float = 0.0) -> "EngineOptimizer":
        """A collection of its own holding ``values`` (wire layout; ``lookup_names`` are
        (rows, row size) tables), with the job's weight decay."""
        import dynagraph as dy

        pc = dy.ParameterCollection()
        pc.set_weight_decay(float(weight_decay))
        dense, lookups = {}, {}
        for name, v in values.items():
            v = np.asarray(v, dtype=np.float32)
            if name in lookup_names:
                lookups[name] = pc.add_lookup_parameters((v.shape[0], int(np.prod(v.shape[1:], dtype=np.int64))),
                                                         device="CPU")
            else:
                dense[name] = pc.add_parameters(v.shape if v.ndim else (1,), device="CPU")
        opt = cls(spec, pc, dense, lookups)
        for name, v in values.items():
            opt.values[name][...] = np.asarray(v, dtype=np.float32).reshape(opt.values[name].shape)
        return opt

    def step(self, grads: dict) -> None:
        """One trainer update from ``grads`` (name -> array, (rows, array) for a lookup
        table's rows, or an ``sfb.FactorSum``), already summed over the workers they come from."""
        from dynagraph import _core

        for name, g in grads.items():
            if isinstance(g, tuple):
                p = self.lookups[name]
                rows = np.asarray(g[0], dtype=np.int64)
                view = p._grad_view().reshape(p.shape()[0], -1)
                np.add.at(view, rows, np.asarray(g[1], dtype=np.float32).reshape(len(rows), -1))
                p._mark_rows(rows.tolist())
            elif hasattr(g, "add_to"):  # sfb.FactorSum: factors applied where the parameter lives
                g.add_to(self.dense[name])
            elif self.dense[name]._device != "CPU":
                _core.add_grad(self.dense[name], g)
            else:
                p = self.dense[name]
                p._grad_view().reshape(p.shape(), order="F")[...] += g
                p._mark_grad()
        self.trainer.update()

    @property
    def learning_rate(self) -> float:
        return float(self.trainer.learning_rate)

    @learning_rate.setter
    def learning_rate(self, lr: float) -> None:
        self.trainer.learning_rate = float(lr)

    # ---- persistence (server checkpoints, a restarted worker's replicas)
    def state_dict(self) -> dict:
        core = self.trainer._t
        params = {**self.dense, **self.lookups}
        return {"state": {n: core._state_of(p) for n, p in params.items()}, "updates": int(core.updates),
                "learning_rate": self.learning_rate}

    def load_state_dict(self, d: dict) -> None:
        core = self.trainer._t
        params = {**self.dense, **self.lookups}
        for name, state in d["state"].items():
            if name in params:
                core._set_state(params[name], np.asarray(state, dtype=np.float32))
        core.updates = int(d["updates"])
        self.learning_rate = d["learning_rate"]

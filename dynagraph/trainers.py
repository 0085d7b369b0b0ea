"""DyNet's trainers with DyNet's default hyper-parameters.

Every trainer clips the global gradient norm to 5 by default
(``set_clip_threshold``), updates only the touched rows of lookup parameters
(``set_sparse_updates(False)`` for dense updates), and zeroes gradients after
``update()``.
"""
from __future__ import annotations

import math
import sys

from . import _config, _core, _errors

__all__ = ["Trainer", "SimpleSGDTrainer", "CyclicalSGDTrainer", "MomentumSGDTrainer", "AdagradTrainer",
           "AdadeltaTrainer", "RMSPropTrainer", "AdamTrainer", "AmsgradTrainer"]


# Hyper-parameters whose values outside a range make the first update NaN (or step
# uphill: a negative eps in a denominator), as (low, high, high included).
_RANGES = {"eps": (0.0, math.inf, True), "beta_1": (0.0, 1.0, False), "beta_2": (0.0, 1.0, False),
           "rho": (0.0, 1.0, True)}


def _hyper(value, fn: str, name: str) -> float:
    """A hyper-parameter: a finite number (a NaN or inf learning rate turns every
    parameter into NaN at the first update), in its range where it has one."""
    x = _errors.number(value, fn, name, finite=True)
    low, high, closed = _RANGES.get(name, (-math.inf, math.inf, True))
    if not (low <= x <= high if closed else low <= x < high):
        raise ValueError(f"{fn}: argument '{name}' must be in [{low:g}, {high:g}{']' if closed else ')'}, got {x:g}")
    return x


class Trainer:
    """Base class: wraps the C++ update rule named by ``kind``.

    ``hyper`` maps the hyper-parameters' names to their values, in the order the rule takes them.
    """

    def __init__(self, m, kind: str, hyper: dict):
        _config.ensure_initialized()
        core_pc = getattr(m, "_c", m)
        if not isinstance(core_pc, _core.ParameterCollectionCore):
            raise TypeError(f"a trainer needs a ParameterCollection, got {type(m).__name__}")
        self._t = _core.TrainerCore(kind, core_pc, [_hyper(value, type(self).__name__, name)
                                                     for name, value in hyper.items()])
        self._t.check_finite = _config.settings.check_finite
        self.model = m
        self._pc = core_pc

    @_errors.names_itself
    def update(self) -> None:
        """Applies the accumulated gradients, then zeroes them."""
        try:
            self._t.update()
        except _errors.CAUGHT as exc:
            _errors.reraise(exc, "Trainer.update")

    def update_epoch(self, r: float = 1.0) -> None:
        """Deprecated in DyNet; kept for old scripts (does nothing)."""

    def update_subset(self, updated_params, updated_lookups) -> None:
        """Updates only the parameters and lookup tables at these indices of the
        collection's ``parameters_list()`` and ``lookup_parameters_list()``; the
        others keep their gradients for a later update. (DyNet calls this a last
        resort; ``set_updated(False)`` on what should stay fixed is the usual way.)"""
        groups = [(self._pc.parameters_list(), updated_params, "parameter"),
                  (self._pc.lookup_parameters_list(), updated_lookups, "lookup parameter")]
        saved = []
        try:
            for items, indices, what in groups:
                chosen = set()
                for i in indices:
                    i = int(i)
                    if not 0 <= i < len(items):
                        raise IndexError(f"update_subset: {what} index {i} out of range for a collection "
                                         f"with {len(items)}")
                    chosen.add(i)
                for i, p in enumerate(items):
                    saved.append((p, p.is_updated()))
                    p.set_updated(saved[-1][1] and i in chosen)
            self._t.update()
        finally:
            for p, flag in saved:
                p.set_updated(flag)

    def restart(self, learning_rate: float | None = None) -> None:
        """Forgets the optimiser state (moments); optionally sets a new learning rate (any finite
        one, negative included, as DyNet). As in DyNet, the update count is kept, so Adam's bias
        correction and the cyclical schedule go on from where they were."""
        if learning_rate is not None:
            self._t.learning_rate = _hyper(learning_rate, "Trainer.restart", "learning_rate")
        self._t.restart()

    def status(self) -> None:
        """Prints DyNet's status line to stderr, ``[lr=... clips=... updates=...] ``,
        counting clips and updates since the previous call."""
        sys.stderr.write(self._t.status())
        sys.stderr.flush()

    def set_sparse_updates(self, su: bool) -> None:
        self._t.sparse_updates = bool(su)

    def set_clip_threshold(self, thr: float) -> None:
        """Clip the global gradient norm to ``thr``; ``thr <= 0`` disables clipping."""
        thr = _errors.number(thr, "Trainer.set_clip_threshold", "thr")
        if math.isnan(thr):
            raise ValueError("Trainer.set_clip_threshold: argument 'thr' is NaN (a number > 0 clips, <= 0 disables)")
        self._t.clipping_enabled = thr > 0
        self._t.clip_threshold = thr if thr > 0 else 0.0  # as DyNet's

    def get_clip_threshold(self) -> float:
        return self._t.clip_threshold

    def set_check_finite(self, on: bool = True) -> None:
        """Raise ValueError on a NaN/inf gradient instead of applying it."""
        self._t.check_finite = bool(on)

    @property
    def learning_rate(self) -> float:
        return self._t.learning_rate

    @learning_rate.setter
    def learning_rate(self, lr: float) -> None:
        self._t.learning_rate = _hyper(lr, "Trainer.learning_rate", "learning_rate")

    def set_learning_rate(self, value: float) -> None:
        self.learning_rate = value

    @property
    def updates(self) -> int:
        return self._t.updates

    def whoami(self) -> str:
        return type(self).__name__


class SimpleSGDTrainer(Trainer):
    def __init__(self, m, learning_rate: float = 0.1):
        super().__init__(m, "sgd", dict(learning_rate=learning_rate))


class CyclicalSGDTrainer(Trainer):
    def __init__(self, m, learning_rate_min: float = 0.01, learning_rate_max: float = 0.1, step_size: float = 2000,
                 gamma: float = 1.0, edecay: float = 0.0):
        super().__init__(m, "cyclical", dict(learning_rate_min=learning_rate_min, learning_rate_max=learning_rate_max,
                                             step_size=step_size, gamma=gamma))


class MomentumSGDTrainer(Trainer):
    def __init__(self, m, learning_rate: float = 0.01, mom: float = 0.9):
        super().__init__(m, "momentum", dict(learning_rate=learning_rate, mom=mom))


class AdagradTrainer(Trainer):
    def __init__(self, m, learning_rate: float = 0.1, eps: float = 1e-20):
        super().__init__(m, "adagrad", dict(learning_rate=learning_rate, eps=eps))


class AdadeltaTrainer(Trainer):
    """AdaDelta (Zeiler 2012). As DyNet's, the rule has no learning rate: ``learning_rate``
    (1.0) can be read and set, but does not scale the steps."""

    def __init__(self, m, eps: float = 1e-6, rho: float = 0.95):
        super().__init__(m, "adadelta", dict(eps=eps, rho=rho))


class RMSPropTrainer(Trainer):
    def __init__(self, m, learning_rate: float = 0.001, eps: float = 1e-8, rho: float = 0.9):
        super().__init__(m, "rmsprop", dict(learning_rate=learning_rate, eps=eps, rho=rho))


class AdamTrainer(Trainer):
    def __init__(self, m, alpha: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, eps: float = 1e-8):
        super().__init__(m, "adam", dict(alpha=alpha, beta_1=beta_1, beta_2=beta_2, eps=eps))


class AmsgradTrainer(Trainer):
    def __init__(self, m, alpha: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, eps: float = 1e-8):
        super().__init__(m, "amsgrad", dict(alpha=alpha, beta_1=beta_1, beta_2=beta_2, eps=eps))

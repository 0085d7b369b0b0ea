"""Update rules in NumPy, applied where a parameter lives (a server shard or a replica).

The math is the engine's (``csrc/params/trainers.cc``) so that one step here
equals one ``dy.<Name>Trainer.update()`` on the same gradient. Two deliberate
differences: gradient clipping is off unless ``clip_threshold`` is given (and
then it clips the norm of the gradients handed to one ``step`` call, not of the
whole model), and Adam's step count is kept per parameter (a parameter that
got no gradient does not age).

A lookup table may be updated on some rows only: ``step(name, value, grad,
rows=r)`` with ``grad`` holding just those rows updates just those rows and
their optimizer state, like the engine's sparse updates.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Optimizer", "SGD", "Momentum", "Adagrad", "Adam", "make_optimizer", "OPTIMIZERS"]


class Optimizer:
    """Base: keeps per-parameter state arrays; subclasses define ``_rule``.

    values, grads: float32 arrays of the same shape (any shape); for a lookup
    table with ``rows``, values is (R, ...) and grad is (len(rows), ...).
    """

    slots = 0

    def __init__(self, learning_rate: float = 0.1, clip_threshold: float | None = None):
        self.learning_rate = float(learning_rate)
        self.clip_threshold = clip_threshold
        self.state: dict[str, list[np.ndarray]] = {}
        self.steps: dict[str, int] = {}

    def _state(self, name: str, like: np.ndarray) -> list[np.ndarray]:
        st = self.state.get(name)
        if st is None or (st and st[0].shape != like.shape):
            st = self.state[name] = [np.zeros_like(like, dtype=np.float32) for _ in range(self.slots)]
        return st

    def step(self, name: str, value: np.ndarray, grad: np.ndarray, rows=None, scale: float = 1.0) -> None:
        """Updates ``value`` in place from ``grad`` (already summed over workers)."""
        grad = np.asarray(grad, dtype=np.float32)
        if scale != 1.0:
            grad = grad * np.float32(scale)
        t = self.steps.get(name, 0) + 1
        self.steps[name] = t
        state = self._state(name, value)
        if rows is None:
            self._rule(value, grad, state, t)
            return
        rows = np.asarray(rows, dtype=np.int64)
        sub_state = [s[rows] for s in state]
        sub_value = value[rows]
        self._rule(sub_value, grad, sub_state, t)
        value[rows] = sub_value
        for s, sub in zip(state, sub_state):
            s[rows] = sub

    def step_many(self, values: dict, grads: dict) -> None:
        """Applies a dict of gradients; grads[name] is an array or (rows, array).

        With ``clip_threshold`` the joint norm of these gradients is clipped, as
        a trainer clips its global norm.
        """
        scale = 1.0
        if self.clip_threshold:
            sq = sum(float(np.square(g[1] if isinstance(g, tuple) else g).sum()) for g in grads.values())
            norm = np.sqrt(sq)
            if norm > self.clip_threshold:
                scale = self.clip_threshold / norm
        for name, g in grads.items():
            if isinstance(g, tuple):
                self.step(name, values[name], g[1], rows=g[0], scale=scale)
            else:
                self.step(name, values[name], g, scale=scale)

    def _rule(self, x: np.ndarray, g: np.ndarray, state: list, t: int) -> None:  # pragma: no cover
        raise NotImplementedError

    # ---- persistence (server checkpoints)
    def state_dict(self) -> dict:
        return {"state": {k: [s.copy() for s in v] for k, v in self.state.items()}, "steps": dict(self.steps),
                "learning_rate": self.learning_rate}

    def load_state_dict(self, d: dict) -> None:
        self.state = {k: [np.array(s, dtype=np.float32) for s in v] for k, v in d["state"].items()}
        self.steps = dict(d["steps"])
        self.learning_rate = float(d.get("learning_rate", self.learning_rate))  # older checkpoints lack it


class SGD(Optimizer):
    """x -= lr * g"""

    def _rule(self, x, g, state, t):
        x -= np.float32(self.learning_rate) * g


class Momentum(Optimizer):
    """v = mom * v - lr * g; x += v"""

    slots = 1

    def __init__(self, learning_rate: float = 0.01, mom: float = 0.9, clip_threshold=None):
        super().__init__(learning_rate, clip_threshold)
        self.mom = float(mom)

    def _rule(self, x, g, state, t):
        v = state[0]
        v *= np.float32(self.mom)
        v -= np.float32(self.learning_rate) * g
        x += v


class Adagrad(Optimizer):
    """G += g²; x -= lr * g / sqrt(G + eps)"""

    slots = 1

    def __init__(self, learning_rate: float = 0.1, eps: float = 1e-20, clip_threshold=None):
        super().__init__(learning_rate, clip_threshold)
        self.eps = float(eps)

    def _rule(self, x, g, state, t):
        G = state[0]
        G += g * g
        x -= np.float32(self.learning_rate) * g / np.sqrt(G + np.float32(self.eps))


class Adam(Optimizer):
    """m, v moving averages of g and g²; x -= lr_t * m / (sqrt(v) + eps), lr_t bias-corrected."""

    slots = 2

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 eps: float = 1e-8, clip_threshold=None):
        super().__init__(learning_rate, clip_threshold)
        self.beta_1, self.beta_2, self.eps = float(beta_1), float(beta_2), float(eps)

    def _rule(self, x, g, state, t):
        m, v = state
        b1, b2 = np.float32(self.beta_1), np.float32(self.beta_2)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        lr_t = np.float32(self.learning_rate * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t))
        x -= lr_t * m / (np.sqrt(v) + np.float32(self.eps))


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": Adagrad, "adam": Adam}


def make_optimizer(spec) -> Optimizer:
    """``"adam"``, ``("adam", {"learning_rate": 1e-3})`` or an Optimizer instance."""
    if isinstance(spec, Optimizer):
        return spec
    name, kwargs = (spec, {}) if isinstance(spec, str) else spec
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](**dict(kwargs))

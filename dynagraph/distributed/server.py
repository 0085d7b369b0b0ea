"""A parameter-server shard: holds some parameters, applies gradients, serves reads.

Plain Python (no Ray): ``actors.py`` wraps it. Gradients arrive tagged with
(worker, clock). Two modes:

* immediate (SSP, ASP): each gradient is applied on arrival, as one optimizer
  step (asynchronous SGD);
* aggregate (BSP): gradients of one clock are summed and applied once, when
  every worker has committed that clock (synchronous SGD over the global batch).

Exactly-once per (worker, clock, parameter): ``done[w]`` is the last clock
worker w committed here, ``partial[w]`` the parameters of later clocks already
received. A worker keeps every push since this shard's last checkpoint and
replays them when the shard comes back with a new ``incarnation``; duplicates
are dropped. So a restarted shard loses nothing a worker was told is done,
and it serves no read until the replays have brought it back to the readers'
clock (``pull(need=...)``).

The shard also sums the dense ("ps"-encoded) contributions to *replicated*
parameters (SFB/hybrid scheme), per clock, for workers to fetch.
"""
from __future__ import annotations

import os
import uuid

import numpy as np

from . import checkpoint
from .accounting import ByteCounter
from .optim import EngineOptimizer

__all__ = ["ShardServer"]


class ShardServer:
    def __init__(self, index: int, values: dict, n_workers: int, optimizer="sgd", aggregate: bool = False,
                 checkpoint_dir: str | None = None, checkpoint_every: int = 0, state: dict | None = None,
                 lookup_names=(), weight_decay: float = 0.0):
        self.index = index
        self.n_workers = n_workers
        self.aggregate = aggregate
        self.optimizer_spec, self.lookup_names, self.weight_decay = optimizer, set(lookup_names), weight_decay
        self._hold(values)
        self.done = [-1] * n_workers          # last iteration committed, per worker
        self.partial: list[dict] = [{} for _ in range(n_workers)]  # clock -> set(names)
        self.pending: dict[int, dict] = {}    # aggregate mode: clock -> name -> summed grad
        self.committed: dict[int, set] = {}   # aggregate mode: clock -> workers that committed
        self.sums: dict[tuple, list] = {}     # (name, clock) -> [summed dense contribution, fetched-by set]
        self.checkpoint_every = checkpoint_every
        self.checkpointed = [-1] * n_workers  # done[] at the last checkpoint
        self.last_checkpoint_clock = -1
        self.path = os.path.join(checkpoint_dir, f"server-{index}.ckpt") if checkpoint_dir else None
        self.bytes = ByteCounter()
        self.incarnation = uuid.uuid4().hex
        self.restored = False  # came back from a checkpoint: workers must replay their pushes
        if self.path and checkpoint.load(self.path) is not None:  # a restart: the checkpoint wins
            state = checkpoint.load(self.path)
            self.restored = True
        if state is not None:
            self.load_state(state)

    def _hold(self, values: dict) -> None:
        """The values live in an engine collection; its trainer applies the updates (optim.py)."""
        self.optimizer = EngineOptimizer.holding(self.optimizer_spec, values, self.lookup_names, self.weight_decay)
        self.values = self.optimizer.values  # name -> writable view of the engine's values

    # ---- updates
    def push(self, worker: int, clock: int, grads: dict) -> dict:
        """grads: name -> dense array, or (rows, array) for lookup rows.

        ``clock`` is the iteration the gradient belongs to (the worker's clock
        when it started it). Names this shard does not own are contributions
        to replicated parameters and go to the per-clock sums.
        """
        self.bytes.receive("push", grads)
        seen = self.partial[worker].setdefault(clock, set())
        fresh = {}
        for name, g in grads.items():
            if clock <= self.done[worker] or name in seen:
                continue  # a replayed duplicate
            seen.add(name)
            if name not in self.values:
                self._add_sum(name, clock, g)
            else:
                fresh[name] = g
        if fresh:
            if self.aggregate:
                self._accumulate(self.pending.setdefault(clock, {}), fresh)
            else:
                self.optimizer.step(fresh)
        return {"incarnation": self.incarnation}

    def commit(self, worker: int, clock: int, incarnation: str | None = None) -> dict:
        """Worker finished iteration ``clock`` (all its pushes for it arrived).

        A repeated commit (a restarted worker redoing an iteration this shard
        already has) changes nothing: counting it again would leave a clock that
        never completes and stall every later aggregate. ``incarnation``: the
        one the worker pushed this clock to; a commit meant for an earlier
        incarnation is refused (the pushes it vouches for were lost with it),
        so the worker replays first and commits again.
        """
        if incarnation is not None and incarnation != self.incarnation:
            return {"incarnation": self.incarnation, "refused": True}
        fresh = clock > self.done[worker]
        if fresh:
            self.done[worker] = clock
        for c in [c for c in self.partial[worker] if c <= clock]:
            del self.partial[worker][c]
        if self.aggregate and fresh:
            self.committed.setdefault(clock, set()).add(worker)
            for c in sorted(self.committed):
                if len(self.committed[c]) < self.n_workers:
                    break
                grads = self.pending.pop(c, {})
                if grads:
                    self.optimizer.step({k: _as_update(v) for k, v in grads.items()})
                del self.committed[c]
        self._maybe_checkpoint()
        return {"incarnation": self.incarnation, "checkpointed": self.checkpointed[worker]}

    def push_commit(self, worker: int, clock: int, grads: dict, incarnation: str | None = None,
                    read=None, need: int | None = None) -> dict:
        """``push`` then ``commit``: the last gradients of an iteration and its commit in
        one message; answers as ``commit``. With ``read`` (names), the answer also carries
        ``values``: ``pull(read, need)`` after the commit, for the worker's next iteration
        (None when this shard cannot serve it yet). One or two calls fewer per iteration."""
        if grads:
            self.push(worker, clock, grads)
        reply = self.commit(worker, clock, incarnation)
        if read is not None and not reply.get("refused"):
            reply["values"] = self.pull(read, need)
        return reply

    @staticmethod
    def _accumulate(acc: dict, grads: dict) -> None:
        for name, g in grads.items():
            if isinstance(g, tuple):  # lookup rows: keep a row -> sum map
                rows = acc.setdefault(name, {})
                for r, v in zip(np.asarray(g[0]).tolist(), g[1]):
                    rows[r] = rows[r] + v if r in rows else np.array(v, dtype=np.float32)
            elif name in acc:
                acc[name] = acc[name] + g
            else:
                acc[name] = np.array(g, dtype=np.float32)

    def _add_sum(self, name: str, clock: int, g) -> None:
        entry = self.sums.get((name, clock))
        if entry is None:
            self.sums[(name, clock)] = [np.array(g, dtype=np.float32), set()]
        else:
            entry[0] = entry[0] + g

    # ---- reads
    def pull(self, names=None, need: int | None = None) -> dict | None:
        """Current values. ``need``: the reader's admitted minimum clock m — the values
        must hold every iteration < m. Normally they do (workers commit here before
        their clock advances); a shard restored from a checkpoint does not until the
        workers have replayed, and answers None ("not yet") meanwhile."""
        if need is not None and min(self.done) < need - 1:
            return None
        out = {k: self.values[k] for k in (self.values if names is None else names)}
        self.bytes.send("pull", out)
        return out

    def pull_sums(self, worker: int, wanted: list) -> dict:
        """wanted: [(name, clock)] -> {(name, clock): summed dense contributions}.

        An entry is dropped once every worker fetched it.
        """
        out = {}
        for key in wanted:
            entry = self.sums.get(tuple(key))
            if entry is None:
                continue
            out[tuple(key)] = entry[0]
            entry[1].add(worker)
            if len(entry[1]) >= self.n_workers:
                del self.sums[tuple(key)]
        self.bytes.send("sums", out)
        return out

    def ping(self) -> str:
        return self.incarnation

    def status(self) -> dict:
        return {"incarnation": self.incarnation, "done": list(self.done), "bytes": self.bytes.snapshot(),
                "checkpointed": list(self.checkpointed)}

    # ---- checkpoints
    def _maybe_checkpoint(self) -> None:
        if not (self.path and self.checkpoint_every):
            return
        lo = min(self.done)
        if lo >= self.last_checkpoint_clock + self.checkpoint_every:
            self.save_checkpoint()

    def save_checkpoint(self) -> None:
        if not self.path:
            return
        self.last_checkpoint_clock = min(self.done)
        self.checkpointed = list(self.done)
        checkpoint.save_atomic(self.path, self.state())

    def state(self) -> dict:
        return {"values": self.values, "optimizer": self.optimizer.state_dict(), "done": self.done,
                "partial": self.partial, "pending": self.pending,
                "committed": {c: sorted(w) for c, w in self.committed.items()},
                "sums": {k: (v[0], sorted(v[1])) for k, v in self.sums.items()},
                "last_checkpoint_clock": self.last_checkpoint_clock, "lookups": sorted(self.lookup_names),
                "weight_decay": self.weight_decay}

    def load_state(self, state: dict) -> None:
        self.lookup_names, self.weight_decay = set(state["lookups"]), state["weight_decay"]
        self._hold(state["values"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.done = list(state["done"])
        self.checkpointed = list(self.done)
        self.partial = [{c: set(n) for c, n in p.items()} for p in state["partial"]]
        self.pending = state["pending"]
        self.committed = {c: set(w) for c, w in state["committed"].items()}
        self.sums = {k: [v[0], set(v[1])] for k, v in state["sums"].items()}
        self.last_checkpoint_clock = state["last_checkpoint_clock"]

    def set_learning_rate(self, learning_rate: float) -> None:
        """A new learning rate for the updates from now on (between fits). Checkpointed at
        once, so that a shard restored later does not replay newer pushes with the old rate."""
        self.optimizer.learning_rate = float(learning_rate)
        if self.path:
            self.save_checkpoint()


def _as_update(acc):
    """A summed gradient: an array, or a row -> sum map turned back into (rows, array)."""
    if isinstance(acc, dict):
        rows = sorted(acc)
        return (np.array(rows, dtype=np.int64), np.stack([acc[r] for r in rows]))
    return acc

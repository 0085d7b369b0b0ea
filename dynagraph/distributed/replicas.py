"""A worker's replicas of the replicated matrices (SFB / hybrid schemes).

Plain Python (no Ray). Each iteration every worker posts its contribution to
each replicated matrix on the coordinator's board: its sufficient factors
(U, V), put once in the object store, or "ps" (its dense gradient went to the
matrix's server, which sums the dense ones). Replicas apply *complete*
iterations (every worker's clock past them) in clock order, summing the
factors in rank order, so every replica holds the same values. Updates are
the engine trainer's, over the worker's own collection (``optim.py``).
"""
from __future__ import annotations

import functools
import threading
import time

import numpy as np

from . import wire
from .accounting import message_bytes
from .optim import EngineOptimizer
from .sfb import FactorSum, choose_encoding, rebuild
from .transport import FactorsLost

__all__ = ["ReplicaSet"]


class ReplicaSet:
    def __init__(self, rank: int, n_workers: int, scheme: str, pc, dense: dict, names: list, shapes: dict,
                 optimizer, transport, session, bytes_counter):
        self.rank, self.n_workers, self.scheme = rank, n_workers, scheme
        self.pc, self.dense, self.names, self.shapes = pc, dense, sorted(names), shapes
        self.t, self.session, self.bytes = transport, session, bytes_counter
        # The engine's trainer over this worker's collection, updating the replicated matrices only
        # (the others' gradients are cleared once sent, so update() skips them).
        # Replicas live where the worker computes (its device too): updated there, by the factors' GEMM.
        self.optimizer = EngineOptimizer(optimizer, pc, {n: dense[n] for n in self.names}, {}, on_device=True)
        self.lock = threading.Lock()  # state() may be called from another thread
        self.applied = 0            # replicas hold iterations [0, applied)
        self.own: dict[int, dict] = {}  # iteration -> name -> own (U, V), until applied
        self.factors_timeout = 300.0  # seconds to wait for a dead peer's factors to be posted again

    def __bool__(self) -> bool:
        return bool(self.names)

    # ---- state (a restarted worker copies a peer's; job.save keeps worker 0's)
    def state(self) -> dict:
        with self.lock:
            values = {n: self.dense[n].as_array() if self.dense[n]._device != "CPU"  # a copy; the device copy stays current
                      else wire._dense_view(self.dense[n]).copy() for n in self.names}
            return {"values": values, "optimizer": self.optimizer.state_dict(), "applied": self.applied}

    def load_state(self, state: dict) -> None:
        wire.set_values(self.pc, state["values"], (self.dense, {}))
        self.optimizer.load_state_dict(state["optimizer"])
        self.applied = state["applied"]
        self.own = {t: v for t, v in self.own.items() if t >= self.applied}

    def set_learning_rate(self, learning_rate: float) -> None:
        with self.lock:
            self.optimizer.learning_rate = float(learning_rate)

    # ---- posting one iteration's contribution
    def post(self, c: int, name: str, uv_list: list, complete: bool, p, server: int, entries: dict, send) -> None:
        """Iteration c's gradient of replicated ``name``: factors on the board, or the dense
        gradient to ``server`` (``send``) when the rule (or incomplete factors) says so."""
        k = sum(u.shape[1] for u, _ in uv_list)
        enc = choose_encoding(self.scheme, self.shapes[name], k, complete, self.n_workers, self.t.n_servers)
        if enc == "sfb":
            uv = (np.concatenate([u for u, _ in uv_list], axis=1), np.concatenate([v for _, v in uv_list], axis=1))
            self.own.setdefault(c, {})[name] = uv
            entries[name] = ("sfb", self.t.put(uv))
            self.bytes.sent["sfb"] += message_bytes(uv) * (self.n_workers - 1)  # one copy per peer
        else:
            entries[name] = ("ps", server)
            send(server, {name: wire.dense_grad(p)})

    # ---- applying complete iterations
    def sync(self, upto: int, board: dict | None = None) -> None:
        """Apply every complete iteration in [applied, upto), in order (``board``: the
        coordinator's entries for them, when already at hand)."""
        if not self.names or upto <= self.applied:
            return
        if board is None or any(t not in board for t in range(self.applied, upto)):
            board = self.t.complete(self.applied, upto)
        for t in sorted(board):
            # Gathered outside the lock: waiting for a dead peer's factors must not block
            # state(), which that peer's restarted process calls to rejoin.
            grads = self._iteration_grads(t, board[t])
            with self.lock:
                self.optimizer.step(grads)
                self.applied = t + 1
                self.own.pop(t, None)

    def _iteration_grads(self, t: int, posts: dict) -> dict:
        """Every worker's gradient of iteration t for the replicated parameters, summed.

        Factors whose worker died are gone; its restarted process posts new ones,
        which this waits for."""
        deadline = time.monotonic() + self.factors_timeout
        while True:
            try:
                factors = self._fetch_factors(t, posts)
                break
            except FactorsLost as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"worker {self.rank}: factors of iteration {t} were lost with the worker that put them, "
                        f"and it did not post them again within {self.factors_timeout:.0f} s (did it exhaust its "
                        f"restarts?)") from e
                time.sleep(0.05)
                posts = self.t.complete(t, t + 1).get(t, posts)
        pairs: dict[str, list] = {}
        for _, name, uv in sorted(factors, key=lambda f: f[0]):  # in rank order: every replica sums alike
            pairs.setdefault(name, []).append(uv)
        dense: dict[str, list] = {}
        wanted: dict[int, set] = {}
        for entries in posts.values():
            for name, (enc, where) in entries.items():
                if enc != "sfb":
                    wanted.setdefault(where, set()).add(name)
        for k, names in wanted.items():
            sums = self.session.retry(k, lambda: self.t.pull_sums(k, self.rank, [(n, t) for n in sorted(names)]))
            self.bytes.receive("sums", sums)
            for (name, _), g in sums.items():
                dense.setdefault(name, []).append(g)
        out = {}
        for name in sorted(set(pairs) | set(dense)):
            if self.dense[name]._device != "CPU":  # applied on the device: factors up, one GEMM there
                out[name] = FactorSum(pairs.get(name, []), dense.get(name, []))
            else:
                parts = ([rebuild(pairs[name])] if name in pairs else []) + dense.get(name, [])
                out[name] = functools.reduce(np.add, parts)
        return out

    def _fetch_factors(self, t: int, posts: dict) -> list:
        """[(worker, name, (U, V))] of iteration t: this worker's own from memory, the others' fetched."""
        out, refs, ref_keys = [], [], []
        for w, entries in posts.items():
            for name, (enc, where) in entries.items():
                if enc != "sfb":
                    continue
                if w == self.rank and name in self.own.get(t, {}):
                    out.append((w, name, self.own[t][name]))
                else:
                    refs.append(where)
                    ref_keys.append((w, name))
        for (w, name), uv in zip(ref_keys, self.t.get(refs)):
            self.bytes.receive("sfb", uv)
            out.append((w, name, uv))
        return out

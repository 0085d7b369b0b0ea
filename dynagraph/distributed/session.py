"""A worker's session with the parameter-server shards: pushes, commits, and replays.

Plain Python (no Ray). Each shard has an *incarnation* (a new one when it comes
back from its checkpoint). The session keeps every push since the shard's last
checkpoint (``keep_log``); when a reply shows a new incarnation, or a call
fails, it waits for the shard and replays them (the shard drops duplicates
per (worker, clock, parameter)). Checking and replaying are one step under
``replay_lock``, and a commit never overtakes a replay in progress, so nothing
the worker was told is committed is lost.
"""
from __future__ import annotations

import threading
import time

from . import wire
from .transport import ServerUnavailable

__all__ = ["ServerSession"]


class ServerSession:
    def __init__(self, rank: int, transport, bytes_counter, keep_log: bool = False):
        self.rank, self.t, self.bytes, self.keep_log = rank, transport, bytes_counter, keep_log
        self.incarnations: dict[int, str] = {}
        self.log: dict[int, dict[int, list]] = {}  # server -> iteration -> [pushed grads]
        self.log_lock = threading.Lock()  # replay_if_restarted() may run in a second thread (the driver's request)
        self.replay_lock = threading.Lock()  # no commit overtakes a replay in progress
        self.committed = 0  # iterations < committed are committed on every server (replays commit them)

    @property
    def n_servers(self) -> int:
        return self.t.n_servers

    # ---- pushes and commits
    def push(self, server: int, c: int, grads: dict):
        """Sends (and logs) iteration c's gradients to ``server``; returns the reply handle."""
        self._log_push(server, c, grads)
        return self.t.push(server, self.rank, c, grads)

    def _log_push(self, server: int, c: int, grads: dict) -> None:
        self.bytes.send("push", grads)
        if self.keep_log:
            with self.log_lock:
                # The gradients are views of staging buffers that the next iteration overwrites.
                self.log.setdefault(server, {}).setdefault(c, []).append(wire.detached(grads))

    def commit_all(self, c: int, handles: list, last: dict, reads: list, need: int) -> dict:
        """Commits iteration c on every server (with ``last[k]``, its gradients not yet
        sent to shard k, in the same message), then checks the pushes' and commits'
        replies. ``reads[k]``: names to read back with the commit (or None). Returns
        {server: values} of the reads the shards could serve.

        The commits go out without waiting for the earlier pushes: a server runs one
        caller's calls in order, so each commit arrives after this worker's pushes to it.
        A push lost with a dead server shows in the replies; the commit, stamped with the
        incarnation the pushes went to, is then refused or failed, and goes again after
        the replay (which resends ``last`` too: it is in the log)."""
        servers = range(self.n_servers)
        with self.replay_lock:
            commits = []
            for k in servers:
                if last.get(k):
                    self._log_push(k, c, last[k])
                commits.append(self.t.push_commit(k, self.rank, c, last.get(k), self.incarnations.get(k), reads[k],
                                                  need))
            replies = self.t.wait(commits)
        for (server, _), reply in zip(handles, self.t.wait([h for _, h in handles])):
            self.check(server, reply)
        values = {}
        for k, reply in zip(servers, replies):
            while self.check(k, reply) or reply.get("refused"):
                with self.replay_lock:
                    reply = self.t.wait([self.t.commit(k, self.rank, c, self.incarnations.get(k))])[0]
            if reply.get("values") is not None:
                values[k] = reply["values"]
            if self.keep_log:
                self._trim_log(k, c, reply.get("checkpointed"))
        return values

    def _trim_log(self, server: int, c: int, checkpointed) -> None:
        with self.log_lock:
            # Every committed iteration has an entry, pushes or not: a replay commits it again.
            log = self.log.setdefault(server, {})
            log.setdefault(c, [])
            if checkpointed is not None:
                for t in [t for t in log if t <= checkpointed]:
                    del log[t]

    # ---- reads
    def read(self, server: int, names: list, need: int, clock: int, recover, timeout: float = 300.0) -> dict:
        """``names``' values from ``server``, holding every iteration below ``need``. A shard
        restored from its checkpoint answers None until the replays caught it up; meanwhile
        ``recover(server)`` gives it what only this worker can."""
        deadline = time.monotonic() + timeout
        while True:
            values = self.retry(server, lambda: self.t.pull(server, names, need))
            if values is not None:
                return values
            if time.monotonic() > deadline:
                logged = self.logged(server)
                done = self.retry(server, lambda: self.t.done(server))
                raise RuntimeError(
                    f"server {server} came back from its checkpoint without the updates of iterations before "
                    f"{need}, and no worker replayed them within {timeout:.0f} s: its last iteration per "
                    f"worker is {done}; worker {self.rank} is at iteration {clock} and can replay "
                    f"{logged[:1] + ['...'] + logged[-1:] if len(logged) > 2 else logged}")
            self.replay_if_restarted(server)
            recover(server)
            time.sleep(0.01)

    def recover(self, server: int, clock: int) -> int | None:
        """Gives ``server`` the iterations below ``clock`` it lacks from this worker, by
        replaying the push log; when the log cannot (the shard came back from its
        checkpoint and needs pushes of a worker process that died meanwhile, taking its
        log), returns the first iteration to redo. Under BSP the redo reads exactly the
        values the first run read (iterations < c), so training ends where it would have."""
        done = self.retry(server, lambda: self.t.done(server))[self.rank]
        if done >= clock - 1:
            return None
        if self.has_logged(server, done + 1):
            self.replay_logged(server)
            return None
        return done + 1

    # ---- restarts
    def check(self, server: int, reply) -> bool:
        """True when the server restarted since this worker last heard from it; this
        worker's pushes since its checkpoint have then been replayed to it. A second
        thread that sees the new incarnation finds the replay done, never under way."""
        inc = self._wait_for(server) if reply.get("failed") else reply["incarnation"]
        with self.replay_lock:
            known = self.incarnations.setdefault(server, inc)
            if inc == known:
                return False
            self._replay_locked(server, inc)
            self.incarnations[server] = inc
        return True

    def replay_if_restarted(self, server: int) -> None:
        """Replay this worker's pushes to ``server`` if it restarted since we last heard from it."""
        try:
            self.check(server, {"incarnation": self.t.ping(server)})
        except ServerUnavailable:
            self.check(server, {"failed": True})

    def known(self, server: int) -> bool:
        return server in self.incarnations

    def replay_logged(self, server: int) -> None:
        """Sends the log again whatever incarnation the shard says it is (it lacks
        iterations this worker still has; duplicates are dropped)."""
        with self.replay_lock:
            inc = self.incarnations.get(server)
            if inc is not None:
                self._replay_locked(server, inc)

    def has_logged(self, server: int, c: int) -> bool:
        with self.log_lock:
            return c in self.log.get(server, {})

    def logged(self, server: int) -> list:
        with self.log_lock:
            return sorted(self.log.get(server, {}))

    def _wait_for(self, server: int, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.t.ping(server)
            except ServerUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _replay_locked(self, server: int, incarnation: str) -> None:
        with self.log_lock:
            log = {t: list(g) for t, g in self.log.get(server, {}).items()}
        for t in sorted(log):
            self.t.wait([self.t.push(server, self.rank, t, g) for g in log[t]])
            if t < self.committed:
                self.t.wait([self.t.commit(server, self.rank, t, incarnation)])

    def retry(self, server: int, call):
        """``call()``, again after the server came back (and got this worker's replay)."""
        while True:
            try:
                return call()
            except ServerUnavailable:
                self.check(server, {"failed": True})

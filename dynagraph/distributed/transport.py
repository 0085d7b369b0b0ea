"""What a worker needs from the rest of the job, behind one small interface.

Two backends: ``LocalTransport`` (everything in this process; unit tests and
single-process debugging) here, ``RayTransport`` (actor handles and the object
store) in ``actors.py``. Calls that may run in the background (push, commit,
push_commit) return a handle; ``wait`` turns handles into replies. A reply of
``{"failed": True}`` means the server died; the worker then waits for it to
come back (``ping``) and replays. A coordinator that restarted is told each
worker's own state (``attach``'s ``registration``) by the transport before
the worker's call goes on.
"""
from __future__ import annotations

from . import wire

__all__ = ["Transport", "LocalTransport", "NotAdmitted", "ServerUnavailable", "FactorsLost"]

class ServerUnavailable(RuntimeError):
    """A server shard is dead or restarting; the caller waits (``ping``) and retries."""


class FactorsLost(RuntimeError):
    """Posted factors are gone: the worker that put them died. Once restarted it posts them again."""


class NotAdmitted(RuntimeError):
    """Local backend: a worker may not start yet (another worker must step first)."""


class Transport:
    n_servers: int

    # registration() -> (clock, {t: board entries}, applied) of worker ``rank``: what a
    # restarted coordinator needs from it (Coordinator.register).
    def attach(self, rank: int, registration) -> None: ...

    def push(self, server: int, worker: int, clock: int, grads: dict): ...
    def commit(self, server: int, worker: int, clock: int, incarnation: str | None = None): ...
    def push_commit(self, server: int, worker: int, clock: int, grads: dict, incarnation: str | None = None,
                    read=None, need: int | None = None): ...
    def wait(self, handles: list) -> list: ...
    def pull(self, server: int, names=None, need: int | None = None) -> dict | None: ...
    def pull_sums(self, server: int, worker: int, wanted: list) -> dict: ...
    def ping(self, server: int) -> str: ...
    def done(self, server: int) -> list: ...
    # check: called while an admission (or wait_min) waits (about once a second; locally,
    # before refusing); it may raise to abandon the wait (a worker that must redo lost work).
    def admit(self, worker: int, clock: int, check=None) -> int: ...
    # finish: returns the board's floor (iterations below it are applied everywhere).
    def finish(self, worker: int, clock: int, entries: dict, applied: int) -> int: ...
    # finish(clock), then admit(clock + 1): (min clock, or None when not admitted yet; with_board:
    # the entries of complete iterations from ``applied`` on; the floor).
    def finish_and_admit(self, worker: int, clock: int, entries: dict, applied: int, with_board: bool = False,
                         check=None) -> tuple: ...
    def wait_min(self, clock: int, check=None) -> int: ...
    def complete(self, lo: int, hi: int) -> dict: ...
    def clock_of(self, worker: int) -> int: ...
    def factor_posts(self, worker: int) -> dict: ...
    def repost(self, worker: int, clock: int, entries: dict) -> None: ...
    def put(self, obj): ...
    def get(self, refs: list) -> list: ...
    def peer_replicas(self, worker: int): ...


class LocalTransport(Transport):
    """Servers, coordinator and peers are plain objects in this process."""

    def __init__(self, servers: list, coordinator, workers=None):
        self.servers, self.coordinator = servers, coordinator  # tests may swap in a restarted one
        self.workers = workers if workers is not None else []
        self.n_servers = len(servers)
        self.registrations: dict = {}

    def attach(self, rank, registration):
        self.registrations[rank] = registration

    def _coord(self, worker):
        """The coordinator, once it has ``worker``'s registration (after a restart)."""
        c = self.coordinator
        if worker in c.unregistered and worker in self.registrations:
            c.register(worker, *self.registrations[worker]())
        return c

    # Gradients are copied as a message to another process would be: they are views of
    # the worker's staging buffers, which its next iteration overwrites.
    def push(self, server, worker, clock, grads):
        return self.servers[server].push(worker, clock, wire.detached(grads))

    def commit(self, server, worker, clock, incarnation=None):
        return self.servers[server].commit(worker, clock, incarnation)

    def push_commit(self, server, worker, clock, grads, incarnation=None, read=None, need=None):
        reply = self.servers[server].push_commit(worker, clock, wire.detached(grads) if grads else grads, incarnation, read, need)
        if reply.get("values") is not None:  # a copy, as a reply from another process is
            reply["values"] = {k: v.copy() for k, v in reply["values"].items()}
        return reply

    def wait(self, handles):
        return list(handles)

    def pull(self, server, names=None, need=None):
        values = self.servers[server].pull(names, need)  # views of the shard's values: copy them
        return None if values is None else {k: v.copy() for k, v in values.items()}

    def pull_sums(self, server, worker, wanted):
        return self.servers[server].pull_sums(worker, wanted)

    def ping(self, server):
        return self.servers[server].incarnation

    def done(self, server):
        return list(self.servers[server].done)

    def admit(self, worker, clock, check=None):
        if not self._coord(worker).admit(worker, clock):
            if check is not None:
                check()
            raise NotAdmitted(f"worker {worker} may not start iteration {clock} yet")
        return self.coordinator.min_clock()

    def finish(self, worker, clock, entries, applied):
        c = self._coord(worker)
        c.finish(worker, clock, entries, applied)
        return c.floor()

    def finish_and_admit(self, worker, clock, entries, applied, with_board=False, check=None):
        floor = self.finish(worker, clock, entries, applied)
        c = self.coordinator
        if not c.admit(worker, clock + 1):  # in one process nothing can wait: admit at the next step
            return None, None, floor
        m = c.min_clock()
        return m, (c.complete(applied, m) if with_board else None), floor

    def wait_min(self, clock, check=None):
        if self.coordinator.min_clock() < clock:
            if check is not None:
                check()
            raise NotAdmitted(f"not every worker has reached clock {clock}")
        return self.coordinator.min_clock()

    def complete(self, lo, hi):
        return self.coordinator.complete(lo, hi)

    def clock_of(self, worker):
        return self._coord(worker).clock_of(worker)

    def factor_posts(self, worker):
        return self.coordinator.factor_posts(worker)

    def repost(self, worker, clock, entries):
        self.coordinator.repost(worker, clock, entries)

    def put(self, obj):
        return obj

    def get(self, refs):
        return list(refs)

    def peer_replicas(self, worker):
        for w in self.workers:
            if w.rank != worker:
                return w.replica_state()
        return None

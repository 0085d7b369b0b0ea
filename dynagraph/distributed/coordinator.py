"""The coordinator: worker clocks (SSP admission) and the SFB bulletin board.

When a worker finishes iteration c it posts, for each replicated parameter it
has a gradient for, how that contribution travels: ("sfb", ref to its (U, V)
factors) or ("ps", server index holding the dense sum). Then its clock
becomes c + 1. Iteration t is *complete* once every worker's clock is past t;
replicas apply complete iterations in order. Board entries are dropped once
every worker reports it has applied them (releasing the factor objects).

Factor objects live as long as the worker that put them: when one dies, its
restarted process asks for its factor posts still on the board
(``factor_posts``), recomputes those iterations and replaces the references
(``repost``); peers that found the old ones gone wait for the new.

A coordinator that restarts (its process died) starts empty and ``restored``:
it admits no one and answers no board query until every worker has
``register``-ed what it knows itself (its clock, its posts still on the board,
what its replicas applied): that is the whole state, so nothing is kept on disk.
Workers register when a call to the coordinator fails; the driver has workers
that already finished their run register too.
"""
from __future__ import annotations

from .consistency import ClockTable

__all__ = ["Coordinator"]


class Coordinator:
    def __init__(self, n_workers: int, staleness: float, start_clock: int = 0, restored: bool = False):
        self.table = ClockTable(n_workers, staleness)
        self.table.clocks = [start_clock] * n_workers
        self.board: dict[int, dict[int, dict]] = {}   # iteration -> worker -> entries
        self.applied = [start_clock] * n_workers       # iterations [0, applied) applied by each replica set
        self.unregistered = set(range(n_workers)) if restored else set()  # whose state a restart still lacks
        self.held: dict[int, int] = {}  # worker -> first iteration it may not start yet (fault injection)

    @property
    def ready(self) -> bool:
        """False while a restarted coordinator waits for some worker's registration."""
        return not self.unregistered

    def register(self, worker: int, clock: int, posts: dict, applied: int) -> None:
        """A worker's own part of the state, after a restart (harmless when repeated):
        its clock, its board entries {t: entries} not yet applied everywhere, and the
        iterations its replicas applied."""
        self.table.clocks[worker] = max(self.table.clocks[worker], clock)
        for t, entries in posts.items():
            self.board.setdefault(t, {})[worker] = entries
        self.applied[worker] = max(self.applied[worker], applied)
        self.unregistered.discard(worker)
        if self.ready:
            self.report_applied(worker, applied)  # drops what every replica has applied

    def floor(self) -> int:
        """Iterations below this are applied by every replica set: their posts are no longer needed."""
        return min(self.applied)

    def admit(self, worker: int, clock: int) -> bool:
        return self.ready and clock < self.held.get(worker, clock + 1) and self.table.admit(worker, clock)

    def finish(self, worker: int, clock: int, entries: dict, applied: int) -> int:
        """Worker finished iteration ``clock``; returns the new minimum clock."""
        if clock >= self.table.clocks[worker]:
            self.board.setdefault(clock, {})[worker] = entries
        self.report_applied(worker, applied)
        return self.table.tick(worker, clock + 1)

    def report_applied(self, worker: int, applied: int) -> None:
        self.applied[worker] = max(self.applied[worker], applied)
        if not self.ready:  # an unregistered worker's replicas may still need any of it
            return
        lo = min(self.applied)
        for t in [t for t in self.board if t < lo]:
            del self.board[t]

    def complete(self, lo: int, hi: int) -> dict:
        """Board entries of complete iterations in [lo, hi): {t: {worker: entries}}."""
        hi = min(hi, self.table.min_clock())
        return {t: self.board.get(t, {}) for t in range(lo, hi)}

    def factor_posts(self, worker: int) -> dict:
        """Iterations still on the board for which ``worker`` posted factors: {t: [names]}."""
        out = {}
        for t, posts in self.board.items():
            names = sorted(n for n, (enc, _) in posts.get(worker, {}).items() if enc == "sfb")
            if names:
                out[t] = names
        return out

    def repost(self, worker: int, clock: int, entries: dict) -> None:
        """Replace ``worker``'s entries of iteration ``clock`` (no-op once every replica applied it)."""
        if worker in self.board.get(clock, {}):
            self.board[clock][worker].update(entries)

    def clock_of(self, worker: int) -> int:
        return self.table.clocks[worker]

    def min_clock(self) -> int:
        return self.table.min_clock()

    def clock_log(self) -> list:
        return list(self.table.log.rows)

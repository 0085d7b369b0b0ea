"""Per-worker clocks and the bounded-staleness rule (BSP, SSP, ASP).

Each worker's clock counts the iterations it has *finished* (pushed and
acknowledged). Under stale synchronous parallel with staleness s, a worker
about to run iteration c (its clock is c) may start only when every worker's
clock is at least c - s: it then reads parameters that contain every update
of iterations < c - s. BSP is s = 0 (lock-step), ASP is s = infinity (never
waits).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["staleness_for", "ClockTable", "ClockLog"]


def staleness_for(consistency: str, staleness: int | None = None) -> float:
    """The bound s for "bsp" (0), "ssp" (``staleness``, default 2) or "asp" (inf)."""
    consistency = consistency.lower()
    if consistency == "bsp":
        return 0
    if consistency == "asp":
        return math.inf
    if consistency == "ssp":
        s = 2 if staleness is None else int(staleness)
        if s < 0:
            raise ValueError(f"staleness must be >= 0, got {s}")
        return s
    raise ValueError(f"consistency must be 'bsp', 'ssp' or 'asp', got {consistency!r}")


@dataclass
class ClockLog:
    """What a test needs to check the bound: one row per permitted start."""

    rows: list = field(default_factory=list)  # (worker, clock, min clock of all workers at that moment)

    def max_lead(self) -> int:
        """The largest (clock - slowest clock) any worker started an iteration at."""
        return max((c - lo for _, c, lo in self.rows), default=0)


class ClockTable:
    """Clocks of ``n_workers`` workers and the SSP admission rule. No I/O, no Ray."""

    def __init__(self, n_workers: int, staleness: float):
        if n_workers < 1:
            raise ValueError("need at least one worker")
        self.clocks = [0] * n_workers
        self.staleness = staleness
        self.log = ClockLog()

    def min_clock(self) -> int:
        return min(self.clocks)

    def may_start(self, worker: int, clock: int) -> bool:
        """True when ``worker`` may start iteration ``clock`` (every clock >= clock - s)."""
        return self.min_clock() >= clock - self.staleness

    def admit(self, worker: int, clock: int) -> bool:
        """may_start, and when true records the start in the log."""
        ok = self.may_start(worker, clock)
        if ok:
            self.log.rows.append((worker, clock, self.min_clock()))
        return ok

    def tick(self, worker: int, clock: int) -> int:
        """Worker finished iteration ``clock - 1``: its clock becomes ``clock``.

        Clocks only move forward (a restarted worker re-reporting an old clock
        changes nothing). Returns the new minimum clock.
        """
        if clock > self.clocks[worker]:
            self.clocks[worker] = clock
        return self.min_clock()

"""A worker: one model replica training on one data shard (the step loop).

Plain Python (no Ray): ``actors.py`` wraps it, tests drive it directly with
the local transport. One iteration (``step``) at clock c:

1. admission: wait until every worker's clock is >= c - s (SSP);
2. read: apply complete iterations to the replicated (SFB) parameters
   (``ReplicaSet``), pull the server-held parameters;
3. compute: build the graphs of one batch with the user's ``loss_fn`` and run
   backward, sending gradients while it goes on (``WaitFreeBackward``);
4. commit the iteration on every server (``ServerSession``), then post it to
   the coordinator (which advances the clock).

Gradients are ``dict[str, ndarray]``; a lookup table sends only its touched
rows as (rows, values). Every message is counted in ``self.bytes``.
"""
from __future__ import annotations

import math
import time

import numpy as np

from . import wire
from .accounting import ByteCounter
from .compute import WaitFreeBackward, check_accumulate
from .replicas import ReplicaSet
from .session import ServerSession
from .sfb import replicable

__all__ = ["WorkerCore"]


class _Rewound(Exception):
    """Raised inside an iteration when this worker must first redo earlier ones."""


class WorkerCore:
    def __init__(self, rank: int, n_workers: int, build, loss_fn, shard, transport, placement: dict,
                 batch_size: int = 16, scheme: str = "ps", optimizer="sgd", initial: dict | None = None,
                 iterations_per_epoch: int | None = None, wait_free: bool = True, keep_log: bool = False,
                 seed: int = 0, replica_state: dict | None = None, replicated: list | None = None,
                 staleness: float = 0, accumulate: int = 1, device: str | None = None):
        import dynagraph as dy  # the engine is imported where the work happens

        self.accumulate = check_accumulate(accumulate, "WorkerCore")
        if device is not None:  # before build: the model's parameters and inputs go there
            dy.init(device=device)
        self.device = dy._core.get_default_device()
        self.rank, self.n_workers, self.t, self.placement = rank, n_workers, transport, placement
        # One iteration takes `accumulate` micro-batches of batch_size samples each.
        self.shard, self.batch_size, self.seed = list(shard), batch_size * self.accumulate, seed
        self.n_batches = max(1, math.ceil(len(self.shard) / self.batch_size))
        self.iterations_per_epoch = iterations_per_epoch or self.n_batches
        self.staleness = staleness  # the job's bound s: what a read must hold (see _commit)
        self.pc = dy.ParameterCollection()
        model = build(self.pc)
        self.dense, self.lookups = wire.model_params(self.pc)
        shapes = {n: tuple(p.shape()) for n, p in self.dense.items()}
        if replicated is None:  # every matrix, unless the job chose (hybrid replicates the likely-SFB ones)
            replicated = [n for n, s in shapes.items() if scheme != "ps" and replicable(s)]
        self.server_names = [[n for n, s in placement.items() if s == k and n not in replicated]
                             for k in range(transport.n_servers)]
        self.bytes = ByteCounter()
        self.session = ServerSession(rank, transport, self.bytes, keep_log)
        self.replicas = ReplicaSet(rank, n_workers, scheme, self.pc, self.dense, replicated, shapes, optimizer,
                                   transport, self.session, self.bytes)
        self.backward = WaitFreeBackward(model, loss_fn, self.dense, self.lookups, placement, self.replicas,
                                         self.session, scheme, wait_free, accumulate=self.accumulate)
        self.clock = 0
        self.until = None       # run()'s target clock
        self.admitted = None    # (clock, min clock, board or None) of an admission already granted
        self.posts: dict[int, dict] = {}  # iteration -> this worker's board entries, until every replica applied it
        self.reposted = 0  # iterations whose factors this process computed again after a restart
        self.losses: list[float] = []
        self._order = (None, None)  # (epoch, its permutation of the shard)
        self.read_ahead: dict[int, int] = {}  # server -> the clock its values, read with the commit, serve
        self.min_clock = 0  # the job's minimum clock at this worker's last admission
        # seconds: admission, reads (replicas + pulls), compute (backward and its wait-free
        # pushes), finish (commits, then the coordinator: under BSP/SSP also waiting for peers);
        # report() adds "comm" = read + finish
        self.timings = {"compute": 0.0, "wait": 0.0, "read": 0.0, "finish": 0.0}
        if initial is not None:
            wire.set_values(self.pc, initial, (self.dense, self.lookups))
        if replica_state is not None:  # resuming a saved job
            self.replicas.load_state(replica_state)
        transport.attach(rank, self.coordinator_registration)

    def coordinator_registration(self) -> tuple:
        """What a restarted coordinator needs from this worker: (clock, posts, applied)."""
        return self.clock, dict(self.posts), self.replicas.applied

    def replica_state(self) -> dict:
        return self.replicas.state()

    def replay_if_restarted(self, server: int) -> None:
        self.session.replay_if_restarted(server)

    # ---- (re)joining
    def rejoin(self) -> int:
        """Continue from the coordinator's clock for this rank, with fresh replicas from a peer
        (and this rank's factors that peers may still need, recomputed: they died with the
        process that put them)."""
        self.clock = self.session.committed = self.t.clock_of(self.rank)
        if self.replicas and self.clock > 0:
            state = self.t.peer_replicas(self.rank)
            if state is None:  # fresh values here would silently undo the training so far
                raise RuntimeError(
                    f"worker {self.rank} restarted at iteration {self.clock} and no live peer holds the "
                    f"replicated parameters ({', '.join(self.replicas.names)}) to copy; the servers do not keep "
                    f"them: resume from a job.save() checkpoint")
            self.replicas.load_state(state)
            self._redo_factor_posts()
        return self.clock

    def _redo_factor_posts(self) -> None:
        """Recompute and post again the factors of this rank's iterations still on the board,
        each from the replicas as they stood before it (under BSP: the values the first run
        read) and from the servers' current values; nothing is pushed (the servers have them)."""
        for t, names in sorted(self.t.factor_posts(self.rank).items()):
            self.replicas.sync(t)
            self._pull(t)
            _, entries, _, _ = self.backward.run(t, self.batch_for(t), to_servers=False)
            lost = [n for n in names if entries.get(n, ("",))[0] != "sfb"]
            if lost:
                raise RuntimeError(f"worker {self.rank} redid iteration {t} but it gave no factors for "
                                   f"{', '.join(lost)}, which it posted as factors the first time")
            self.t.repost(self.rank, t, {n: entries[n] for n in names})
            self.posts.setdefault(t, {}).update({n: entries[n] for n in names})
            self.reposted += 1

    # ---- the step loop
    def batch_for(self, clock: int) -> list:
        epoch, i = divmod(clock, self.iterations_per_epoch)
        if self._order[0] != epoch:  # one shuffle per epoch, not per batch
            self._order = (epoch, np.random.default_rng((self.seed, self.rank, epoch)).permutation(len(self.shard)))
        order = self._order[1]
        i %= self.n_batches
        return [self.shard[j] for j in order[i * self.batch_size:(i + 1) * self.batch_size]]

    def step(self) -> float:
        """Runs the iteration at ``self.clock`` (an earlier one, if a server turns out to
        have lost iterations of this worker that it cannot replay: see ``_recover_lost``)."""
        while True:
            try:
                return self._step_once()
            except _Rewound:
                continue

    def _step_once(self) -> float:
        c = self.clock
        for k in range(self.t.n_servers):
            if not self.session.known(k):  # before the first push: a restart after it must show
                self.session.replay_if_restarted(k)
        t0 = time.perf_counter()
        if self.admitted is not None and self.admitted[0] == c:
            _, min_clock, board = self.admitted
        else:
            min_clock, board = self.t.admit(self.rank, c, check=self._redo_if_lost), None
        self.admitted = None
        self.min_clock = max(self.min_clock, min_clock)
        t1 = time.perf_counter()
        self.replicas.sync(min_clock, board)
        # Normally min_clock <= c. When redoing a lost iteration the job's minimum is
        # ahead of c: read the values of iterations < c only, as the first run did (BSP).
        self._pull(min(c, min_clock))
        t2 = time.perf_counter()
        loss, entries, handles, last = self.backward.run(c, self.batch_for(c))
        t3 = time.perf_counter()
        self._commit(c, handles, last)
        self._finish(c, entries)
        t4 = time.perf_counter()
        self.timings["wait"] += t1 - t0
        self.timings["read"] += t2 - t1
        self.timings["finish"] += t4 - t3
        self.timings["compute"] += t3 - t2
        self.losses.append(loss)
        return loss

    def _commit(self, c: int, handles: list, last: dict) -> None:
        """Commit iteration c on every server. The next iteration's read rides on the commit
        when the shard can serve it then: when it holds every iteration below c + 1 - s
        (SSP's bound; BSP: all of c) and below the minimum clock the last admission
        reported. If it cannot, _pull reads after admission."""
        read_ahead = self.until is None or c + 1 < self.until
        need = max(self.min_clock, c + 1 - self.staleness if math.isfinite(self.staleness) else 0)
        reads = [names if read_ahead and names else None for names in self.server_names]
        for k, values in self.session.commit_all(c, handles, last, reads, int(need)).items():
            self._take_values(values)
            self.read_ahead[k] = c + 1
        # Before the coordinator call, which may block for the next admission: a replay
        # requested meanwhile must commit iteration c again.
        self.session.committed = max(self.session.committed, c + 1)

    def _finish(self, c: int, entries: dict) -> None:
        """Post iteration c to the coordinator; with the next admission when there is one."""
        if entries:  # kept until every replica applied it: a restarted coordinator rebuilds its board from them
            self.posts[c] = entries
        if self.until is not None and c + 1 < self.until:
            # One round trip instead of three: the next iteration's admission, and the board
            # entries the replicas will apply, ride on this finish.
            min_clock, board, floor = self.t.finish_and_admit(self.rank, c, entries, self.replicas.applied,
                                                              bool(self.replicas), check=self._redo_if_lost)
            self.admitted = None if min_clock is None else (c + 1, min_clock, board)
        else:
            floor = self.t.finish(self.rank, c, entries, self.replicas.applied)
        for t in [t for t in self.posts if t < floor]:
            del self.posts[t]
        self.clock = c + 1

    def run(self, until: int) -> dict:
        """Steps to clock ``until``, then brings the replicas up to date with every worker's iterations."""
        self.until = until
        while True:
            while self.clock < until:
                self.step()
            try:  # a process restarted at `until` may still owe a restored shard its last iterations
                self._redo_if_lost()
                if self.replicas:
                    self.replicas.sync(self.t.wait_min(until, check=self._redo_if_lost))
                return self.report()
            except _Rewound:
                continue

    def report(self) -> dict:
        return {"rank": self.rank, "clock": self.clock, "device": self.device, "losses": list(self.losses),
                "bytes": self.bytes.snapshot(),
                "timings": {**self.timings, "comm": self.timings["read"] + self.timings["finish"]},
                "reposted": self.reposted}

    # ---- reads
    def _pull(self, need: int) -> None:
        ahead, self.read_ahead = self.read_ahead, {}
        for k, names in enumerate(self.server_names):
            if names and ahead.get(k) != self.clock:  # else read with the last commit
                self._take_values(self.session.read(k, names, need, self.clock, self._recover_lost))

    def _take_values(self, values: dict) -> None:
        """Server-held parameters read from a shard (by a pull or with a commit)."""
        self.bytes.receive("pull", values)
        wire.set_values(self.pc, values, (self.dense, self.lookups))

    # ---- iterations a restored shard lost
    def _redo_if_lost(self) -> None:
        """While an admission waits: a shard restored from its checkpoint may lack
        iterations of this worker that only this worker can give it, and the peers the
        admission waits for may be waiting for exactly those (a restarted worker whose
        clock ran ahead of theirs before the faults). Replay them, or redo them now."""
        for k in range(self.t.n_servers):
            self._recover_lost(k)

    def _recover_lost(self, server: int) -> None:
        """Replay this worker's iterations that ``server`` lacks, or redo them when the push
        log cannot (``ServerSession.recover``): rewinds the clock to the first one."""
        redo = self.session.recover(server, self.clock)
        if redo is not None:
            self.clock = self.session.committed = redo
            self.admitted = None
            raise _Rewound(redo)

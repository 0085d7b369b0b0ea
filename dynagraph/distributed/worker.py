"""A worker: one model replica training on one data shard.

Plain Python (no Ray): ``actors.py`` wraps it, tests drive it directly with
the "local" transport. One iteration (``step``) at clock c:

1. admission: wait until every worker's clock is >= c - s (SSP);
2. read: apply complete iterations to the replicated (SFB) parameters, pull
   the server-held parameters;
3. compute: build the graphs of one batch with the user's ``loss_fn`` and run
   backward. Wait-free: the engine hook reports each parameter the moment its
   gradient is final and it is sent right away, while backward continues;
4. commit the iteration on every server, then post it to the coordinator
   (which advances the clock).

Gradients are ``dict[str, ndarray]``; a lookup table sends only its touched
rows as (rows, values). Every message is counted in ``self.bytes``.
"""
from __future__ import annotations

import functools
import math
import threading
import time

import numpy as np

from . import wire
from .accounting import ByteCounter, message_bytes
from .optim import EngineOptimizer
from .sfb import choose_encoding, rebuild, replicable
from .transport import FactorsLost, ServerUnavailable

__all__ = ["WorkerCore"]

BUCKET_BYTES = 256 * 1024  # wait-free pushes: gradients per message before it leaves


class _Rewound(Exception):
    """Raised inside an iteration when this worker must first redo earlier ones."""


class WorkerCore:
    def __init__(self, rank: int, n_workers: int, build, loss_fn, shard, transport, placement: dict,
                 batch_size: int = 16, scheme: str = "ps", optimizer="sgd", initial: dict | None = None,
                 iterations_per_epoch: int | None = None, wait_free: bool = True, keep_log: bool = False,
                 seed: int = 0, replica_state: dict | None = None, replicated: list | None = None,
                 staleness: float = 0):
        import dynagraph as dy  # the engine is imported where the work happens

        self.dy = dy
        self.rank, self.n_workers = rank, n_workers
        self.loss_fn, self.shard, self.t = loss_fn, list(shard), transport
        self.batch_size = batch_size
        self.n_batches = max(1, math.ceil(len(self.shard) / batch_size))
        self.iterations_per_epoch = iterations_per_epoch or self.n_batches
        self.scheme, self.wait_free, self.keep_log, self.seed = scheme, wait_free, keep_log, seed
        self.staleness = staleness  # the job's bound s: what a read must hold (see _finish_pushes)
        self.placement = placement  # name -> server index (replicated names: where their dense sums go)
        self.pc = dy.ParameterCollection()
        self.model = build(self.pc)
        self.dense, self.lookups = wire.model_params(self.pc)
        self._params = (self.dense, self.lookups)
        self.shapes = {n: tuple(p.shape()) for n, p in self.dense.items()}
        if replicated is None:  # every matrix, unless the job chose (hybrid replicates the likely-SFB ones)
            replicated = [n for n, s in self.shapes.items() if scheme != "ps" and replicable(s)]
        self.replicated = sorted(replicated)
        self.server_names = [[n for n, s in placement.items() if s == k and n not in self.replicated]
                             for k in range(transport.n_servers)]
        # The engine's trainer over this replica's own collection, updating the replicated matrices only
        # (the others' gradients are cleared once sent, so update() skips them).
        self.replica_opt = EngineOptimizer(optimizer, self.pc, {n: self.dense[n] for n in self.replicated}, {})
        self.lock = threading.Lock()  # replica_state() may be called from another thread
        self.applied = 0            # replicas hold iterations [0, applied)
        self.own: dict[int, dict] = {}  # iteration -> name -> own (U, V) or dense, until applied
        self.posts: dict[int, dict] = {}  # iteration -> this worker's board entries, until every replica applied it
        self.bytes = ByteCounter()
        self.incarnations: dict[int, str] = {}
        self.log: dict[int, dict[int, list]] = {}  # server -> iteration -> [pushed grads]
        self.log_lock = threading.Lock()  # replay() may run in a second thread (ServerActor's request)
        self.replay_lock = threading.Lock()  # no commit overtakes a replay in progress
        self.clock = 0
        self.committed = 0      # iterations < committed are committed on every server (replays commit them)
        self.until = None       # run()'s target clock
        self.admitted = None    # (clock, min clock, board or None) of an admission already granted
        self.reposted = 0  # iterations whose factors this process computed again after a restart
        self.factors_timeout = 300.0  # seconds to wait for a dead peer's factors to be posted again
        self.losses: list[float] = []
        self._order = (None, None)  # (epoch, its permutation of the shard)
        self.read_ahead: dict[int, int] = {}  # server -> the clock its values, read with the commit, serve
        self.min_clock = 0  # the job's minimum clock at this worker's last admission
        # seconds: admission, reads (replicas + pulls), compute (backward and its wait-free
        # pushes), finish (commits, then the coordinator: under BSP/SSP also waiting for peers);
        # report() adds "comm" = read + finish
        self.timings = {"compute": 0.0, "wait": 0.0, "read": 0.0, "finish": 0.0}
        if initial is not None:
            wire.set_values(self.pc, initial, self._params)
        if replica_state is not None:  # resuming a saved job
            self.load_replica_state(replica_state)
        transport.attach(rank, self.coordinator_registration)

    def coordinator_registration(self) -> tuple:
        """What a restarted coordinator needs from this worker: (clock, posts, applied)."""
        return self.clock, dict(self.posts), self.applied

    # ---- (re)joining
    def rejoin(self) -> int:
        """Continue from the coordinator's clock for this rank, with fresh replicas from a peer
        (and this rank's factors that peers may still need, recomputed: they died with the
        process that put them)."""
        self.clock = self.committed = self.t.clock_of(self.rank)
        if self.replicated and self.clock > 0:
            state = self.t.peer_replicas(self.rank)
            if state is None:  # fresh values here would silently undo the training so far
                raise RuntimeError(
                    f"worker {self.rank} restarted at iteration {self.clock} and no live peer holds the "
                    f"replicated parameters ({', '.join(self.replicated)}) to copy; the servers do not keep "
                    f"them: resume from a job.save() checkpoint")
            self.load_replica_state(state)
            self._redo_factor_posts()
        return self.clock

    def _redo_factor_posts(self) -> None:
        """Recompute and post again the factors of this rank's iterations still on the board.

        Each is computed from the replicas as they stood before it, when the iterations
        below it are complete (under BSP: the values the first run read), and from the
        servers' current values; nothing is pushed (the servers have those iterations).
        """
        for t, names in sorted(self.t.factor_posts(self.rank).items()):
            self._sync_replicas(t)
            self._pull(t)
            _, entries, _, _ = self._compute(t, to_servers=False)
            lost = [n for n in names if entries.get(n, ("",))[0] != "sfb"]
            if lost:
                raise RuntimeError(f"worker {self.rank} redid iteration {t} but it gave no factors for "
                                   f"{', '.join(lost)}, which it posted as factors the first time")
            self.t.repost(self.rank, t, {n: entries[n] for n in names})
            self.posts.setdefault(t, {}).update({n: entries[n] for n in names})
            self.reposted += 1

    def replica_state(self) -> dict:
        with self.lock:
            return self._replica_state()

    def _replica_state(self) -> dict:
        values = {n: wire._dense_view(self.dense[n]).copy() for n in self.replicated}
        return {"values": values, "optimizer": self.replica_opt.state_dict(), "applied": self.applied}

    def load_replica_state(self, state: dict) -> None:
        wire.set_values(self.pc, state["values"], self._params)
        self.replica_opt.load_state_dict(state["optimizer"])
        self.applied = state["applied"]
        self.own = {t: v for t, v in self.own.items() if t >= self.applied}

    # ---- one iteration
    def batch_for(self, clock: int) -> list:
        epoch, i = divmod(clock, self.iterations_per_epoch)
        if self._order[0] != epoch:  # one shuffle per epoch, not per batch
            self._order = (epoch, np.random.default_rng((self.seed, self.rank, epoch)).permutation(len(self.shard)))
        order = self._order[1]
        i %= self.n_batches
        return [self.shard[j] for j in order[i * self.batch_size:(i + 1) * self.batch_size]]

    def step(self) -> float:
        """Runs the iteration at ``self.clock`` (an earlier one, if a server turns out to
        have lost iterations of this worker that it cannot replay: see ``_pull``)."""
        while True:
            try:
                return self._step_once()
            except _Rewound:
                continue

    def _step_once(self) -> float:
        c = self.clock
        for k in range(self.t.n_servers):
            if k not in self.incarnations:  # before the first push: a restart after it must show
                self.replay_if_restarted(k)
        t0 = time.perf_counter()
        if self.admitted is not None and self.admitted[0] == c:
            _, min_clock, board = self.admitted
        else:
            min_clock, board = self.t.admit(self.rank, c, check=self._redo_if_lost), None
        self.admitted = None
        self.min_clock = max(self.min_clock, min_clock)
        t1 = time.perf_counter()
        self._sync_replicas(min_clock, board)
        # Normally min_clock <= c. When redoing a lost iteration the job's minimum is
        # ahead of c: read the values of iterations < c only, as the first run did (BSP).
        self._pull(min(c, min_clock))
        t2 = time.perf_counter()
        loss, entries, handles, last = self._compute(c)
        t3 = time.perf_counter()
        self._finish_pushes(c, handles, last)
        # Before the coordinator call, which may block for the next admission: a replay
        # requested meanwhile must commit iteration c again.
        self.committed = max(self.committed, c + 1)
        if entries:  # kept until every replica applied it: a restarted coordinator rebuilds its board from them
            self.posts[c] = entries
        if self.until is not None and c + 1 < self.until:
            # One round trip instead of three: the next iteration's admission, and the board
            # entries the replicas will apply, ride on this finish.
            min_clock, board, floor = self.t.finish_and_admit(self.rank, c, entries, self.applied,
                                                              bool(self.replicated), check=self._redo_if_lost)
            self.admitted = None if min_clock is None else (c + 1, min_clock, board)
        else:
            floor = self.t.finish(self.rank, c, entries, self.applied)
        for t in [t for t in self.posts if t < floor]:
            del self.posts[t]
        self.clock = c + 1
        t4 = time.perf_counter()
        self.timings["wait"] += t1 - t0
        self.timings["read"] += t2 - t1
        self.timings["finish"] += t4 - t3
        self.timings["compute"] += t3 - t2
        self.losses.append(loss)
        return loss

    def run(self, until: int) -> dict:
        """Steps to clock ``until``, then brings the replicas up to date with every worker's iterations."""
        self.until = until
        while True:
            while self.clock < until:
                self.step()
            try:  # a process restarted at `until` may still owe a restored shard its last iterations
                self._redo_if_lost()
                if self.replicated:
                    self._sync_replicas(self.t.wait_min(until, check=self._redo_if_lost))
                return self.report()
            except _Rewound:
                continue

    def report(self) -> dict:
        return {"rank": self.rank, "clock": self.clock, "losses": list(self.losses), "bytes": self.bytes.snapshot(),
                "timings": {**self.timings, "comm": self.timings["read"] + self.timings["finish"]},
                "reposted": self.reposted}

    # ---- reads
    def _pull(self, need: int, timeout: float = 300.0) -> None:
        ahead, self.read_ahead = self.read_ahead, {}
        for k, names in enumerate(self.server_names):
            if not names or ahead.get(k) == self.clock:  # read with the last commit
                continue
            deadline = time.monotonic() + timeout
            while True:  # a shard restored from a checkpoint answers None until the replays caught it up
                values = self._retry(k, lambda: self.t.pull(k, names, need))
                if values is not None:
                    break
                if time.monotonic() > deadline:
                    with self.log_lock:
                        logged = sorted(self.log.get(k, {}))
                    done = self._retry(k, lambda: self.t.done(k))
                    raise RuntimeError(
                        f"server {k} came back from its checkpoint without the updates of iterations before "
                        f"{need}, and no worker replayed them within {timeout:.0f} s: its last iteration per "
                        f"worker is {done}; worker {self.rank} is at iteration {self.clock} and can replay "
                        f"{logged[:1] + ['...'] + logged[-1:] if len(logged) > 2 else logged}")
                self.replay_if_restarted(k)
                self._recover_lost(k)
                time.sleep(0.01)
            self._take_values(values)

    def _take_values(self, values: dict) -> None:
        """Server-held parameters read from a shard (by a pull or with a commit)."""
        self.bytes.receive("pull", values)
        wire.set_values(self.pc, values, self._params)

    def _redo_if_lost(self) -> None:
        """While an admission waits: a shard restored from its checkpoint may lack
        iterations of this worker that only this worker can give it, and the peers the
        admission waits for may be waiting for exactly those (a restarted worker whose
        clock ran ahead of theirs before the faults). Replay them, or redo them now."""
        for k in range(self.t.n_servers):
            self._recover_lost(k)

    def _recover_lost(self, server: int) -> None:
        """Replay this worker's iterations that ``server`` lacks from the push log, or redo
        them when the log cannot.

        That happens when a shard restored from its checkpoint needs pushes from a
        worker process that died meanwhile (its log died with it): no one can replay
        them, so this process recomputes them. Under BSP the redo reads exactly the
        values the first run read (iterations < c), so training ends where it would have.
        """
        done = self._retry(server, lambda: self.t.done(server))[self.rank]
        if done >= self.clock - 1:
            return
        with self.log_lock:
            replayable = done + 1 in self.log.get(server, {})
        if replayable:
            # The shard lacks iterations this worker still has: send them again whatever
            # incarnation it says it is (a replay the restart check missed; duplicates are dropped).
            with self.replay_lock:
                inc = self.incarnations.get(server)
                if inc is not None:
                    self._replay_locked(server, inc)
            return
        self.clock = self.committed = done + 1
        self.admitted = None
        raise _Rewound(done + 1)

    def _sync_replicas(self, upto: int, board: dict | None = None) -> None:
        """Apply every complete iteration in [applied, upto) to the replicas, in order
        (``board``: the coordinator's entries for them, when already at hand)."""
        if not self.replicated or upto <= self.applied:
            return
        if board is None or any(t not in board for t in range(self.applied, upto)):
            board = self.t.complete(self.applied, upto)
        for t in sorted(board):
            # Gathered outside the lock: waiting for a dead peer's factors must not block
            # replica_state(), which that peer's restarted process calls to rejoin.
            grads = self._iteration_grads(t, board[t])
            with self.lock:
                self.replica_opt.step(grads)
                self.applied = t + 1
                self.own.pop(t, None)

    def _iteration_grads(self, t: int, posts: dict) -> dict:
        """Every worker's gradient of iteration t for the replicated parameters, summed.

        Factors whose worker died are gone; its restarted process posts new ones
        (``_redo_factor_posts``), which this waits for."""
        timeout = self.factors_timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                factors = self._fetch_factors(t, posts)
                break
            except FactorsLost as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"worker {self.rank}: factors of iteration {t} were lost with the worker that put them, "
                        f"and it did not post them again within {timeout:.0f} s (did it exhaust its restarts?)"
                    ) from e
                time.sleep(0.05)
                posts = self.t.complete(t, t + 1).get(t, posts)
        pairs: dict[str, list] = {}
        for _, name, uv in sorted(factors, key=lambda f: f[0]):  # in rank order: every replica sums alike
            pairs.setdefault(name, []).append(uv)
        parts = {name: [rebuild(uvs)] for name, uvs in pairs.items()}
        wanted: dict[int, set] = {}
        for entries in posts.values():
            for name, (enc, where) in entries.items():
                if enc != "sfb":
                    wanted.setdefault(where, set()).add(name)
        for k, names in wanted.items():
            sums = self._retry(k, lambda: self.t.pull_sums(k, self.rank, [(n, t) for n in sorted(names)]))
            self.bytes.receive("sums", sums)
            for (name, _), g in sums.items():
                parts.setdefault(name, []).append(g)
        return {n: functools.reduce(np.add, p) for n, p in parts.items()}

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

    # ---- compute and send
    def _compute(self, c: int, to_servers: bool = True):
        """Iteration c's loss, board entries, push handles and the gradients not yet sent,
        per server (they go with the commit). ``to_servers=False``: nothing is pushed, for
        a redo whose pushes the servers already have."""
        dy, core = self.dy, self.dy._core
        sending: dict[int, dict] = {}  # server -> grads not yet sent
        pending_bytes: dict[int, int] = {}
        handles, entries = [], {}
        factors: dict[str, list] = {}
        dense_only: set = set()
        replicated = set(self.replicated)

        def send(server: int, grads: dict) -> None:
            if not to_servers:
                return
            # Wait-free in buckets (as DDP does): a gradient leaves as soon as its server's
            # bucket holds BUCKET_BYTES, so a big matrix goes at once while a model of many
            # small parameters sends one message per server instead of one per parameter.
            sending.setdefault(server, {}).update(grads)
            pending_bytes[server] = pending_bytes.get(server, 0) + message_bytes(grads)
            if self.wait_free and pending_bytes[server] >= BUCKET_BYTES:
                handles.append((server, self._push(server, c, sending.pop(server))))
                pending_bytes[server] = 0

        def ready(name: str, is_lookup: bool) -> None:
            if is_lookup:
                return  # one hook per lookup node: final only after backward
            p = self.dense[name]
            if name in replicated:
                got, dense = core.take_factors()
                for n, u, v in got:
                    factors.setdefault(n, []).append((u, v))
                dense_only.update(dense)
                self._send_replicated(c, name, factors.get(name, []), name not in dense_only, p, entries, send)
            else:
                send(self.placement[name], {name: wire.dense_grad(p)})
            p._clear_grad()

        dy.renew_cg()
        loss = self.loss_fn(self.model, self.batch_for(c))
        # Under hybrid, factors larger than the gradient are never sent: the engine stops copying them.
        core.set_collect_factors(bool(replicated), cap=self.scheme == "hybrid")
        core.set_param_grad_hook(ready)
        try:
            value = float(loss.scalar_value())
            loss.backward()
        finally:
            core.set_param_grad_hook(None)
            core.set_collect_factors(False)
        for name, p in self.lookups.items():
            g = wire.lookup_grad(p) if to_servers else None
            if g is not None:
                send(self.placement[name], {name: g})
            p._clear_grad()
        return value, entries, handles, sending

    def _send_replicated(self, c, name, uv_list, complete, p, entries, send) -> None:
        k = sum(u.shape[1] for u, _ in uv_list)
        enc = choose_encoding(self.scheme, self.shapes[name], k, complete, self.n_workers, self.t.n_servers)
        if enc == "sfb":
            uv = (np.concatenate([u for u, _ in uv_list], axis=1), np.concatenate([v for _, v in uv_list], axis=1))
            self.own.setdefault(c, {})[name] = uv
            entries[name] = ("sfb", self.t.put(uv))
            self.bytes.sent["sfb"] += message_bytes(uv) * (self.n_workers - 1)  # one copy per peer
        else:
            server = self.placement[name]
            entries[name] = ("ps", server)
            send(server, {name: wire.dense_grad(p)})

    def _log_push(self, server: int, c: int, grads: dict) -> None:
        self.bytes.send("push", grads)
        if self.keep_log:
            with self.log_lock:
                self.log.setdefault(server, {}).setdefault(c, []).append(grads)

    def _push(self, server: int, c: int, grads: dict):
        self._log_push(server, c, grads)
        return self.t.push(server, self.rank, c, grads)

    def _finish_pushes(self, c: int, handles: list, last: dict) -> None:
        """Commit iteration c on every server (with ``last``, its gradients not yet sent
        there, in the same message), then check the pushes' and commits' replies.

        The commits go out without waiting for the earlier pushes: a server runs one
        caller's calls in order, so each commit arrives after this worker's pushes to it
        (one round trip instead of two). A push lost with a dead server shows in the
        replies; the commit, stamped with the incarnation the pushes went to, is then
        refused or failed, and goes again after the replay (which resends ``last`` too:
        it is in the log)."""
        servers = range(self.t.n_servers)
        # The next iteration's read rides on the commit when the shard can serve it
        # then: when it holds every iteration below c + 1 - s (SSP's bound; BSP: all of
        # c) and below the minimum clock the last admission reported. It may hold more
        # (as a later read may); if it cannot serve it, _pull reads after admission.
        read_ahead = self.until is None or c + 1 < self.until
        need = max(self.min_clock, c + 1 - self.staleness if math.isfinite(self.staleness) else 0)
        with self.replay_lock:
            commits = []
            for k in servers:
                if last.get(k):
                    self._log_push(k, c, last[k])
                read = self.server_names[k] if read_ahead and self.server_names[k] else None
                commits.append(self.t.push_commit(k, self.rank, c, last.get(k), self.incarnations.get(k), read,
                                                  int(need)))
            replies = self.t.wait(commits)
        for (server, _), reply in zip(handles, self.t.wait([h for _, h in handles])):
            self._check(server, reply)
        for k, reply in zip(servers, replies):
            while self._check(k, reply) or reply.get("refused"):
                with self.replay_lock:
                    reply = self.t.wait([self.t.commit(k, self.rank, c, self.incarnations.get(k))])[0]
            if reply.get("values") is not None:
                self._take_values(reply["values"])
                self.read_ahead[k] = c + 1
            if self.keep_log:
                with self.log_lock:
                    # Every committed iteration has an entry, pushes or not: a replay commits it again.
                    log = self.log.setdefault(k, {})
                    log.setdefault(c, [])
                    if "checkpointed" not in reply:
                        continue
                    for t in [t for t in log if t <= reply["checkpointed"]]:
                        del log[t]

    # ---- server faults
    def _check(self, server: int, reply) -> bool:
        """True when the server restarted since this worker last heard from it; this
        worker's pushes since its checkpoint have then been replayed to it. Checking and
        replaying are one step under ``replay_lock``: a second thread that sees the new
        incarnation finds the replay done, never under way (its commit would otherwise
        overtake the replay and mark pushes done that the shard never got)."""
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
            self._check(server, {"incarnation": self.t.ping(server)})
        except ServerUnavailable:
            self._check(server, {"failed": True})

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

    def _retry(self, server: int, call):
        while True:
            try:
                return call()
            except ServerUnavailable:
                self._check(server, {"failed": True})

"""Ray wrappers: each logic class becomes an actor through a small factory.

Every actor restarts automatically (up to ``MAX_RESTARTS`` times): a server
reloads its last atomic checkpoint in ``__init__``; a worker rejoins at its
clock and pulls fresh parameters; the coordinator comes back empty and is
told their state by the workers (``RayTransport`` registers its worker when a
coordinator call fails). ``RayTransport`` is the Ray backend of the worker's
transport interface.
"""
from __future__ import annotations

import asyncio
import os
import time
import uuid
import warnings

import ray
from ray.exceptions import GetTimeoutError, ObjectLostError, RayActorError

from .coordinator import Coordinator
from .server import ShardServer
from .transport import FactorsLost, ServerUnavailable, Transport
from .worker import WorkerCore

__all__ = ["RayTransport", "make_server", "make_coordinator", "make_worker", "WorkerActor", "CoordinatorActor",
           "Held"]


class Held:
    """A large constructor argument that the driver keeps in the object store for the job's life.

    Ray frees an actor's by-reference constructor arguments (those past the inline size)
    once the actor exists, so a restart (``max_restarts > 0``) could not rebuild it
    (ray-project/ray#53727; Ray logs "has constructor arguments in the object store and
    max_restarts > 0"). The Trainer puts such arguments itself, holds the references until
    shutdown, and passes them wrapped in this small object; the actor unwraps them."""

    def __init__(self, value):
        self.ref = ray.put(value)


def _unheld(value):
    return ray.get(value.ref) if isinstance(value, Held) else value


class RayTransport(Transport):
    def __init__(self, servers: list, coordinator, worker_names: list):
        self.servers, self.coordinator, self.worker_names = servers, coordinator, worker_names
        self.n_servers = len(servers)
        self.rank, self.registration = None, None

    def attach(self, rank, registration):
        self.rank, self.registration = rank, registration

    def register_with_coordinator(self, timeout: float = 120.0) -> None:
        """Tell the coordinator this worker's own state (after it restarted; harmless otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ray.get(self.coordinator.register.remote(self.rank, *self.registration()))
                return
            except RayActorError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _coordinator_call(self, method: str, *args, check=None):
        """A coordinator call that survives the coordinator's restart: the call failed with
        the old process, so register with the new one and call again."""
        while True:
            try:
                return self._await_coordinator(getattr(self.coordinator, method).remote(*args), check)
            except RayActorError:
                self.register_with_coordinator()

    def push(self, server, worker, clock, grads):
        return self.servers[server].push.remote(worker, clock, grads)

    def commit(self, server, worker, clock, incarnation=None):
        return self.servers[server].commit.remote(worker, clock, incarnation)

    def push_commit(self, server, worker, clock, grads, incarnation=None, read=None, need=None):
        return self.servers[server].push_commit.remote(worker, clock, grads, incarnation, read, need)

    def wait(self, handles):
        out = []
        for h in handles:
            try:
                out.append(ray.get(h))
            except RayActorError:
                out.append({"failed": True})
        return out

    def _call(self, ref):
        try:
            return ray.get(ref)
        except RayActorError as e:
            raise ServerUnavailable(str(e)) from e

    def pull(self, server, names=None, need=None):
        return self._call(self.servers[server].pull.remote(names, need))

    def pull_sums(self, server, worker, wanted):
        return self._call(self.servers[server].pull_sums.remote(worker, wanted))

    def ping(self, server):
        return self._call(self.servers[server].ping.remote())

    def done(self, server):
        return self._call(self.servers[server].status.remote())["done"]

    def admit(self, worker, clock, check=None):
        return self._coordinator_call("admit", worker, clock, check=check)

    def finish(self, worker, clock, entries, applied):
        return self._coordinator_call("finish", worker, clock, entries, applied)

    def finish_and_admit(self, worker, clock, entries, applied, with_board=False, check=None):
        """finish(clock) then admit(clock + 1) in one round trip."""
        return self._coordinator_call("finish_and_admit", worker, clock, entries, applied, with_board, check=check)

    @staticmethod
    def _await_coordinator(ref, check, every: float = 1.0):
        """An admission may wait on peers for long; ``check`` runs about every second
        meanwhile and may raise to give the wait up (the coordinator still grants it
        in time and logs that start: one more row, within the bound like any other)."""
        while True:
            try:
                return ray.get(ref, timeout=every if check is not None else None)
            except GetTimeoutError:
                check()

    def wait_min(self, clock, check=None):
        return self._coordinator_call("wait_min", clock, check=check)

    def complete(self, lo, hi):
        return self._coordinator_call("complete", lo, hi)

    def clock_of(self, worker):
        return self._coordinator_call("clock_of", worker)

    def factor_posts(self, worker):
        return self._coordinator_call("factor_posts", worker)

    def repost(self, worker, clock, entries):
        self._coordinator_call("repost", worker, clock, entries)

    def put(self, obj):
        return ray.put(obj)

    def get(self, refs):
        try:
            return ray.get(list(refs)) if refs else []
        except ObjectLostError as e:  # OwnerDiedError among others: the worker that put them died
            raise FactorsLost(str(e)) from e

    def peer_replicas(self, worker):
        for rank, name in enumerate(self.worker_names):
            if rank == worker:
                continue
            try:
                return ray.get(ray.get_actor(name).replica_state.remote(), timeout=30)
            except Exception:  # that peer is gone too: try the next one
                continue
        return None


class CoordinatorActor:
    """Async actor: ``admit`` waits (without blocking the actor) until SSP allows the start.
    Restarted by Ray after a crash, it waits for every worker's registration before it
    admits anyone or answers for the board (``Coordinator.register``)."""

    def __init__(self, n_workers: int, staleness: float, start_clock: int = 0):
        with warnings.catch_warnings():  # Ray's own property reads a deprecated attribute
            warnings.simplefilter("ignore", DeprecationWarning)
            restored = ray.get_runtime_context().was_current_actor_reconstructed
        self.core = Coordinator(n_workers, staleness, start_clock, restored=restored)
        self.incarnation_id = uuid.uuid4().hex
        self._cond = None

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def _ready(self) -> None:
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self.core.ready)

    async def register(self, worker, clock, posts, applied):
        cond = self._condition()
        async with cond:
            self.core.register(worker, clock, posts, applied)
            cond.notify_all()

    async def incarnation(self):
        return self.incarnation_id

    async def hold(self, held):
        """Holds worker w before iteration held[w] ({}: no one), for fit's fault injection."""
        cond = self._condition()
        async with cond:
            self.core.held = {int(w): int(c) for w, c in held.items()}
            cond.notify_all()

    async def admit(self, worker, clock):
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self.core.admit(worker, clock))
            return self.core.min_clock()

    async def finish(self, worker, clock, entries, applied):
        cond = self._condition()
        async with cond:
            self.core.finish(worker, clock, entries, applied)
            cond.notify_all()
            return self.core.floor()

    async def finish_and_admit(self, worker, clock, entries, applied, with_board=False):
        floor = await self.finish(worker, clock, entries, applied)
        m = await self.admit(worker, clock + 1)
        return m, (self.core.complete(applied, m) if with_board else None), floor

    async def wait_min(self, clock):
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self.core.ready and self.core.min_clock() >= clock)
            return self.core.min_clock()

    async def complete(self, lo, hi):
        await self._ready()
        return self.core.complete(lo, hi)

    async def clock_of(self, worker):
        await self._ready()
        return self.core.clock_of(worker)

    async def factor_posts(self, worker):
        await self._ready()
        return self.core.factor_posts(worker)

    async def repost(self, worker, clock, entries):
        self.core.repost(worker, clock, entries)

    async def clocks(self):
        return list(self.core.table.clocks)

    async def clock_log(self):
        return self.core.clock_log()


class WorkerActor:
    """A WorkerCore in its own process; rejoins (fresh parameters) on its first run."""

    def __init__(self, rank, n_workers, build, loss_fn, shard, servers, coordinator, worker_names, placement,
                 **options):
        self.transport = RayTransport(servers, coordinator, worker_names)
        options["device"] = _engine_device(options.get("device"))
        self.core = WorkerCore(rank, n_workers, build, loss_fn, _unheld(shard), self.transport, placement,
                               **{k: _unheld(v) for k, v in options.items()})
        self.joined = False

    def run(self, until: int) -> dict:
        if not self.joined:
            if self.core.rejoin() > 0:
                # A restarted worker has lost its push log: have every server checkpoint
                # now, so a later server restart never needs pushes this process never made.
                ray.get([s.save_checkpoint.remote() for s in self.core.t.servers])
            self.joined = True
        return self.core.run(until)

    def replica_state(self) -> dict:
        return self.core.replica_state()

    def set_learning_rate(self, learning_rate: float) -> None:
        """The replicas' optimizer (SFB/hybrid); a restarted worker copies it from a peer."""
        self.core.replicas.set_learning_rate(learning_rate)

    def replay_if_restarted(self, server: int) -> None:
        """The driver saw ``server`` restart: replay this worker's pushes since its checkpoint
        now (runs beside ``run``, which may be blocked waiting for admission)."""
        self.core.replay_if_restarted(server)

    def register_with_coordinator(self) -> None:
        """The driver saw the coordinator restart while this worker had finished its run."""
        self.transport.register_with_coordinator()

    def report(self) -> dict:
        return self.core.report()

    def ping(self) -> int:
        return self.core.clock


MAX_RESTARTS = 10  # per actor; a failing constructor must not restart forever


class ServerActor(ShardServer):
    """A ShardServer whose large constructor arguments may arrive as Held references
    (the driver keeps them alive so that a restart can read them again)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*[_unheld(a) for a in args], **{k: _unheld(v) for k, v in kwargs.items()})


def make_server(name: str, **options):
    return ray.remote(ServerActor).options(name=name, max_restarts=MAX_RESTARTS, num_cpus=0, **options)


def make_coordinator(name: str):
    return ray.remote(CoordinatorActor).options(name=name, max_restarts=MAX_RESTARTS, num_cpus=0)


def make_worker(name: str, num_cpus: float, num_gpus: float = 0):
    return ray.remote(WorkerActor).options(name=name, max_restarts=MAX_RESTARTS, max_concurrency=2, num_cpus=num_cpus,
                                           num_gpus=num_gpus)


def worker_device_request(device: str, gpus_per_worker: float | None) -> tuple:
    """Trainer's (device, GPUs per worker): "CPU" and "EMU:0" ask Ray for none, "GPU"
    for ``gpus_per_worker`` (default 1; a fraction shares a GPU between workers)."""
    if device not in ("CPU", "EMU:0", "GPU"):
        raise ValueError(f"Trainer: device must be 'CPU', 'EMU:0' or 'GPU', got {device!r}")
    if device != "GPU":
        if gpus_per_worker:
            raise ValueError(f"Trainer: gpus_per_worker={gpus_per_worker!r} needs device='GPU', got {device!r}")
        return device, 0
    n = 1 if gpus_per_worker is None else gpus_per_worker
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not (0 < n <= 1 or float(n).is_integer()):
        raise ValueError(f"Trainer: gpus_per_worker must be a fraction in (0, 1] or a whole number, got {n!r}")
    return device, n


def _engine_device(device: str | None) -> str | None:
    """The engine's device name in this worker process for the first GPU Ray assigned it:
    Ray normally sets CUDA_VISIBLE_DEVICES to the assigned GPUs (that one is then the
    process's GPU 0); without it, the runtime numbers GPUs as Ray does."""
    if device != "GPU":
        return device
    ids = ray.get_gpu_ids()
    if not ids:
        raise RuntimeError("Trainer(device='GPU'): Ray assigned this worker no GPU")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return "GPU:0" if visible else f"GPU:{int(ids[0])}"

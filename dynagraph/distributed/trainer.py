"""``Trainer``: builds a job (servers, coordinator, workers) on Ray and drives it.

With no Ray address, ``connect`` starts a local cluster (bounded CPUs); with
``RAY_ADDRESS`` set — as it is under ``ray job submit`` — it joins that cluster.
"""
from __future__ import annotations

import copy
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings

import numpy as np
import ray
from ray.exceptions import RayActorError
from tqdm import tqdm

from . import checkpoint, wire
from .accounting import ByteCounter
from .actors import Held, make_coordinator, make_server, make_worker, worker_device_request
from .compute import check_accumulate
from .consistency import staleness_for
from .link import Link, measure_link
from .optim import learning_rate_of, make_trainer, with_learning_rate
from .sfb import factor_counts, likely_sfb, replicable
from .sharding import shard_by_size

__all__ = ["Trainer", "connect"]


# Pulls and pushes of a few hundred kB are the traffic of every iteration. Ray sends
# objects up to 100 KiB inside the call and puts larger ones in the shared-memory
# store, which costs two more hops through the local raylet: a 245 kB pull took
# 3.8 ms against 1.7-2.0 ms sent inline (2 vCPUs, 2026-12-01). The cap stays at a
# few MiB, where copying through the call (unmeasured here) should lose to the
# store's zero-copy reads. Only for a cluster we start; an existing one keeps its
# own settings (docs/distributed.md shows the `ray start` flag).
LOCAL_RAY_CONFIG = {"max_direct_call_object_size": 4 * 1024 * 1024}

# Hybrid's timed trial (link="measure"): iterations per configuration before timing
# (actor start, first pulls), and best of TRIAL_BLOCKS blocks of TRIAL_BLOCK iterations,
# which keeps one slow moment of a shared machine from deciding.
TRIAL_WARMUP, TRIAL_BLOCK, TRIAL_BLOCKS = 2, 3, 2


def connect(num_cpus: int | None = None) -> None:
    """Join the cluster at RAY_ADDRESS, else start a local one with at most ``num_cpus`` CPUs.

    Ray puts the driver's current folder (and its script's) in front of every worker's
    ``sys.path`` before the worker's first task. Started from a clone of this repository,
    that folder holds the *source* ``dynagraph/`` (no compiled engine), which would shadow
    the installed package. So each worker imports dynagraph in a setup hook, which runs
    before that; the folders stay on the path for the user's own modules.
    """
    if ray.is_initialized():
        return
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # One thread per worker process, the engine's and the BLAS's (DYNAGRAPH_NUM_THREADS wins over OMP_...).
    one = {"OMP_NUM_THREADS": "1", "DYNAGRAPH_NUM_THREADS": "1"}
    env = {**one,
           "PYTHONPATH": os.pathsep.join(p for p in [package_root, os.environ.get("PYTHONPATH", "")] if p)}
    if os.environ.get("RAY_ADDRESS"):
        ray.init(runtime_env={"env_vars": one, "worker_process_setup_hook": WORKER_SETUP_HOOK})
    else:
        ray.init(num_cpus=num_cpus or min(os.cpu_count() or 1, 4), include_dashboard=False,
                 runtime_env={"env_vars": env, "worker_process_setup_hook": WORKER_SETUP_HOOK},
                 _system_config=LOCAL_RAY_CONFIG)


WORKER_SETUP_HOOK = "dynagraph.distributed.trainer.import_engine"


def import_engine() -> None:
    """Ray's worker setup hook (see :func:`connect`): the installed dynagraph, engine included,
    is imported before Ray extends ``sys.path`` with the driver's folders."""
    from dynagraph import _core  # noqa: F401  (this module's import already loaded dynagraph)


def _split(data, n: int) -> list:
    """data: a list of n shards, or a flat list of samples dealt round-robin."""
    data = list(data)
    if len(data) == n and all(isinstance(s, (list, tuple)) for s in data):
        return [list(s) for s in data]
    return [data[k::n] for k in range(n)]


def _fault_due(fault: tuple, clocks: list) -> bool:
    """A ``fit(faults=...)`` entry fires at its clock: the slowest worker's, or with
    ("worker", index, clock, "own") that worker's own."""
    _, index, clock, *own = fault
    return (clocks[index] if own == ["own"] else min(clocks)) >= clock


class _FaultHold:
    """Keeps ``fit(faults=...)`` deterministic under load: the coordinator holds each
    fault's worker (a server's or the coordinator's fault: worker 0) before the
    iteration at the fault's clock until the fault has fired, so the worker is still
    inside its run when it is killed (a run that returned first made the kill a no-op)
    and a server or coordinator fault lands before the job can end."""

    def __init__(self, coordinator):
        self.coordinator, self.sent = coordinator, {}

    def update(self, faults) -> None:
        want = {}
        for kind, index, clock, *_ in faults:
            w = index if kind == "worker" else 0
            want[w] = min(want.get(w, clock), clock)
        if want == self.sent:
            return
        try:
            ray.get(self.coordinator.hold.remote(want), timeout=30)
            self.sent = want
        except (RayActorError, ray.exceptions.GetTimeoutError):
            self.sent = None  # restarting: sent again on the next turn


class _ProgressBar:
    """``fit``'s tqdm bar over the slowest worker's clock, read from the coordinator at
    most twice a second (an actor call each time)."""

    def __init__(self, start: int, target: int, coordinator, show: bool | None):
        self.start, self.coordinator, self.last = start, coordinator, 0.0
        if show is None:
            show = getattr(sys.stderr, "isatty", lambda: False)()
        self.bar = tqdm(total=target - start, desc="fit", unit="it", leave=False, dynamic_ncols=True) \
            if show else None

    def poll(self) -> None:
        if self.bar is None or time.monotonic() - self.last < 0.5:
            return
        self.last = time.monotonic()
        clocks = _clocks(self.coordinator)
        if clocks is not None:
            self.bar.n = max(0, min(clocks) - self.start)
            self.bar.refresh()

    def close(self, finished: bool = True) -> None:
        if self.bar is not None:
            if finished:
                self.bar.n = self.bar.total
                self.bar.refresh()
            self.bar.close()
            self.bar = None


def _clocks(coordinator):
    """Every worker's clock, or None while the coordinator restarts."""
    try:
        return ray.get(coordinator.clocks.remote())
    except RayActorError:
        return None


class _RestartWatch:
    """The driver's side of recovery (control flows from the driver to its actors): about
    twice a second it asks the servers and the coordinator who they are. A server that
    came back from its checkpoint gets every worker's replay at once (a worker waiting
    for admission would not notice); a coordinator that came back empty gets the state
    of the workers that already finished their run (running ones register themselves)."""

    def __init__(self, job):
        self.job, self.last = job, 0.0
        self.servers = [self._ask(h.ping) for h in job.server_handles]
        self.coordinator = self._ask(job.coordinator.incarnation)

    @staticmethod
    def _ask(method):
        try:
            return ray.get(method.remote(), timeout=30)
        except (RayActorError, ray.exceptions.GetTimeoutError):
            return None  # restarting: the next poll sees who came back

    def poll(self, finished: list) -> None:
        if time.monotonic() - self.last < 0.5:
            return
        self.last = time.monotonic()
        job = self.job
        for k, h in enumerate(job.server_handles):
            inc = self._ask(h.ping)
            if inc is not None and inc != self.servers[k]:
                self.servers[k] = inc
                self._tell([w.replay_if_restarted.remote(k) for w in job.worker_handles])
        inc = self._ask(job.coordinator.incarnation)
        if inc is not None and inc != self.coordinator:
            self.coordinator = inc
            self._tell([job.worker_handles[r].register_with_coordinator.remote() for r in finished])

    @staticmethod
    def _tell(refs) -> None:
        for ref in refs:
            try:
                ray.get(ref)
            except RayActorError:  # that worker is restarting: it rejoins with fresh state anyway
                pass


def _await_dead(handles, timeout: float = 10.0) -> None:
    """Waits (at most ``timeout`` seconds in all) until each killed actor answers as dead."""
    deadline = time.monotonic() + timeout
    for h in handles:
        while time.monotonic() < deadline:
            try:
                ray.get(h.__ray_ready__.remote(), timeout=max(0.01, deadline - time.monotonic()))
            except (RayActorError, ray.exceptions.GetTimeoutError):
                break
            time.sleep(0.01)


def _merged(snapshots) -> dict:
    total = ByteCounter()
    for snap in snapshots:
        total.merge(snap)
    return total.snapshot()


def _since(now: dict, before: dict | None) -> tuple:
    """(now - before, now) for cumulative byte snapshots (before None: nothing yet)."""
    share = ByteCounter()
    share.merge(now)
    if before is not None:
        share.merge({"sent": {k: -v for k, v in before["sent"].items()},
                     "received": {k: -v for k, v in before["received"].items()}})
    return share.snapshot(), now


class Trainer:
    """A data-parallel job: ``workers`` model replicas, ``servers`` parameter shards.

    build(pc) -> model: declares the parameters in ``pc`` (called once per worker
        and once here for the initial values, which every worker then receives).
    loss_fn(model, batch) -> Expression: a scalar loss over the list of samples.
    consistency: "bsp", "ssp" (with ``staleness``) or "asp".
    scheme: "ps" (every parameter on the servers), "sfb" (matrices replicated on
        the workers, gradients broadcast as sufficient factors) or "hybrid"
        (per matrix and iteration, the cheaper of the two by Poseidon's rule;
        only matrices that go as factors in most of a few batches probed here
        are replicated, the rest stay on the servers as under "ps").
    link: how hybrid turns bytes into time when it picks the replicated matrices:
        "measure" (the default, when some matrix is a candidate: actor round trips
        with 0, 1 and 3 MiB, once per driver and cluster, then a timed trial: a few
        iterations of a throwaway job with every parameter on the servers, one with the
        link rule's choice and one with the byte rule's, and the fastest is kept;
        ``job.link`` then holds the measured ``Link`` and ``job.trial`` the timings),
        a ``Link(latency, bandwidth)`` to state the network (no trial), or "bytes" for
        Poseidon's rule on bytes alone. The choice is made on the first use of
        ``job.replicated``, at the latest by ``fit``.
    optimizer: the engine's trainers do every update (servers and replicas): a name
        ("sgd", "cyclical", "momentum", "adagrad", "adadelta", "rmsprop", "adam",
        "amsgrad"), (name, kwargs) with the DyNet trainer's arguments (plus
        ``clip_threshold``; clipping is off unless given), or a callable
        ``pc -> dy.Trainer``. The collection's weight decay (set in ``build``)
        applies as in local training.
    checkpoint_dir / checkpoint_every: servers checkpoint atomically every N clocks.
    accumulate: micro-batches per iteration (k >= 1): each worker runs k graphs of
        ``batch_size`` samples and k backward() calls, the engine adding their
        gradients up, before one communication and update; with a ``loss_fn`` that
        sums over its samples this equals one batch k times larger, in the memory of one.
    device: where each worker computes: "CPU", "EMU:0" (the emulated GPU) or "GPU"
        (Ray gives each worker ``gpus_per_worker`` GPUs, default 1, or a fraction to
        share one; the worker runs on the first GPU Ray assigned it), with every scheme.
        Gradients and sufficient factors leave the device by one copy each into reused
        host staging buffers; a worker's replicas live on its device and apply the
        received factors there (one GEMM per matrix and iteration).
    """

    def __init__(self, build, loss_fn, data, workers: int = 2, servers: int = 1, consistency: str = "bsp",
                 staleness: int | None = None, scheme: str = "ps", optimizer="sgd", batch_size: int = 16,
                 checkpoint_dir: str | None = None, checkpoint_every: int = 10, wait_free: bool = True,
                 seed: int = 0, num_cpus: int | None = None, link="measure", accumulate: int = 1,
                 device: str = "CPU", gpus_per_worker: float | None = None):
        self.accumulate = check_accumulate(accumulate, "Trainer")
        self.device, self.gpus_per_worker = worker_device_request(device, gpus_per_worker)
        if scheme not in ("ps", "sfb", "hybrid"):
            raise ValueError(f"scheme must be 'ps', 'sfb' or 'hybrid', got {scheme!r}")
        if not (isinstance(link, Link) or link in ("measure", "bytes")):
            raise ValueError(f"link must be 'measure', 'bytes' or a Link(latency, bandwidth), got {link!r}")
        self.link = link
        self.staleness = staleness_for(consistency, staleness)
        self.consistency, self.scheme = consistency, scheme
        self.build, self.loss_fn = build, loss_fn
        self.n_workers, self.n_servers = int(workers), int(servers)
        self.shards = _split(data, self.n_workers)
        self.optimizer, self.batch_size, self.seed, self.wait_free = optimizer, batch_size, seed, wait_free
        self._temporary_checkpoint_dir = checkpoint_dir is None  # made here: removed by shutdown()
        self.checkpoint_dir = checkpoint_dir or tempfile.mkdtemp(prefix="dynagraph-ps-")
        self.checkpoint_every = checkpoint_every
        self.iterations_per_epoch = max(math.ceil(len(s) / (batch_size * self.accumulate)) for s in self.shards)
        connect(num_cpus)
        self._check_gpus()
        import dynagraph as dy

        self._pc = dy.ParameterCollection()
        self._model = build(self._pc)
        self.initial = wire.get_values(self._pc)
        dense, lookups = wire.model_params(self._pc)
        self._lookup_names = sorted(lookups)
        self._weight_decay = float(self._pc.get_weight_decay())
        make_trainer(optimizer, dy.ParameterCollection())  # a bad spec fails here, not in an actor
        self._replicated = sorted(n for n, p in dense.items() if scheme != "ps" and replicable(tuple(p.shape())))
        # Hybrid counts factors here (local passes: the driver's graph is renewed now, not
        # at fit) and decides on first use of `replicated`, which load() may settle instead.
        self._probes = self._probe_factors(dense) if scheme == "hybrid" and self._replicated else None
        sizes = {n: v.size for n, v in self.initial.items()}
        self.placement = {n: k for k, names in enumerate(shard_by_size(sizes, self.n_servers)) for n in names}
        self.job = uuid.uuid4().hex[:8]
        # One folder per job: a restarted server finds its own checkpoint, and a new job in the
        # same checkpoint_dir never mistakes an old job's files for its own (resuming is load()).
        self.server_checkpoint_dir = os.path.join(self.checkpoint_dir, f"job-{self.job}")
        self.clock = 0
        self.history: list[dict] = []
        self._state = None  # from load(): server states, replica state, clock
        self._started = False
        self._last_bytes = None         # cumulative worker and server counts at the last fit's end
        self._last_server_bytes = None
        self._learning_rate_set = False
        self.trial = None  # hybrid with link="measure": [{"replicated", "seconds_per_iteration"}] timed

    def _check_gpus(self) -> None:
        """Ray would leave workers that ask for more GPUs than the cluster has pending forever."""
        need = self.gpus_per_worker * self.n_workers
        have = ray.cluster_resources().get("GPU", 0)
        if need > have:
            raise ValueError(f"Trainer(device='GPU'): {self.n_workers} workers x {self.gpus_per_worker} GPUs need "
                             f"{need:g} GPUs, the Ray cluster has {have:g} (use gpus_per_worker=0.5 to share one)")

    @property
    def replicated(self) -> list:
        """The matrices replicated on the workers (sent as factors). Under "hybrid" the
        first use decides (and may measure the link); ``load`` restores a saved job's."""
        if self._probes is not None:
            self._replicated = self._choose_replicated(*self._probes)
            self._probes = None
        return self._replicated

    def _probe_factors(self, dense: dict, batches: int = 3) -> tuple:
        """A few local backward passes over the first batches of shard 0 count each
        candidate matrix's factors (K varies with the data): (shapes, probes)."""
        shard = self.shards[0]
        shapes = {n: tuple(dense[n].shape()) for n in self._replicated}
        probes = [factor_counts(self._model, self.loss_fn, shard[i:i + self.batch_size], list(shapes))
                  for i in range(0, min(len(shard), batches * self.batch_size), self.batch_size)]
        for p in [*dense.values(), *wire.model_params(self._pc)[1].values()]:
            p._clear_grad()  # the values are untouched; no gradient stays behind either
        return shapes, probes

    def _choose_replicated(self, shapes: dict, probes: list) -> list:
        """Hybrid's replicated matrices: Poseidon's rule on the probes, then (unless
        link="bytes") the time the bytes take on the link against the replica path;
        with link="measure", a timed trial of those choices and of PS settles it."""
        by_bytes = likely_sfb(shapes, probes, self.n_workers, self.n_servers)
        if not by_bytes or self.link == "bytes":
            return by_bytes
        if isinstance(self.link, Link):  # a stated network: the rule's word is final
            return likely_sfb(shapes, probes, self.n_workers, self.n_servers, link=self.link)
        try:
            self.link = measure_link()
        except TimeoutError as e:
            warnings.warn(f"{e}; hybrid falls back to Poseidon's rule on bytes alone", RuntimeWarning)
            self.link = "bytes"
            return by_bytes
        by_link = likely_sfb(shapes, probes, self.n_workers, self.n_servers, link=self.link)
        configurations = []
        for c in ([], by_link, by_bytes):
            if c not in configurations:
                configurations.append(c)
        shown = getattr(sys.stderr, "isatty", lambda: False)()  # a few seconds per configuration
        self.trial = [{"replicated": c, "seconds_per_iteration": self._seconds_per_iteration(c)}
                      for c in tqdm(configurations, desc="hybrid: timing each choice", unit="job", leave=False,
                                    disable=not shown)]
        return min(self.trial, key=lambda t: t["seconds_per_iteration"])["replicated"]

    def _seconds_per_iteration(self, replicated: list) -> float:
        """A throwaway job with ``replicated`` on the workers, from the same initial values
        over the same batches: TRIAL_WARMUP iterations, then the fastest of TRIAL_BLOCKS
        blocks of TRIAL_BLOCK iterations, in seconds per iteration."""
        trial = copy.copy(self)
        trial.job = uuid.uuid4().hex[:8]
        os.makedirs(self.checkpoint_dir, exist_ok=True)  # the trial's files stay inside this job's folder
        trial.checkpoint_dir = tempfile.mkdtemp(prefix="dynagraph-trial-", dir=self.checkpoint_dir)
        trial._temporary_checkpoint_dir = True
        trial.server_checkpoint_dir = os.path.join(trial.checkpoint_dir, f"job-{trial.job}")
        trial._replicated, trial._probes, trial._state, trial._started = list(replicated), None, None, False
        trial.clock, trial.history = 0, []
        try:
            trial._run_until(TRIAL_WARMUP, progress=False)
            best = float("inf")
            for b in range(TRIAL_BLOCKS):
                _, seconds, _ = trial._run_until(TRIAL_WARMUP + (b + 1) * TRIAL_BLOCK, progress=False)
                best = min(best, seconds / TRIAL_BLOCK)
            return best
        finally:
            trial.shutdown()

    # ---- actors
    def _start(self) -> None:
        st = self._state or {}
        self.clock = st.get("clock", 0)
        self.worker_names = [f"{self.job}-worker-{r}" for r in range(self.n_workers)]
        self.server_handles = []
        self._held = []   # large constructor arguments, kept for restarts (see actors.Held)

        def held(value):
            self._held.append(Held(value))
            return self._held[-1]
        for k in range(self.n_servers):
            names = [n for n, s in self.placement.items() if s == k and n not in self.replicated]
            values = held({n: self.initial[n] for n in names})
            self.server_handles.append(make_server(f"{self.job}-server-{k}").remote(
                k, values, self.n_workers, self.optimizer, aggregate=self.staleness == 0,
                checkpoint_dir=self.server_checkpoint_dir, checkpoint_every=self.checkpoint_every,
                state=held(st["servers"][k]) if st.get("servers") else None,
                lookup_names=[n for n in self._lookup_names if n in names], weight_decay=self._weight_decay))
        self.coordinator = make_coordinator(f"{self.job}-coordinator").remote(self.n_workers, self.staleness,
                                                                               self.clock)
        initial = held(dict(self.initial))
        cpus = min(1.0, ray.cluster_resources().get("CPU", 1) / self.n_workers)
        self.worker_handles = [
            make_worker(self.worker_names[r], cpus, self.gpus_per_worker).remote(
                r, self.n_workers, self.build, self.loss_fn, held(self.shards[r]), self.server_handles, self.coordinator,
                self.worker_names, self.placement, batch_size=self.batch_size, scheme=self.scheme,
                optimizer=self.optimizer, initial=initial, iterations_per_epoch=self.iterations_per_epoch,
                wait_free=self.wait_free, keep_log=True, seed=self.seed,
                replica_state=held(st["replicas"]) if st.get("replicas") else None,
                replicated=self.replicated, staleness=self.staleness, accumulate=self.accumulate,
                device=self.device)
            for r in range(self.n_workers)]
        self._started = True
        if self._learning_rate_set:  # a resumed state carries its own rate: the one set since wins
            self.set_learning_rate(self.learning_rate)

    def fit(self, epochs: int = 1, faults=(), progress: bool | None = None) -> dict:
        """Train ``epochs`` more epochs; returns per-worker reports and totals:
        ``iterations``, ``seconds``, ``samples_per_second``, ``worker_bytes`` and
        ``server_bytes`` (this call's bytes, ``{"sent": {kind: n}, "received": ...,
        "total": n}``; ``server_bytes`` is None when a server restarted meanwhile),
        ``restarts``, ``clock_log``, ``reports``.

        faults: [(kind, index, clock)] kills ("server" | "worker" | "coordinator") actor
        ``index`` (0 for the coordinator) once the slowest worker reaches ``clock``; a worker fault given as
        ("worker", index, clock, "own") fires once that worker itself reaches ``clock``
        (fault-tolerance tests).
        progress: a progress bar of the slowest worker's iterations (tqdm, on stderr);
        by default shown when stderr is a terminal.
        """
        target = self.clock + epochs * self.iterations_per_epoch
        reports, elapsed, restarts = self._run_until(target, faults, progress)
        iterations = target - self.clock
        self.clock = target
        summary = self._summarise(reports, elapsed, iterations, restarts)
        self.history.append(summary)
        return summary

    def _run_until(self, target: int, faults=(), progress: bool | None = None) -> tuple:
        """Every worker runs to clock ``target``: (reports by rank, seconds, restarts)."""
        if not self._started:
            self._start()
        t0 = time.perf_counter()
        faults = sorted(faults, key=lambda f: f[2])
        held = _FaultHold(self.coordinator)
        held.update(faults)  # before any worker runs
        pending = {r: w.run.remote(target) for r, w in enumerate(self.worker_handles)}
        reports, restarts = {}, 0
        bar = _ProgressBar(self.clock, target, self.coordinator, progress)
        watch = _RestartWatch(self)
        try:
            while pending:
                held.update(faults)
                done, _ = ray.wait(list(pending.values()), timeout=0.05)
                for ref in done:
                    r = next(k for k, v in pending.items() if v == ref)
                    try:
                        reports[r] = ray.get(ref)
                        del pending[r]
                    except RayActorError as e:  # the worker died: Ray restarts it; ask it to go on
                        restarts += 1
                        if restarts > 2 * self.n_workers + 3 or getattr(e, "actor_init_failed", False) \
                                or "creation task" in str(e):
                            raise RuntimeError(f"worker {r} keeps failing; last error: {e}") from e
                        pending[r] = self.worker_handles[r].run.remote(target)
                clocks = _clocks(self.coordinator) if faults else None
                if clocks is not None and held.sent is not None and _fault_due(faults[0], clocks):
                    kind, index = faults.pop(0)[:2]
                    handle = {"server": self.server_handles, "worker": self.worker_handles,
                              "coordinator": [self.coordinator]}[kind][index]
                    ray.kill(handle, no_restart=False)
                    if kind == "coordinator":
                        held.sent = None  # it comes back holding no one
                watch.poll(sorted(reports))
                bar.poll()
        finally:
            bar.close(finished=not pending)  # an error leaves the bar where it stopped
            held.update([])
        return reports, time.perf_counter() - t0, restarts

    def _summarise(self, reports, elapsed, iterations, restarts) -> dict:
        # Counters are cumulative per actor process: keep this fit's share.
        worker_bytes, self._last_bytes = _since(_merged(rep["bytes"] for rep in reports.values()), self._last_bytes)
        # A restarted server counts from zero again: its share of this fit is then unknown (None).
        try:
            statuses = ray.get([h.status.remote() for h in self.server_handles], timeout=60)
        except (RayActorError, ray.exceptions.GetTimeoutError):
            statuses = None
        server_bytes, last = None, self._last_server_bytes
        self._last_server_bytes = None
        if statuses is not None:
            incarnations = [s["incarnation"] for s in statuses]
            now = _merged(s["bytes"] for s in statuses)
            if last is None or last[0] == incarnations:
                server_bytes, _ = _since(now, last[1] if last else None)
            self._last_server_bytes = (incarnations, now)
        samples = iterations * self.batch_size * self.accumulate * self.n_workers
        return {"reports": [reports[r] for r in sorted(reports)], "seconds": elapsed, "iterations": iterations,
                "samples_per_second": samples / elapsed if elapsed else float("nan"),
                "worker_bytes": worker_bytes, "server_bytes": server_bytes, "restarts": restarts,
                "clock_log": ray.get(self.coordinator.clock_log.remote())}  # since the coordinator's last start

    def set_learning_rate(self, learning_rate: float) -> None:
        """Changes the optimizer's learning rate on every server and replica, for the
        next :meth:`fit` (e.g. a decay schedule between epochs). Kept in checkpoints."""
        learning_rate = float(learning_rate)
        if not learning_rate > 0:
            raise ValueError(f"set_learning_rate: the learning rate must be > 0, got {learning_rate}")
        self.optimizer = with_learning_rate(self.optimizer, learning_rate)  # for actors started later
        self._learning_rate_set = True
        if self._started:
            ray.get([h.set_learning_rate.remote(learning_rate) for h in self.server_handles + self.worker_handles])

    @property
    def learning_rate(self) -> float:
        """The learning rate the next :meth:`fit` uses."""
        return learning_rate_of(self.optimizer)

    # ---- results
    def values(self) -> dict:
        """Current parameters in the wire layout (servers' values plus worker 0's replicas)."""
        out = {}
        for h in self.server_handles:
            out.update(ray.get(h.pull.remote()))
        if self.replicated:
            out.update(ray.get(self.worker_handles[0].replica_state.remote())["values"])
        return out

    def parameters(self) -> dict:
        """Current parameters as ``ParameterCollection.to_dict()`` lays them out."""
        return wire.to_user_layout(self._pc, self.values())

    def model(self):
        """A local model (built by ``build``) holding the current parameters, for evaluation."""
        wire.set_values(self._pc, self.values())
        return self._pc

    def save(self, path: str) -> None:
        """``path/params.npz`` (pc.load_dict-able) and ``path/state.ckpt`` (servers, replicas, clock)."""
        os.makedirs(path, exist_ok=True)
        for h in self.server_handles:
            ray.get(h.save_checkpoint.remote())
        servers = [ray.get(h.state.remote()) for h in self.server_handles]
        replicas = ray.get(self.worker_handles[0].replica_state.remote()) if self.replicated else None
        np.savez(os.path.join(path, "params.npz"), **self.parameters())
        checkpoint.save_atomic(os.path.join(path, "state.ckpt"),
                               {"servers": servers, "replicas": replicas, "clock": self.clock,
                                "placement": self.placement, "scheme": self.scheme,
                                "replicated": self.replicated})

    def load(self, path: str) -> None:
        """Resume from ``save(path)``: call before ``fit`` on a Trainer built the same way."""
        if self._started:
            raise RuntimeError("load() must come before the first fit()")
        state = checkpoint.load(os.path.join(path, "state.ckpt"))
        if state is None:
            raise FileNotFoundError(f"no saved job in {path}")
        if state["placement"] != self.placement or state["scheme"] != self.scheme:
            raise ValueError("load(): the saved job had a different parameter placement or scheme")
        # Which matrices live on the workers is part of the saved state (hybrid probes the data for it).
        self._replicated, self._probes = list(state.get("replicated", self._replicated)), None
        self._state = state

    def shutdown(self) -> None:
        """Kills the job's actors and returns once Ray reports them dead (a job started
        next, such as the real job after hybrid's trial, gets the cores to itself)."""
        handles = getattr(self, "worker_handles", []) + getattr(self, "server_handles", [])
        if getattr(self, "coordinator", None) is not None:
            handles.append(self.coordinator)
        for h in handles:
            ray.kill(h, no_restart=True)
        _await_dead(handles)
        self._started = False
        self._held = []
        # The servers' fault-tolerance checkpoints die with the job (save() is for resuming).
        shutil.rmtree(self.checkpoint_dir if self._temporary_checkpoint_dir else self.server_checkpoint_dir,
                      ignore_errors=True)

"""How fast the cluster moves a message: the constants that turn byte counts into time.

Poseidon's BestScheme compares bytes, which is the right measure when the
network is the bottleneck. Between processes on one machine bytes are nearly
free (gigabytes per second through shared memory) and what costs is each extra
message and each gradient a replica rebuilds from factors. The hybrid scheme
weighs both with a :class:`Link` measured on the cluster in use (or given by
the user), so it keeps SFB for the networks where it saves time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import ray

__all__ = ["Link", "measure_link"]


@dataclass(frozen=True)
class Link:
    """latency: seconds per extra message round trip; bandwidth: bytes per second."""

    latency: float
    bandwidth: float

    def __post_init__(self):
        if not (self.latency >= 0 and self.bandwidth > 0):
            raise ValueError(f"Link needs latency >= 0 and bandwidth > 0, got {self.latency}, {self.bandwidth}")

    def seconds(self, nbytes: float, round_trips: float = 0) -> float:
        return round_trips * self.latency + nbytes / self.bandwidth


@ray.remote(num_cpus=0)
class _Receiver:
    """Stands in for a server: our traffic is actor calls, which cost less than tasks."""

    def received(self, payload) -> int:
        return int(payload.nbytes)


def _remote_node_strategy():
    """Places the probe on another node than the driver's when the cluster has one:
    the link that matters is between machines."""
    here = ray.get_runtime_context().get_node_id()
    others = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n["NodeID"] != here]
    if not others:
        return "DEFAULT"
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    return NodeAffinitySchedulingStrategy(node_id=others[0], soft=True)


_measured: dict = {}  # one measurement per cluster and driver: jobs in a test session share it


def _cluster_key():
    context = ray.get_runtime_context()
    # A new local cluster starts its job ids again: the session tells clusters apart.
    session = context.get_session_name() if hasattr(context, "get_session_name") else context.gcs_address
    return session, context.get_job_id()


def measure_link(small_bytes: int = 1 << 20, large_bytes: int = 3 << 20, repeats: int = 5,
                 timeout: float = 60.0) -> Link:
    """Round trips of an actor call with an empty argument (latency: the fastest) and
    with ``small_bytes`` and ``large_bytes`` (bandwidth: the slope between the two, so
    both go the same way, inline or through the object store, whatever the cluster's
    inline limit). Costs about two seconds, mostly the actor's process start, once per
    driver and cluster; raises TimeoutError when the probe actor does not answer."""
    key = _cluster_key()
    if key in _measured:
        return _measured[key]
    receiver = _Receiver.options(scheduling_strategy=_remote_node_strategy()).remote()
    empty = np.zeros(0, np.float32)
    small, large = np.zeros(small_bytes // 4, np.float32), np.zeros(large_bytes // 4, np.float32)
    answered = False
    try:
        try:  # waits for the actor's process to start
            ray.get(receiver.received.remote(empty), timeout=timeout)
            t_empty, t_small, t_large = (_fastest(receiver, x, repeats, timeout) for x in (empty, small, large))
            answered = True
        except ray.exceptions.GetTimeoutError:
            raise TimeoutError(f"measure_link: the probe actor did not answer within {timeout} s") from None
    finally:
        if answered:  # let it exit on its own: no killed process in the logs
            receiver.__ray_terminate__.remote()
        else:
            ray.kill(receiver)
    # A slope lost in the noise (a loaded machine) is read as at most 100 GB/s.
    slope = max(t_large - t_small, (large.nbytes - small.nbytes) / 1e11)
    link = Link(latency=t_empty, bandwidth=(large.nbytes - small.nbytes) / slope)
    _measured[key] = link
    return link


def _fastest(receiver, payload, repeats: int, timeout: float) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        ray.get(receiver.received.remote(payload), timeout=timeout)
        best = min(best, time.perf_counter() - t0)
    return best

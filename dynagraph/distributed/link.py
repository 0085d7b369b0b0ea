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


_measured: dict = {}  # one measurement per cluster and process: jobs in a test session share it


def measure_link(payload_bytes: int = 2 << 20, repeats: int = 5) -> Link:
    """Round trips of an actor call with an empty and a ``payload_bytes`` argument:
    latency is the fastest empty one, bandwidth the payload over the extra time.
    Costs about a second (the actor's process start), once per job id."""
    key = ray.get_runtime_context().get_job_id()
    if key in _measured:
        return _measured[key]
    receiver = _Receiver.options(scheduling_strategy=_remote_node_strategy()).remote()
    small, big = np.zeros(1, np.float32), np.zeros(payload_bytes // 4, np.float32)
    try:
        ray.get(receiver.received.remote(small))  # waits for the actor's process to start
        t_small, t_big = _fastest(receiver, small, repeats), _fastest(receiver, big, repeats)
    finally:
        ray.kill(receiver)
    link = Link(latency=t_small, bandwidth=payload_bytes / max(t_big - t_small, 1e-6))
    _measured[key] = link
    return link


def _fastest(receiver, payload, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        ray.get(receiver.received.remote(payload))
        best = min(best, time.perf_counter() - t0)
    return best

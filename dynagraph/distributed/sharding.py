"""Assigning parameters to server shards, balanced by size."""
from __future__ import annotations

import heapq

__all__ = ["shard_by_size"]


def shard_by_size(sizes: dict[str, int], n_shards: int) -> list[list[str]]:
    """Greedy largest-first: each parameter goes to the currently lightest shard.

    sizes: name -> number of values. Returns n_shards lists of names (each
    sorted); the heaviest shard is at most the lightest plus the largest
    parameter. Deterministic: ties break by shard index, then by name.
    """
    if n_shards < 1:
        raise ValueError(f"need at least one shard, got {n_shards}")
    heap = [(0, k) for k in range(n_shards)]
    shards: list[list[str]] = [[] for _ in range(n_shards)]
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        load, k = heapq.heappop(heap)
        shards[k].append(name)
        heapq.heappush(heap, (load + int(sizes[name]), k))
    return [sorted(s) for s in shards]

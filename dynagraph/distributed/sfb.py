"""Sufficient factor broadcasting: choosing the encoding and rebuilding gradients.

A matrix parameter W used only in products W·x has, over a batch, the
gradient Σ_k u_k v_kᵀ = U Vᵀ (U: M x K, V: N x K). Sending (U, V) costs
K(M + N) values instead of M N. Workers keep a *replica* of such parameters
(values and optimizer state) and apply, for every complete iteration, the
sum of all workers' contributions — identical on every replica.
"""
from __future__ import annotations

import time

import numpy as np

from .cost_model import best_scheme, server_values, worker_values

__all__ = ["FactorSum", "choose_encoding", "rebuild", "replicable", "factor_counts", "likely_sfb", "rebuild_seconds"]


def replicable(shape: tuple) -> bool:
    """Parameters that may be replicated and sent as factors: matrices."""
    return len(shape) == 2


def choose_encoding(scheme: str, shape: tuple, k: int, complete: bool, n_workers: int, n_servers: int) -> str:
    """How one worker's gradient of one replicated parameter travels this iteration.

    scheme: "sfb" (factors whenever they are complete) or "hybrid" (Poseidon's
    BestScheme with this iteration's K, and only when the factors are no
    larger than the gradient, K (M + N) <= M N: for two or more workers
    BestScheme implies that, but with one worker it would pick SFB's zero
    peer traffic and pay for rebuilding U Vᵀ). Incomplete factors (W also
    used outside products) always go dense ("ps").
    """
    if not complete or k == 0:
        return "ps"
    if scheme == "sfb":
        return "sfb"
    m, n = shape
    if k * (m + n) > m * n:
        return "ps"
    return best_scheme(m, n, k, n_workers, n_servers)


def rebuild(factors) -> np.ndarray:
    """Σ U Vᵀ over a list of (U, V) pairs, as one product of the concatenated
    factors (one pass over the M x N result however many workers sent them)."""
    factors = list(factors)
    if len(factors) == 1:
        u, v = factors[0]
    else:
        u, v = np.concatenate([u for u, _ in factors], axis=1), np.concatenate([v for _, v in factors], axis=1)
    # (V Uᵀ)ᵀ: the same product, laid out column-major as the engine's gradient is, so a
    # replica's update writes it with a plain copy (a transposing write of 1024 x 1024 took
    # 30-100 ms on the 2-core box, the update itself 3-12 ms).
    return (v @ u.T).T


class FactorSum:
    """One iteration's gradient of a replicated matrix that lives on a device: Σ U Vᵀ over
    the workers' (U, V) pairs (in rank order) plus dense gradients (summed on its server).
    Applied where the parameter lives: the concatenated factors go to the device and their
    product is one GEMM there into the resident gradient (no M x N upload for them)."""

    def __init__(self, factors: list, dense: list = ()):
        self.factors, self.dense = list(factors), list(dense)

    def add_to(self, p) -> None:
        from dynagraph import _core

        if self.factors:
            u = np.asfortranarray(np.concatenate([u for u, _ in self.factors], axis=1), dtype=np.float32)
            v = np.asfortranarray(np.concatenate([v for _, v in self.factors], axis=1), dtype=np.float32)
            _core.add_grad_outer(p, u, v)
        for g in self.dense:
            _core.add_grad(p, g)


def factor_counts(model, loss_fn, batch, names) -> dict:
    """K (factor columns) of each parameter in ``names`` over one local backward of
    ``batch``; None where its factors are incomplete or larger than its gradient."""
    import dynagraph as dy  # the engine is imported where the work happens

    core = dy._core
    dy.renew_cg()
    loss = loss_fn(model, batch)
    core.set_collect_factors(True, cap=True)
    try:
        loss.forward()
        loss.backward()
        got, dense = core.take_factors()
    finally:
        core.set_collect_factors(False)
    ks: dict = {}
    for name, u, _ in got:
        ks[name] = ks.get(name, 0) + u.shape[1]
    return {n: None if n in dense or n not in ks else ks[n] for n in names}


def rebuild_seconds(shape: tuple, k: int, repeats: int = 3) -> float:
    """Measured time of one product U Vᵀ rebuilding an M x N matrix from K factor
    columns (a replica's rebuild of all workers' factors is one such product with
    K·P₁ columns), on one thread as workers run (they start with OMP_NUM_THREADS=1)."""
    from threadpoolctl import threadpool_limits

    m, n = shape
    rng = np.random.default_rng(0)
    pair = (rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((n, k), dtype=np.float32))
    best = float("inf")
    with threadpool_limits(1):
        for _ in range(repeats):
            t0 = time.perf_counter()
            rebuild([pair])
            best = min(best, time.perf_counter() - t0)
    return best


# What a replica path adds to an iteration over PS: fetching the peers' factors from the
# object store and asking the coordinator which iterations are complete.
REPLICA_ROUND_TRIPS = 2


def likely_sfb(shapes: dict, probes: list, n_workers: int, n_servers: int, link=None,
               rebuild_time=rebuild_seconds) -> list:
    """Hybrid's replicated parameters, from ``probes`` (factor_counts of a few batches).

    A candidate is a matrix that ``choose_encoding`` sends as factors in most probed
    batches (a replicated parameter costs an extra round trip whenever its gradient
    travels dense after all). Without a ``link`` (a :class:`~.link.Link`) that is the
    choice: Poseidon's rule, bytes alone. With one, bytes become time. Per probed batch
    a candidate saves the time its PS traffic takes on the link (on the server that
    holds it: every worker's push and pull) less its SFB traffic and the rebuild of
    U Vᵀ from all P₁ workers' factors each replica does (one product with K·P₁
    columns, ``rebuild_time(shape, k * P₁)`` seconds); a batch whose
    gradient would go dense saves nothing. Candidates whose mean saving is positive
    stay, if together they save more than the replica path's REPLICA_ROUND_TRIPS extra
    round trips per iteration. On one machine, where bytes move at memory speed, that
    leaves most matrices on the servers.
    """
    def as_factors(shape, k) -> bool:  # k: one probe's factor count, None where incomplete
        return k is not None and choose_encoding("hybrid", shape, k, True, n_workers, n_servers) == "sfb"

    candidates = [name for name, shape in shapes.items()
                  if 2 * sum(as_factors(shape, p[name]) for p in probes) > len(probes)]
    if link is None:
        return sorted(candidates)
    rebuilds: dict = {}  # (shape, k) -> seconds: probes often repeat a K

    def saving(shape, k) -> float:
        if not as_factors(shape, k):
            return 0.0
        m, n = shape
        if (shape, k) not in rebuilds:  # a replica rebuilds all P₁ workers' factors as one product
            rebuilds[shape, k] = rebuild_time(shape, k * n_workers)
        saved = (server_values(m, n, n_workers) - worker_values("sfb", m, n, k, n_workers)) * 4  # float32
        return link.seconds(saved) - rebuilds[shape, k]

    gains = {name: float(np.mean([saving(shapes[name], p[name]) for p in probes])) for name in candidates}
    kept = {name: g for name, g in gains.items() if g > 0}
    return sorted(kept) if sum(kept.values()) > REPLICA_ROUND_TRIPS * link.latency else []

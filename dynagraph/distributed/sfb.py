"""Sufficient factor broadcasting: choosing the encoding and rebuilding gradients.

A matrix parameter W used only in products W·x has, over a batch, the
gradient Σ_k u_k v_kᵀ = U Vᵀ (U: M x K, V: N x K). Sending (U, V) costs
K(M + N) values instead of M N. Workers keep a *replica* of such parameters
(values and optimizer state) and apply, for every complete iteration, the
sum of all workers' contributions — identical on every replica.
"""
from __future__ import annotations

import numpy as np

from .cost_model import best_scheme

__all__ = ["choose_encoding", "rebuild", "replicable", "factor_counts", "likely_sfb"]


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
    """Σ U Vᵀ over a list of (U, V) pairs."""
    total = None
    for u, v in factors:
        g = u @ v.T
        total = g if total is None else total + g
    return total


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


def likely_sfb(shapes: dict, probes: list, n_workers: int, n_servers: int) -> list:
    """Hybrid's replicated parameters: those that ``choose_encoding`` sends as factors
    in most probed batches (``probes``: factor_counts results). A replicated parameter
    costs an extra round trip whenever its gradient travels dense after all, so one
    that would nearly always go dense stays on the servers."""
    out = []
    for name, shape in shapes.items():
        votes = sum(k is not None and choose_encoding("hybrid", shape, k, True, n_workers, n_servers) == "sfb"
                    for k in (p[name] for p in probes))
        if 2 * votes > len(probes):
            out.append(name)
    return sorted(out)

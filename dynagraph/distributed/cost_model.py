"""Communication cost of the parameter-server (PS) and sufficient-factor (SFB) schemes.

For an M x N matrix whose gradient over a batch is a sum of K rank-one terms
u_k v_k^T (Poseidon, Zhang et al. 2017, "BestScheme"), with P1 workers and P2
server shards co-located on the same machines, the values one machine sends
and receives per iteration are

    PS : 2 M N (P1 + P2 - 2) / P2      (push its gradient, pull the new value, minus
                                        the local shard; serve its shard to the others)
    SFB: 2 K (P1 - 1) (M + N)          (send its K factor pairs to P1 - 1 peers,
                                        receive theirs)

and SFB is chosen when its cost is not larger. ``best_scheme`` is that rule.

dynagraph's actors are not co-located (a worker is not a server), so what a
*worker* actually moves per iteration is given by ``worker_values``: PS
2 M N (push + pull), SFB 2 K (P1 - 1)(M + N). Byte counts multiply by the
element size (4 for float32).
"""
from __future__ import annotations

__all__ = ["ps_cost", "sfb_cost", "best_scheme", "worker_values", "server_values", "projection"]


def ps_cost(m: int, n: int, p1: int, p2: int) -> float:
    """Values per machine per iteration under PS (Poseidon's formula)."""
    return 2.0 * m * n * (p1 + p2 - 2) / p2


def sfb_cost(m: int, n: int, k: int, p1: int) -> float:
    """Values per machine per iteration under SFB with K factor pairs."""
    return 2.0 * k * (p1 - 1) * (m + n)


def best_scheme(m: int, n: int, k: int, p1: int, p2: int) -> str:
    """"sfb" when 2K(P1-1)(M+N) <= 2MN(P1+P2-2)/P2, else "ps"."""
    return "sfb" if sfb_cost(m, n, k, p1) <= ps_cost(m, n, p1, p2) else "ps"


def worker_values(scheme: str, m: int, n: int, k: int, p1: int) -> float:
    """Values one dynagraph worker sends plus receives per iteration for one matrix."""
    if scheme == "ps":
        return 2.0 * m * n
    if scheme == "sfb":
        return 2.0 * k * (p1 - 1) * (m + n)
    raise ValueError(f"scheme must be 'ps' or 'sfb', got {scheme!r}")


def server_values(m: int, n: int, p1: int) -> float:
    """Values the server holding an M x N matrix moves per iteration under PS: every
    worker's push and pull (a matrix lives whole on one server)."""
    return 2.0 * m * n * p1


def projection(m: int, n: int, k: int, workers=(8, 16, 32, 64, 128, 256), servers=None, itemsize: int = 4):
    """Rows (P1, P2, ps_bytes, sfb_bytes, best) per machine per iteration; P2 = P1 unless given."""
    rows = []
    for p1 in workers:
        p2 = servers or p1
        ps, sfb = ps_cost(m, n, p1, p2) * itemsize, sfb_cost(m, n, k, p1) * itemsize
        rows.append((p1, p2, ps, sfb, best_scheme(m, n, k, p1, p2)))
    return rows

"""One iteration's forward and backward, sending gradients while backward goes on.

The engine's hook (``_core.set_param_grad_hook``) reports each parameter once
its gradient is final (after the last of its trainable nodes). Its gradient
goes into its server's bucket, which leaves as soon as it holds
``BUCKET_BYTES`` (as PyTorch DDP buckets its all-reduce): a large matrix still
goes while backward continues below it, and a model of many small parameters
sends one message per server instead of one per parameter. What is left in
the buckets goes with the commit. A replicated matrix is posted instead
(``ReplicaSet.post``); lookup tables send their touched rows after backward.

With ``accumulate=k`` an iteration's batch is split into k micro-batches, each
its own graph and backward; the engine adds their gradients (and their
sufficient factors) up, and only the last backward sends: the sum of the k
backward passes is the gradient of the whole batch when ``loss_fn`` sums over
its samples. Gradients leave the engine through ``wire.dense_grad`` and
``wire.lookup_grad``: one copy each, from the device the worker computes on (or
host memory), into the parameter's reused host staging buffer; the hook fires
once the parameter's gradient is complete on that device.
"""
from __future__ import annotations

from . import wire
from .accounting import message_bytes

__all__ = ["WaitFreeBackward", "BUCKET_BYTES", "check_accumulate", "micro_batches"]

BUCKET_BYTES = 256 * 1024  # wait-free pushes: gradients per message before it leaves


def check_accumulate(k, where: str) -> int:
    """``accumulate`` as an int >= 1, else a ValueError naming ``where``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{where}: accumulate must be an integer >= 1 (micro-batches per iteration), got {k!r}")
    return k


def micro_batches(batch: list, k: int) -> list:
    """``batch`` in k consecutive parts as even as possible (empty parts dropped)."""
    size = -(-len(batch) // k) if batch else 0
    return [batch[i:i + size] for i in range(0, len(batch), size)] if size else [batch]


class WaitFreeBackward:
    def __init__(self, model, loss_fn, dense: dict, lookups: dict, placement: dict, replicas, session,
                 scheme: str, wait_free: bool = True, accumulate: int = 1):
        import dynagraph as dy  # the engine is imported where the work happens

        self.dy, self.model, self.loss_fn = dy, model, loss_fn
        self.dense, self.lookups, self.placement = dense, lookups, placement
        self.replicas, self.session, self.scheme, self.wait_free = replicas, session, scheme, wait_free
        self.accumulate = check_accumulate(accumulate, "WaitFreeBackward")

    def run(self, c: int, batch: list, to_servers: bool = True) -> tuple:
        """Iteration c on ``batch``: (loss, board entries, push handles, {server: gradients not
        yet sent}, which go with the commit). ``to_servers=False``: nothing is pushed, for a
        redo whose pushes the servers already have."""
        dy, core = self.dy, self.dy._core
        sending: dict[int, dict] = {}  # server -> grads not yet sent
        pending_bytes: dict[int, int] = {}
        handles, entries = [], {}
        factors: dict[str, list] = {}
        dense_only: set = set()
        replicated = set(self.replicas.names)

        def send(server: int, grads: dict) -> None:
            if not to_servers:
                return
            sending.setdefault(server, {}).update(grads)
            pending_bytes[server] = pending_bytes.get(server, 0) + message_bytes(grads)
            if self.wait_free and pending_bytes[server] >= BUCKET_BYTES:
                handles.append((server, self.session.push(server, c, sending.pop(server))))
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
                self.replicas.post(c, name, factors.get(name, []), name not in dense_only, p, self.placement[name],
                                   entries, send)
            else:
                send(self.placement[name], {name: wire.dense_grad(p)})
            p._clear_grad()

        # Under hybrid, factors larger than the gradient are never sent: the engine stops copying them.
        # Factors collect over all micro-batches (renew_cg keeps them); take_factors empties them.
        core.set_collect_factors(bool(replicated), cap=self.scheme == "hybrid")
        parts = micro_batches(batch, self.accumulate)
        touched, reported = set(), set()  # parameters with gradients from earlier micro-batches / sent ones

        def report(name: str, is_lookup: bool) -> None:
            reported.add(name)
            ready(name, is_lookup)

        value = 0.0
        try:
            for j, part in enumerate(parts):
                last = j == len(parts) - 1
                dy.renew_cg()
                loss = self.loss_fn(self.model, part)
                core.set_param_grad_hook(report if last else lambda name, is_lookup: touched.add(name))
                value += float(loss.scalar_value())
                loss.backward()
            # A parameter of an earlier micro-batch that the last graph did not use has
            # its (final) gradient too: the last backward's hook never named it.
            for name in sorted(touched - reported):
                if name in self.dense:
                    ready(name, False)
        finally:
            core.set_param_grad_hook(None)
            core.set_collect_factors(False)
        for name, p in self.lookups.items():
            g = wire.lookup_grad(p) if to_servers else None
            if g is not None:
                send(self.placement[name], {name: g})
            p._clear_grad()
        return value, entries, handles, sending

"""One iteration's forward and backward, sending gradients while backward goes on.

The engine's hook (``_core.set_param_grad_hook``) reports each parameter once
its gradient is final (after the last of its trainable nodes). Its gradient
goes into its server's bucket, which leaves as soon as it holds
``BUCKET_BYTES`` (as PyTorch DDP buckets its all-reduce): a large matrix still
goes while backward continues below it, and a model of many small parameters
sends one message per server instead of one per parameter. What is left in
the buckets goes with the commit. A replicated matrix is posted instead
(``ReplicaSet.post``); lookup tables send their touched rows after backward.
"""
from __future__ import annotations

from . import wire
from .accounting import message_bytes

__all__ = ["WaitFreeBackward", "BUCKET_BYTES"]

BUCKET_BYTES = 256 * 1024  # wait-free pushes: gradients per message before it leaves


class WaitFreeBackward:
    def __init__(self, model, loss_fn, dense: dict, lookups: dict, placement: dict, replicas, session,
                 scheme: str, wait_free: bool = True):
        import dynagraph as dy  # the engine is imported where the work happens

        self.dy, self.model, self.loss_fn = dy, model, loss_fn
        self.dense, self.lookups, self.placement = dense, lookups, placement
        self.replicas, self.session, self.scheme, self.wait_free = replicas, session, scheme, wait_free

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

        dy.renew_cg()
        loss = self.loss_fn(self.model, batch)
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

"""Data-parallel training on Ray: parameter servers, SSP clocks, sufficient factors.

>>> import dynagraph.distributed as dd
>>> job = dd.Trainer(build, loss_fn, data=shards, workers=4, servers=2,
...                  consistency="ssp", staleness=2, scheme="hybrid",
...                  optimizer=("adam", {"learning_rate": 1e-3}))
>>> job.fit(epochs=3); job.save("ckpt/")

Only this package imports Ray (``import dynagraph`` does not). The logic lives
in plain classes, unit-tested without a cluster: ``optim`` (the engine's trainers where parameters live),
``sharding``, ``consistency`` (clocks), ``coordinator``, ``cost_model``,
``sfb``, ``link`` (measured latency and bandwidth), ``accounting``, ``checkpoint``, ``server``, and the
worker's parts: ``worker`` (the step loop), ``compute``, ``replicas``, ``session``;
``actors`` wraps them with ``ray.remote`` and ``trainer`` drives a job.
See docs/distributed.md.
"""
from __future__ import annotations

import ray  # noqa: F401  (this package is the one place dynagraph imports Ray)

from .accounting import ByteCounter, message_bytes
from .consistency import ClockTable, staleness_for
from .cost_model import best_scheme, projection, ps_cost, sfb_cost, worker_values
from .link import Link, measure_link
from .optim import TRAINERS, EngineOptimizer, make_trainer
from .sharding import shard_by_size
from .trainer import Trainer, connect

__all__ = ["Trainer", "connect", "Link", "measure_link", "ByteCounter", "message_bytes", "ClockTable", "staleness_for", "best_scheme",
           "projection", "ps_cost", "sfb_cost", "worker_values", "TRAINERS", "EngineOptimizer", "make_trainer",
           "shard_by_size"]

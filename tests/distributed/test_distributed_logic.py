"""dynagraph.distributed's logic classes, without a Ray cluster: the update rules, sharding, clocks,
the cost model, accounting, checkpoints and the shard server (whole local jobs: test_distributed_local_jobs.py)."""
import functools
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dynagraph as dy
from dynagraph.distributed import checkpoint, cost_model, wire
from dynagraph.distributed.accounting import ByteCounter, message_bytes
from dynagraph.distributed.consistency import ClockTable, staleness_for
from dynagraph.distributed.optim import EngineOptimizer, make_trainer
from dynagraph.distributed.server import ShardServer
from dynagraph.distributed.link import Link
from dynagraph.distributed.sfb import choose_encoding, factor_counts, likely_sfb, rebuild, rebuild_seconds
from dynagraph.distributed.sharding import shard_by_size

from distributed_models import build_linear, build_mlp, linear_data, linear_loss, mlp_data, mlp_loss

pytestmark = pytest.mark.distributed

# Every DyNet trainer, as the distributed spec names it and as dy.<Name>Trainer takes it.
ENGINE = {
    "sgd": (dy.SimpleSGDTrainer, {"learning_rate": 0.1}),
    "cyclical": (dy.CyclicalSGDTrainer, {"learning_rate_min": 0.01, "learning_rate_max": 0.1, "step_size": 2}),
    "momentum": (dy.MomentumSGDTrainer, {"learning_rate": 0.1, "mom": 0.9}),
    "adagrad": (dy.AdagradTrainer, {"learning_rate": 0.1, "eps": 1e-8}),
    "adadelta": (dy.AdadeltaTrainer, {"eps": 1e-6, "rho": 0.9}),
    "rmsprop": (dy.RMSPropTrainer, {"learning_rate": 0.01, "eps": 1e-8, "rho": 0.9}),
    "adam": (dy.AdamTrainer, {"alpha": 0.01}),
    "amsgrad": (dy.AmsgradTrainer, {"alpha": 0.01}),
}


def _reference_step(pc, W, E, step):
    dy.renew_cg()
    y = dy.parameter(W) * dy.concatenate([dy.lookup(E, 1), dy.lookup(E, 4)])
    loss = dy.dot_product(y, y) + dy.dot_product(dy.lookup(E, step), dy.lookup(E, step))
    loss.backward()
    return {"/W": wire.dense_grad(W), "/E": wire.lookup_grad(E)}


# ---- the update rules are the engine's trainers
@pytest.mark.parametrize("kind", sorted(ENGINE))
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("clip", [0.0, 0.5])
def test_shard_optimizer_steps_as_the_engine_trainer(kind, weight_decay, clip):
    """A shard's optimizer (its own collection) steps exactly as dy.<Name>Trainer on the
    model's collection: the rule, its state over several steps, the collection's weight
    decay, clipping, sparse rows of a lookup table; and its state survives a checkpoint."""
    cls, kwargs = ENGINE[kind]
    pc = dy.ParameterCollection()
    pc.set_weight_decay(weight_decay)
    W = pc.add_parameters((3, 4), name="W")
    E = pc.add_lookup_parameters((6, 2), name="E")
    trainer = cls(pc, **kwargs)
    trainer.set_clip_threshold(clip)
    opt = EngineOptimizer.holding((kind, {**kwargs, "clip_threshold": clip}), wire.get_values(pc), {"/E"},
                                  weight_decay)
    for step in range(4):  # several steps: the state (moments, Adam's step count) must match too
        grads = _reference_step(pc, W, E, step)
        trainer.update()
        opt.step(grads)
        for name, v in wire.get_values(pc).items():
            np.testing.assert_array_equal(opt.values[name], v, err_msg=f"{name} after step {step}")
        if step == 1:  # a restarted shard: a fresh optimizer loads the state and goes on alike
            state, values = opt.state_dict(), {n: v.copy() for n, v in opt.values.items()}
            opt = EngineOptimizer.holding((kind, {**kwargs, "clip_threshold": clip}), values, {"/E"}, weight_decay)
            opt.load_state_dict(state)


def test_shard_optimizer_takes_a_trainer_factory():
    def adam(pc):
        t = dy.AdamTrainer(pc, alpha=0.05, beta_1=0.5)
        t.set_clip_threshold(0.1)
        return t
    opt = EngineOptimizer.holding(adam, {"w": np.zeros(2, np.float32)})
    assert opt.learning_rate == pytest.approx(0.05)
    opt.step({"w": np.array([3.0, 4.0], np.float32)})  # clipped to norm 0.1, then Adam's first step
    np.testing.assert_allclose(opt.values["w"], [-0.05, -0.05], rtol=1e-4)
    with pytest.raises(TypeError, match="must return a dy.Trainer"):
        make_trainer(lambda pc: None, dy.ParameterCollection())


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="unknown name 'lbfgs'"):
        make_trainer("lbfgs", dy.ParameterCollection())
    with pytest.raises(ValueError, match="expected 4 values"):
        opt = EngineOptimizer.holding("adam", {"w": np.zeros(2, np.float32)})
        opt.trainer._t._set_state(opt.dense["w"], np.zeros(3, np.float32))


# ---- sharding, clocks, cost model, accounting, checkpoints
@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), st.integers(1, 10_000), min_size=1, max_size=30),
       st.integers(1, 6))
def test_shards_are_a_balanced_partition(sizes, n):
    shards = shard_by_size(sizes, n)
    assert sorted(x for s in shards for x in s) == sorted(sizes)
    loads = [sum(sizes[x] for x in s) for s in shards]
    assert max(loads) - min(loads) <= max(sizes.values())


def test_staleness_names():
    assert staleness_for("bsp") == 0 and staleness_for("ssp", 3) == 3 and staleness_for("asp") == math.inf
    with pytest.raises(ValueError):
        staleness_for("eventual")


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.integers(0, 3), st.lists(st.integers(0, 3), min_size=1, max_size=200))
def test_ssp_bound_holds_under_any_schedule(n, s, schedule):
    """Workers try to start in an arbitrary order; every admitted start is within s of the slowest."""
    table = ClockTable(n, s)
    for w in schedule:
        w %= n
        c = table.clocks[w]
        if table.admit(w, c):
            table.tick(w, c + 1)
    assert table.log.max_lead() <= s
    assert max(table.clocks) - min(table.clocks) <= s + 1


def test_poseidon_rule():
    # 1024 x 1024, K = 16, 8 workers and 8 servers: SFB is far cheaper
    assert cost_model.best_scheme(1024, 1024, 16, 8, 8) == "sfb"
    # one worker's message: M N values vs K (M + N): 32x fewer
    assert 1024 * 1024 / (16 * (1024 + 1024)) == 32
    # but SFB sends that message to 7 peers and receives 7: per machine (Poseidon) 8x, per worker 4.6x
    assert cost_model.ps_cost(1024, 1024, 8, 8) / cost_model.sfb_cost(1024, 1024, 16, 8) == pytest.approx(8.0)
    assert cost_model.worker_values("ps", 1024, 1024, 16, 8) / cost_model.worker_values("sfb", 1024, 1024, 16, 8) \
        == pytest.approx(1024 * 1024 / (16 * 7 * 2048))
    # a big batch on a small matrix: PS wins
    assert cost_model.best_scheme(16, 16, 512, 8, 8) == "ps"
    assert choose_encoding("hybrid", (16, 16), 512, True, 8, 8) == "ps"
    assert choose_encoding("sfb", (16, 16), 512, True, 8, 8) == "sfb"
    assert choose_encoding("sfb", (16, 16), 4, False, 8, 8) == "ps"


def test_hybrid_replicates_the_matrices_that_go_as_factors_in_most_probed_batches():
    dy.init(seed=1)
    model = build_linear(128, 96)(dy.ParameterCollection())
    data = linear_data(100, 96)
    small = factor_counts(model, linear_loss, data[:4], ["/W"])
    big = factor_counts(model, linear_loss, data, ["/W"])
    assert small == {"/W": 4}
    assert big == {"/W": None}  # K (M + N) > M N: the engine gave up on the factors
    shapes = {"/W": (128, 96)}
    assert likely_sfb(shapes, [small, small, big], n_workers=2, n_servers=1) == ["/W"]
    assert likely_sfb(shapes, [small, big, big], n_workers=2, n_servers=1) == []
    mlp = build_mlp(dy.ParameterCollection())  # 8 samples: 8 x (8 + 4) factor values > 8 x 4 gradient values
    assert factor_counts(mlp, mlp_loss, mlp_data(8), ["/W1"]) == {"/W1": None}


def _rebuild_at_10_gflops(shape, k):  # a fixed rebuild time, so the rule's arithmetic is what is tested
    return 2.0 * shape[0] * shape[1] * k / 1e10


def test_hybrid_with_a_link_replicates_only_where_the_saved_time_outlasts_the_replica_path():
    rule = functools.partial(likely_sfb, rebuild_time=_rebuild_at_10_gflops)
    # Poseidon's example: 1024 x 1024, K = 16, 8 workers.
    shapes, probes = {"/W": (1024, 1024)}, [{"/W": 16}] * 3
    assert likely_sfb(shapes, probes, n_workers=8, n_servers=8) == ["/W"]  # bytes alone
    # PS: its server moves 8 pushes and 8 pulls of 4 MB, 0.54 s at 1 Gb/s; SFB 1.8 MB and one rebuild
    # from all 8 workers' factors (K·P₁ = 128 columns, 27 ms).
    gigabit = Link(latency=1e-3, bandwidth=1.25e8)
    assert rule(shapes, probes, 8, 8, link=gigabit) == ["/W"]
    # The same bytes at memory speed take 0.7 ms: less than the rebuilds.
    assert rule(shapes, probes, 8, 8, link=Link(latency=1e-3, bandwidth=1e11)) == []
    # A small matrix: 189 kB saved, worth it at 10 MB/s, not against two 1 ms round trips at 1 GB/s.
    shapes, probes = {"/W": (128, 96)}, [{"/W": 4}] * 3
    assert rule(shapes, probes, 2, 1, link=Link(latency=1e-3, bandwidth=1e7)) == ["/W"]
    assert rule(shapes, probes, 2, 1, link=Link(latency=1e-3, bandwidth=1e9)) == []
    # Two candidates that only together beat the two round trips are kept together.
    one = (2 * 128 * 96 * 2 - 2 * 4 * 224) * 4  # bytes one of them saves per iteration with 2 workers
    link = Link(latency=0.75 * one / 1e8, bandwidth=1e8)
    pair = {"/A": (128, 96), "/B": (128, 96)}
    assert rule(pair, [{"/A": 4, "/B": 4}] * 3, 2, 1, link=link) == ["/A", "/B"]
    assert rule({"/A": (128, 96)}, [{"/A": 4}] * 3, 2, 1, link=link) == []
    # A batch whose factors went dense saves nothing: 2 of 3 probes save too little here.
    link = Link(latency=0.4 * one / 1e8, bandwidth=1e8)
    assert rule({"/A": (128, 96)}, [{"/A": 4}] * 3, 2, 1, link=link) == ["/A"]
    assert rule({"/A": (128, 96)}, [{"/A": 4}, {"/A": 4}, {"/A": None}], 2, 1, link=link) == []
    with pytest.raises(ValueError, match="bandwidth > 0"):
        Link(latency=1e-3, bandwidth=0)


def test_rebuild_seconds_times_one_contribution():
    small = min(rebuild_seconds((64, 64), 4) for _ in range(3))
    big = min(rebuild_seconds((1024, 1024), 16) for _ in range(3))
    assert 0 < small < big


def test_rebuild_is_sum_of_products():
    rng = np.random.default_rng(1)
    pairs = [(rng.normal(size=(5, k)), rng.normal(size=(3, k))) for k in (1, 4)]
    np.testing.assert_allclose(rebuild(pairs), sum(u @ v.T for u, v in pairs))


def test_message_bytes():
    msg = {"/W": np.zeros((4, 4), np.float32), "/E": (np.arange(3), np.zeros((3, 2), np.float32))}
    assert message_bytes(msg) == 2 + 64 + 2 + 24 + 24
    c = ByteCounter()
    c.send("push", msg)
    c.receive("pull", {"a": np.zeros(1, np.float32)})
    assert c.total() == message_bytes(msg) + 5


def test_checkpoint_is_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "s.ckpt")
    checkpoint.save_atomic(path, {"a": np.ones(3)})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        checkpoint.save_atomic(path, {"a": np.zeros(3)})
    monkeypatch.undo()
    np.testing.assert_array_equal(checkpoint.load(path)["a"], np.ones(3))
    assert [f for f in os.listdir(tmp_path)] == ["s.ckpt"]


# ---- server
def test_server_drops_replayed_pushes_and_restarts_from_checkpoint(tmp_path):
    values = {"w": np.zeros(2, np.float32)}
    s = ShardServer(0, values, n_workers=1, optimizer=("sgd", {"learning_rate": 1.0}),
                    checkpoint_dir=str(tmp_path), checkpoint_every=2)
    g = {"w": np.ones(2, np.float32)}
    for c in range(3):
        s.push(0, c, g)
        s.push(0, c, g)  # duplicate
        s.commit(0, c)
    np.testing.assert_allclose(s.values["w"], [-3, -3])
    assert s.checkpointed == [1]  # checkpoint after iterations 0 and 1
    restarted = ShardServer(0, values, 1, ("sgd", {"learning_rate": 1.0}), checkpoint_dir=str(tmp_path),
                            checkpoint_every=2)
    np.testing.assert_allclose(restarted.values["w"], [-2, -2])
    assert restarted.incarnation != s.incarnation
    for c in range(3):  # the worker replays everything it still has; only iteration 2 is new
        restarted.push(0, c, g)
    restarted.commit(0, 2)
    np.testing.assert_allclose(restarted.values["w"], [-3, -3])


def test_learning_rate_change_applies_and_survives_a_restart(tmp_path):
    values = {"w": np.zeros(2, np.float32)}
    s = ShardServer(0, values, n_workers=1, optimizer=("sgd", {"learning_rate": 1.0}),
                    checkpoint_dir=str(tmp_path), checkpoint_every=100)
    g = {"w": np.ones(2, np.float32)}
    s.push(0, 0, g)
    s.commit(0, 0)
    s.set_learning_rate(0.25)  # checkpoints at once
    s.push(0, 1, g)
    s.commit(0, 1)
    np.testing.assert_allclose(s.values["w"], [-1.25, -1.25])
    restarted = ShardServer(0, values, 1, ("sgd", {"learning_rate": 1.0}), checkpoint_dir=str(tmp_path),
                            checkpoint_every=100)
    assert restarted.optimizer.learning_rate == 0.25
    restarted.push(0, 1, g)  # the replay of iteration 1 uses the rate it was made with
    restarted.commit(0, 1)
    np.testing.assert_allclose(restarted.values["w"], [-1.25, -1.25])


def test_server_aggregate_mode_applies_once_per_clock():
    s = ShardServer(0, {"w": np.zeros(1, np.float32), "E": np.zeros((4, 1), np.float32)}, n_workers=2,
                    optimizer=("sgd", {"learning_rate": 1.0}), aggregate=True, lookup_names={"E"})
    s.push(0, 0, {"w": np.ones(1, np.float32), "E": (np.array([1]), np.ones((1, 1), np.float32))})
    s.commit(0, 0)
    assert s.values["w"][0] == 0  # waits for worker 1
    s.push(1, 0, {"w": 2 * np.ones(1, np.float32), "E": (np.array([1, 3]), np.ones((2, 1), np.float32))})
    s.commit(1, 0)
    assert s.values["w"][0] == -3
    np.testing.assert_allclose(s.values["E"][:, 0], [0, -2, 0, -1])



def test_server_aggregate_mode_ignores_a_restarted_workers_repeated_commit():
    """A worker killed after committing clock 0 here, but before the coordinator
    heard of it, redoes clock 0: its pushes and its commit must change nothing,
    and later clocks must still apply (a counted repeat stalled them for good)."""
    s = ShardServer(0, {"w": np.zeros(1, np.float32)}, n_workers=2, optimizer=("sgd", {"learning_rate": 1.0}),
                    aggregate=True)
    for w in (0, 1):
        s.push(w, 0, {"w": np.ones(1, np.float32)})
        s.commit(w, 0)
    assert s.values["w"][0] == -2
    s.push(1, 0, {"w": np.ones(1, np.float32)})  # the restarted worker's replay of clock 0
    s.commit(1, 0)
    assert s.values["w"][0] == -2
    for w in (0, 1):
        s.push(w, 1, {"w": np.ones(1, np.float32)})
        s.commit(w, 1)
    assert s.values["w"][0] == -4
    assert not s.committed and not s.pending



def test_server_refuses_a_commit_meant_for_an_earlier_incarnation():
    """Pushes of clock 0 went to a shard that then died; the commit reaches its
    successor. Accepting it would mark clock 0 done and drop the replay as duplicates."""
    s = ShardServer(0, {"w": np.zeros(1, np.float32)}, n_workers=1, optimizer=("sgd", {"learning_rate": 1.0}))
    reply = s.commit(0, 0, incarnation="an-earlier-incarnation")
    assert reply.get("refused") and s.done == [-1]
    s.push(0, 0, {"w": np.ones(1, np.float32)})  # the worker replays, then commits again
    assert not s.commit(0, 0, incarnation=reply["incarnation"]).get("refused")
    assert s.done == [0] and s.values["w"][0] == -1


def test_import_dynagraph_does_not_import_ray(tmp_path):
    import subprocess
    import sys
    code = "import sys, dynagraph; assert 'ray' not in sys.modules, 'ray imported'"
    # The dynagraph under test (installed or in-tree), not whatever the working directory holds.
    root = os.path.dirname(os.path.dirname(os.path.abspath(dy.__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)

"""Workers, servers and the coordinator in one process (no Ray): BSP/SSP/ASP jobs against single-process
SGD, reads riding on commits, and recovery from restarted servers, workers and coordinators."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph.distributed import wire
from dynagraph.distributed.consistency import staleness_for
from dynagraph.distributed.coordinator import Coordinator
from dynagraph.distributed.server import ShardServer
from dynagraph.distributed.sharding import shard_by_size
from dynagraph.distributed.transport import FactorsLost, LocalTransport, NotAdmitted
from dynagraph.distributed.worker import WorkerCore

from distributed_models import (ISSUE_REUSE_DATA, build_issue_reuse, build_linear, build_mlp, build_reuse,
                                issue_reuse_loss, linear_data, linear_loss, mlp_data, mlp_loss, reuse_data, reuse_loss)

pytestmark = pytest.mark.distributed


# ---- workers and servers in one process
def _local_job(scheme, n_workers=2, n_servers=2, staleness=0, lr=0.1, batch_size=4, seed=3, checkpoint_dir=None,
               checkpoint_every=0, keep_log=False, build=build_mlp, loss=mlp_loss, data=None):
    data = mlp_data(64, seed=1) if data is None else data
    shards = [data[r::n_workers] for r in range(n_workers)]
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    build(pc)
    initial = wire.get_values(pc)
    dense, lookups = wire.model_params(pc)
    replicated = {n for n, p in dense.items() if scheme != "ps" and len(p.shape()) == 2}
    placement = {n: k for k, names in enumerate(shard_by_size({n: v.size for n, v in initial.items()}, n_servers))
                 for n in names}
    opt = ("sgd", {"learning_rate": lr})
    servers = [ShardServer(k, {n: initial[n] for n, s in placement.items() if s == k and n not in replicated},
                           n_workers, opt, aggregate=staleness == 0, checkpoint_dir=checkpoint_dir,
                           checkpoint_every=checkpoint_every, lookup_names=set(lookups),
                           weight_decay=pc.get_weight_decay()) for k in range(n_servers)]
    coord = Coordinator(n_workers, staleness)
    t = LocalTransport(servers, coord)
    workers = [WorkerCore(r, n_workers, build, loss, shards[r], t, placement, batch_size=batch_size,
                          scheme=scheme, optimizer=opt, initial=initial, keep_log=keep_log, staleness=staleness)
               for r in range(n_workers)]
    t.workers = workers
    return pc, initial, servers, coord, workers


def _values(servers, workers):
    out = {}
    for s in servers:
        out.update(s.values)
    out.update(workers[0].replica_state()["values"])
    return out


def _build_mlp_with_decay(pc):
    pc.set_weight_decay(0.01)
    return build_mlp(pc)


@pytest.mark.parametrize("decay", [False, True], ids=["", "weight-decay"])
@pytest.mark.parametrize("scheme", ["ps", "sfb", "hybrid"])
def test_bsp_equals_single_process_sgd_on_the_global_batch(scheme, decay):
    """With the collection's weight decay too: servers and replicas apply it as the local trainer does."""
    build = _build_mlp_with_decay if decay else build_mlp
    pc, initial, servers, coord, workers = _local_job(scheme, build=build)
    ref = dy.ParameterCollection()
    model = build(ref)
    wire.set_values(ref, initial)
    trainer = dy.SimpleSGDTrainer(ref, 0.1)
    trainer.set_clip_threshold(0)
    steps = 4
    for c in range(steps):
        batches = [w.batch_for(c) for w in workers]
        for w in workers:
            w.step()
        dy.renew_cg()
        mlp_loss(model, [x for b in batches for x in b]).backward()
        trainer.update()
    for w in workers:
        w.replicas.sync(steps)
    got, want = _values(servers, workers), wire.get_values(ref)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
    if scheme == "sfb":  # every matrix travelled as factors
        assert workers[0].bytes.sent["sfb"] > 0 and not any(servers[k].sums for k in range(2))
    # every replica is identical
    a, b = (w.replica_state()["values"] for w in workers)
    for n in a:
        np.testing.assert_array_equal(a[n], b[n])


REUSE_CASES = {
    "issue": (build_issue_reuse, issue_reuse_loss, ISSUE_REUSE_DATA),
    "every-way": (build_reuse, reuse_loss, reuse_data(8, seed=4)),
}


@pytest.mark.parametrize("case", sorted(REUSE_CASES))
@pytest.mark.parametrize("consistency,n_workers", [("bsp", 1), ("bsp", 2), ("ssp", 1), ("asp", 1)])
@pytest.mark.parametrize("scheme", ["ps", "sfb", "hybrid"])
def test_one_step_with_reused_parameters_equals_local_sgd(scheme, consistency, n_workers, case):
    """Issue 24: a parameter with several trainable nodes in one graph (W, const W, W;
    lookups of one row twice; the whole table; a builder run twice) loses no gradient
    part under any scheme or consistency: one step equals local SGD on the same batch."""
    build, loss, data = REUSE_CASES[case]
    staleness = staleness_for(consistency, 1)
    pc, initial, servers, coord, workers = _local_job(
        scheme, n_workers=n_workers, n_servers=2, staleness=staleness, lr=0.1,
        batch_size=len(data) // n_workers, build=build, loss=loss, data=data)
    ref = dy.ParameterCollection()
    model = build(ref)
    wire.set_values(ref, initial)
    trainer = dy.SimpleSGDTrainer(ref, 0.1)
    trainer.set_clip_threshold(0)
    batch = [x for w in workers for x in w.batch_for(0)]
    for w in workers:
        w.step()
    for w in workers:
        w.replicas.sync(1)
    dy.renew_cg()
    loss(model, batch).backward()
    trainer.update()
    got, want = _values(servers, workers), wire.get_values(ref)
    assert set(got) == set(want)
    for name in want:
        assert not np.array_equal(want[name], initial[name]), name  # every parameter moved
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
    if case == "issue":  # the issue's numbers
        np.testing.assert_allclose(got["/W"], [[0.7, 1.8], [2.7, 3.8]], rtol=1e-6)
    if scheme != "ps":  # the replicated matrices really were replicated
        assert workers[0].replicas.names


@pytest.mark.parametrize("staleness", [0, 1])
def test_the_next_read_rides_on_the_commit_when_the_shard_can_serve_it(staleness):
    _, _, servers, coord, workers = _local_job("ps", staleness=staleness)
    pulls = [0, 0]
    for k, s in enumerate(servers):
        def counted(names=None, need=None, k=k, pull=s.pull):
            pulls[k] += 1
            return pull(names, need)
        s.pull = counted
    for w in workers:
        w.step()
    # BSP: only the last to commit finds iteration 0 complete; with s = 1 the next read
    # needs nothing of iteration 0, so both take it with the commit
    assert [bool(w.read_ahead) for w in workers] == ([False, True] if staleness == 0 else [True, True])
    before = list(pulls)
    for w in workers:
        w.step()
    fallbacks = 1 if staleness == 0 else 0  # worker 0 read after admission
    assert sum(pulls) - sum(before) == 2 * fallbacks + 2 * 2  # + each worker's read-ahead per server
    assert all(n > 0 for n in pulls)


@pytest.mark.parametrize("ahead", [0, 1], ids=["level", "worker-1-ahead"])
def test_a_server_restored_while_a_worker_restarted_gets_the_lost_iterations_redone(tmp_path, ahead):
    """Two faults at once: the shard comes back from its checkpoint (iterations
    >= 3 lost) and worker 1's process, whose push log held its share of them,
    died too. Worker 0 replays from its log; worker 1 redoes iterations 3 and 4
    (and 5) from the restored values. Under BSP that ends exactly where a run
    without faults ends. With ``ahead``, worker 1 had finished one iteration more
    than worker 0 (under BSP it may start c + 1 before worker 0 starts it): its
    restarted process is not admitted to 6 until worker 0 finishes 5, and worker 0
    waits for the shard to get worker 1's lost iterations. That deadlock (a CI run
    hit it) is why a worker looks for lost iterations while its admission waits."""
    def job(directory):
        return _local_job("ps", n_servers=1, checkpoint_dir=str(directory), checkpoint_every=3, keep_log=True)

    steps = 8
    _, _, clean_servers, _, clean_workers = job(tmp_path / "clean")
    for _ in range(steps):
        for w in clean_workers:
            w.step()

    pc, initial, servers, coord, workers = job(tmp_path / "faulty")
    for _ in range(5):
        for w in workers:
            w.step()
    for _ in range(ahead):
        workers[1].step()
    assert coord.table.clocks == [5, 5 + ahead] and servers[0].checkpointed == [2, 2]
    restored = ShardServer(0, {}, 2, ("sgd", {"learning_rate": 0.1}), aggregate=True,
                           checkpoint_dir=str(tmp_path / "faulty"), checkpoint_every=3)
    assert restored.restored and restored.done == [2, 2]
    t = workers[0].t
    t.servers[0] = restored
    t.workers[1] = workers[1] = WorkerCore(1, 2, build_mlp, mlp_loss, workers[1].shard, t, workers[1].placement,
                                           batch_size=4, optimizer=("sgd", {"learning_rate": 0.1}),
                                           initial=initial, keep_log=True)
    assert workers[1].rejoin() == 5 + ahead
    workers[0].replay_if_restarted(0)  # what the restored ServerActor asks of every worker
    assert restored.done == [4, 2]
    workers[1].step()  # finds iterations 3 and 4 (and 5) lost: redoes 3
    assert restored.done == [4, 3] and workers[1].clock == 4
    workers[1].step()
    workers[1].step()
    assert restored.done == [4, 5] and workers[1].clock == 6
    workers[0].step()
    for _ in range(5, steps - 1):
        for w in workers:
            w.step()
    assert restored.done == [steps - 1] * 2
    for name, want in clean_servers[0].values.items():
        np.testing.assert_allclose(restored.values[name], want, rtol=1e-6, atol=1e-7, err_msg=name)


def test_a_worker_restarted_after_its_last_iteration_still_redoes_what_the_shard_lost(tmp_path):
    """Worker 1 finished every iteration of the run (one more than worker 0) before it
    and the shard died. Restarted at its target clock, it has no iteration left to
    step, yet the restored shard lacks its iterations 3-5, which worker 0 needs: run()
    redoes them before it returns."""
    _, initial, servers, coord, workers = _local_job("ps", n_servers=1, checkpoint_dir=str(tmp_path),
                                                     checkpoint_every=3, keep_log=True)
    for _ in range(5):
        for w in workers:
            w.step()
    workers[1].run(6)
    restored = ShardServer(0, {}, 2, ("sgd", {"learning_rate": 0.1}), aggregate=True,
                           checkpoint_dir=str(tmp_path), checkpoint_every=3)
    t = workers[0].t
    t.servers[0] = restored
    t.workers[1] = workers[1] = WorkerCore(1, 2, build_mlp, mlp_loss, workers[1].shard, t, workers[1].placement,
                                           batch_size=4, optimizer=("sgd", {"learning_rate": 0.1}),
                                           initial=initial, keep_log=True)
    assert workers[1].rejoin() == 6
    workers[0].replay_if_restarted(0)
    assert restored.done == [4, 2]
    assert workers[1].run(6)["clock"] == 6 and restored.done == [4, 5]
    workers[0].run(6)
    assert restored.done == [5, 5]


_LOST = object()


@pytest.mark.parametrize("peer_waits", [False, True])
def test_a_restarted_worker_posts_again_the_factors_that_died_with_it(peer_waits):
    """Under "sfb" a worker's factors live as long as its process. Worker 1 dies after
    posting iteration 2, before worker 0 applied it; the restarted process recomputes
    the factors of its iterations still on the board and posts them again, and worker 0
    (which may already be waiting for them) applies those. Under BSP, with every
    parameter replicated, the job ends exactly where a run without the fault ends."""
    def job():
        return _local_job("sfb", n_servers=1, build=build_linear(8, 6), loss=linear_loss,
                          data=linear_data(32, 6, seed=2))

    steps = 5
    _, _, _, _, clean = job()
    for _ in range(steps):
        for w in clean:
            w.step()
    for w in clean:
        w.replicas.sync(steps)

    _, initial, _, coord, workers = job()
    for _ in range(3):
        for w in workers:
            w.step()
    # Worker 1's process dies: the references it posted now lead nowhere.
    t = workers[0].t
    for posts in coord.board.values():
        posts[1] = {name: (enc, _LOST if enc == "sfb" else where) for name, (enc, where) in posts[1].items()}

    def get(refs):
        if any(r is _LOST for r in refs):
            raise FactorsLost("owner died")
        return list(refs)

    t.get = get
    workers[0].replicas.factors_timeout = 20.0
    assert coord.factor_posts(1) == {2: ["/W"]}
    with pytest.raises(FactorsLost):
        workers[0].replicas._fetch_factors(2, coord.board[2])

    def restart():
        old = workers[1]
        t.workers[1] = workers[1] = WorkerCore(1, 2, build_linear(8, 6), linear_loss, old.shard, t,
                                               old.placement, batch_size=4,
                                               scheme="sfb", optimizer=("sgd", {"learning_rate": 0.1}),
                                               initial=initial)
        assert workers[1].rejoin() == 3

    if peer_waits:  # worker 0 finds the factors gone first; the restart happens while it waits
        complete, calls = coord.complete, []

        def complete_after_restart(lo, hi):
            if not calls:
                restart()
            calls.append((lo, hi))
            return complete(lo, hi)

        t.complete = complete_after_restart
        workers[0].step()
        assert calls  # it did wait
    else:
        restart()
        workers[0].step()
    workers[1].step()
    for _ in range(3, steps - 1):
        for w in workers:
            w.step()
    for w in workers:
        w.replicas.sync(steps)
    want = clean[0].replica_state()["values"]["/W"]
    assert np.abs(want - initial["/W"]).max() > 1e-3  # it trained
    for w in workers:
        np.testing.assert_allclose(w.replica_state()["values"]["/W"], want, rtol=1e-6, atol=1e-7)


def test_a_restarted_worker_with_no_peer_to_copy_replicas_from_says_so():
    _, initial, _, _, workers = _local_job("sfb", n_workers=1, n_servers=1, build=build_linear(8, 6),
                                           loss=linear_loss, data=linear_data(16, 6))
    for _ in range(2):
        workers[0].step()
    t = workers[0].t
    t.workers = [WorkerCore(0, 1, build_linear(8, 6), linear_loss, workers[0].shard, t, workers[0].placement,
                            batch_size=4, scheme="sfb", initial=initial)]
    with pytest.raises(RuntimeError, match="no live peer holds the replicated parameters"):
        t.workers[0].rejoin()


def test_a_replay_during_the_coordinator_call_commits_the_iteration_just_finished(tmp_path):
    """The shard restarts while the worker waits in the coordinator (finish, then the
    next admission) after committing iteration 2: the replay must commit 2 again."""
    opt = ("sgd", {"learning_rate": 0.1})
    _, _, servers, _, workers = _local_job("ps", n_workers=1, n_servers=1, checkpoint_dir=str(tmp_path),
                                           checkpoint_every=2, keep_log=True)
    w, t = workers[0], workers[0].t
    for _ in range(2):
        w.step()
    assert servers[0].checkpointed == [1]
    finish, restored = t.finish, []

    def finish_during_a_restart(*args):
        restored.append(ShardServer(0, {}, 1, opt, aggregate=True, checkpoint_dir=str(tmp_path),
                                    checkpoint_every=2))
        t.servers[0] = restored[0]
        w.replay_if_restarted(0)  # the restored shard's request, served while this call waits
        return finish(*args)

    t.finish = finish_during_a_restart
    w.step()
    assert restored[0].done == [2]
    for name, want in servers[0].values.items():
        np.testing.assert_allclose(restored[0].values[name], want, rtol=1e-6, err_msg=name)


def _step_round_robin(workers, rounds):
    """Each worker steps ``rounds`` times; one not admitted yet steps after the others."""
    for _ in range(rounds):
        pending, refused = list(workers), 0
        while pending:
            w = pending.pop(0)
            try:
                w.step()
                refused = 0
            except NotAdmitted:
                pending.append(w)
                refused += 1
                assert refused <= len(workers), "no worker can step"


def test_a_held_worker_is_not_admitted_until_released():
    """fit's fault injection holds a worker before the fault's iteration (trainer._FaultHold):
    admission waits however far SSP would let it run, other workers are untouched, and
    nothing is logged for a refused start."""
    c = Coordinator(2, staleness=3)
    c.held = {1: 2}
    for t in range(2):
        assert c.admit(1, t)
        c.finish(1, t, {}, 0)
    assert not c.admit(1, 2) and not c.admit(1, 3)  # held, though SSP allows it
    assert c.admit(0, 0) and c.admit(0, 1) and c.admit(0, 2)  # worker 0 is not held
    rows = len(c.table.log.rows)
    assert not c.admit(1, 2) and len(c.table.log.rows) == rows
    c.held = {}
    assert c.admit(1, 2)


def test_a_restarted_coordinator_waits_for_every_workers_registration():
    c = Coordinator(2, staleness=0, restored=True)
    assert not c.ready and not c.admit(0, 0)
    c.register(0, 3, {2: {"/W": ("sfb", "ref-0")}}, applied=2)
    assert not c.ready and not c.admit(0, 3)
    c.register(1, 4, {2: {"/W": ("ps", 0)}, 3: {"/W": ("sfb", "ref-1")}}, applied=2)
    assert c.ready and c.table.clocks == [3, 4] and c.floor() == 2
    assert c.admit(0, 3) and not c.admit(1, 4)  # BSP: worker 1 waits for worker 0's iteration 3
    assert c.complete(2, 4) == {2: {0: {"/W": ("sfb", "ref-0")}, 1: {"/W": ("ps", 0)}}}
    c.register(1, 4, {3: {"/W": ("sfb", "ref-1")}}, applied=2)  # a repeat changes nothing
    assert c.table.clocks == [3, 4] and set(c.board) == {2, 3}


@pytest.mark.parametrize("scheme", ["ps", "sfb"])
@pytest.mark.parametrize("consistency", ["bsp", "ssp"])
def test_a_restarted_coordinator_is_rebuilt_from_the_workers(scheme, consistency):
    """The coordinator dies after iteration 2 and comes back empty; each worker registers
    its clock, its board posts and its replicas' progress on its next call. BSP ends with
    the values of the run without the fault; SSP (any order) with every update applied
    exactly once: this model's gradient does not depend on the parameters, so the end
    values are the initial ones less lr times every sample's gradient, each counted once."""
    staleness = staleness_for(consistency, 1)
    data = [np.array(x, np.float32) for x in np.random.default_rng(3).normal(size=(16, 2))]

    def job():
        return _local_job(scheme, staleness=staleness, batch_size=2, build=build_issue_reuse,
                          loss=issue_reuse_loss, data=data)

    _, initial, servers, coord, workers = job()
    _step_round_robin(workers, 3)
    workers[0].t.coordinator = Coordinator(2, staleness, restored=True)  # the restarted process
    _step_round_robin(workers, 1)
    assert workers[0].t.coordinator.ready and workers[0].t.coordinator.table.clocks == [4, 4]
    _step_round_robin(workers, 2)
    for w in workers:
        w.replicas.sync(6)
    got = _values(servers, workers)
    # 6 iterations of batch 2 per worker: every sample of both shards (8 each) in epoch 0 and 4 of epoch 1
    seen = [x for w in workers for c in range(6) for x in w.batch_for(c)]
    want = initial["/W"] - 0.1 * 2 * np.outer(np.ones(2), np.sum(seen, axis=0))
    np.testing.assert_allclose(got["/W"], want, rtol=1e-5, atol=1e-6)
    if consistency == "bsp":
        _, _, clean_servers, _, clean_workers = job()
        _step_round_robin(clean_workers, 6)
        for w in clean_workers:
            w.replicas.sync(6)
        np.testing.assert_array_equal(got["/W"], _values(clean_servers, clean_workers)["/W"])


def test_ssp_workers_never_run_ahead_of_the_bound():
    pc, initial, servers, coord, workers = _local_job("hybrid", n_workers=3, staleness=1)
    rng = np.random.default_rng(0)
    blocked = 0
    for _ in range(60):
        w = workers[rng.integers(3)]
        try:
            w.step()
        except NotAdmitted:
            blocked += 1
    assert blocked > 0 and coord.table.log.max_lead() <= 1


def test_lookup_gradients_send_only_touched_rows():
    pc, initial, servers, coord, workers = _local_job("ps", n_workers=1, n_servers=1)
    w = workers[0]
    sent = []
    orig = servers[0].push
    servers[0].push = lambda worker, clock, grads: (sent.append(grads), orig(worker, clock, grads))[1]
    w.step()
    rows, vals = next(g["/E"] for g in sent if "/E" in g)
    tokens = {t for t, _, _ in w.batch_for(0)}
    assert set(rows.tolist()) == tokens and vals.shape == (len(tokens), 4)


def test_worker_not_wait_free_sends_one_message_per_server():
    pc, initial, servers, coord, workers = _local_job("ps", n_workers=1, n_servers=2)
    w = workers[0]
    w.backward.wait_free = False
    calls = []
    for s in servers:
        orig = s.push
        s.push = (lambda o: lambda *a: (calls.append(a[1]), o(*a))[1])(orig)
    w.step()
    assert len(calls) == 2


@pytest.mark.parametrize("bucket,messages", [(256 * 1024, 2), (1, 5)])
def test_wait_free_pushes_go_in_buckets(monkeypatch, bucket, messages):
    """Small gradients share one message per server; with a bucket of one byte every
    parameter (W1, b1, W2, b2, E) leaves on its own."""
    from dynagraph.distributed import compute as compute_module
    monkeypatch.setattr(compute_module, "BUCKET_BYTES", bucket)
    pc, initial, servers, coord, workers = _local_job("ps", n_workers=1, n_servers=2)
    calls = []
    for s in servers:
        orig = s.push
        s.push = (lambda o: lambda *a: (calls.append(sorted(a[2])), o(*a))[1])(orig)
    workers[0].step()
    assert len(calls) == messages
    assert sorted(n for c in calls for n in c) == ["/E", "/W1", "/W2", "/b1", "/b2"]

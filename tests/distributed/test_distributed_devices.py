"""dynagraph.distributed's workers on a device (EMU:0) and with micro-batch accumulation:
first the engine pieces (factors of device products, staging buffers, factors applied
on the device), then the worker logic over the local transport, then short jobs on
local Ray (one Ray for the module)."""
import os

import numpy as np
import pytest

import dynagraph as dy
import dynagraph.distributed as dd
from dynagraph.distributed import wire
from dynagraph.distributed import compute
from dynagraph.distributed.compute import micro_batches
from dynagraph.distributed.optim import EngineOptimizer
from dynagraph.distributed.sfb import FactorSum
from dynagraph.distributed.coordinator import Coordinator
from dynagraph.distributed.server import ShardServer
from dynagraph.distributed.sharding import shard_by_size
from dynagraph.distributed.transport import LocalTransport
from dynagraph.distributed.worker import WorkerCore

from distributed_models import build_linear, build_mlp, linear_data, linear_loss, mlp_data, mlp_loss

core = dy._core

pytestmark = pytest.mark.distributed


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    dy.init(device="CPU")


MODELS = {"mlp": (build_mlp, mlp_loss, lambda: mlp_data(64, seed=1)),
          "linear": (build_linear(32, 24), linear_loss, lambda: linear_data(64, 24, seed=1))}


def _local_values(scheme, batch_size, accumulate=1, device=None, steps=3, n_workers=2, model="mlp"):
    """Values after `steps` BSP iterations of a local job (servers, coordinator, workers in this process)."""
    build, loss, make_data = MODELS[model]
    data = make_data()
    dy.init(seed=3, device="CPU")
    pc = dy.ParameterCollection()
    build(pc)
    initial = wire.get_values(pc)
    dense, lookups = wire.model_params(pc)
    replicated = {n for n, p in dense.items() if scheme != "ps" and len(p.shape()) == 2}
    placement = {n: k for k, names in enumerate(shard_by_size({n: v.size for n, v in initial.items()}, 2))
                 for n in names}
    opt = ("sgd", {"learning_rate": 0.1})
    servers = [ShardServer(k, {n: initial[n] for n, s in placement.items() if s == k and n not in replicated},
                           n_workers, opt, aggregate=True, lookup_names=set(lookups)) for k in range(2)]
    t = LocalTransport(servers, Coordinator(n_workers, 0))
    workers = [WorkerCore(r, n_workers, build, loss, data[r::n_workers], t, placement,
                          batch_size=batch_size, scheme=scheme, optimizer=opt, initial=initial,
                          accumulate=accumulate, device=device) for r in range(n_workers)]
    t.workers = workers
    losses = [[w.step() for w in workers] for _ in range(steps)]
    for w in workers:
        w.replicas.sync(steps)
    out = {}
    for s in servers:
        out.update(s.values)
    out.update(workers[0].replica_state()["values"])
    return out, losses, workers


def _assert_same(got, want, rtol=1e-5, atol=1e-6):
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=atol, err_msg=name)


def test_micro_batches_split_in_order():
    assert micro_batches(list(range(8)), 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert micro_batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert micro_batches([1], 4) == [[1]]


@pytest.mark.parametrize("scheme", ["ps", "sfb", "hybrid"])
def test_accumulate_equals_a_k_times_larger_batch(scheme):
    """k backward passes of batch_size samples, then one communication and update, equal one
    batch of k * batch_size under BSP (the factors of replicated matrices accumulate too)."""
    want, want_losses, _ = _local_values(scheme, batch_size=8)
    got, got_losses, workers = _local_values(scheme, batch_size=4, accumulate=2)
    _assert_same(got, want)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
    assert workers[0].n_batches == 4  # 32 samples per worker, 8 per iteration
    trio, _, _ = _local_values(scheme, batch_size=3, accumulate=3)  # 9 per iteration, parts of 3
    nine, _, _ = _local_values(scheme, batch_size=9)
    _assert_same(trio, nine)


def test_accumulate_below_one_is_refused():
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"Trainer: accumulate must be an integer >= 1 .*got"):
            dd.Trainer(build_mlp, mlp_loss, data=mlp_data(8), accumulate=bad)


def test_device_arguments_are_checked():
    with pytest.raises(ValueError, match="device must be 'CPU', 'EMU:0' or 'GPU', got 'TPU'"):
        dd.Trainer(build_mlp, mlp_loss, data=mlp_data(8), device="TPU")
    with pytest.raises(ValueError, match="gpus_per_worker=0.5 needs device='GPU'"):
        dd.Trainer(build_mlp, mlp_loss, data=mlp_data(8), device="EMU:0", gpus_per_worker=0.5)
    with pytest.raises(ValueError, match="gpus_per_worker must be a fraction"):
        dd.Trainer(build_mlp, mlp_loss, data=mlp_data(8), device="GPU", gpus_per_worker=1.5)


def test_workers_on_emu_train_as_on_the_cpu():
    """The worker computes on EMU:0 (parameters resident there, inputs and gradients too); the
    wait-free hook sends its gradients through host copies as on the CPU."""
    want, want_losses, _ = _local_values("ps", batch_size=4, accumulate=2)
    got, got_losses, workers = _local_values("ps", batch_size=4, accumulate=2, device="EMU:0")
    assert workers[0].device == "EMU:0"
    _assert_same(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-4)


# ---- the engine's pieces on a device: factors, staging buffers, factors applied there
def _product_graph(device, batched):
    """W (5 x 3) in an affine transform and a matmul over a batch of inputs; returns the loss."""
    dy.init(device=device)
    dy.renew_cg()
    pc = dy.ParameterCollection()
    W = pc.add_parameters((5, 3), name="W", init=dy.NumpyInitializer(np.arange(15, dtype=np.float32).reshape(5, 3) / 10))
    b = pc.add_parameters(5, name="b", init=0.1)
    xs = np.linspace(-1, 1, 3 * 4, dtype=np.float32).reshape(3, 4)
    x = dy.inputTensor(xs, batched=True) if batched else dy.inputTensor(xs)
    y = dy.tanh(dy.affine_transform([dy.parameter(b), dy.parameter(W), x])) + dy.parameter(W) * x
    loss = dy.sum_batches(dy.sum_elems(dy.square(y))) if batched else dy.sum_elems(dy.square(y))
    return pc, W, loss


@pytest.mark.parametrize("batched", [False, True])
def test_factors_of_device_products_equal_the_cpu(batched):
    """Both products of W record (U, V) on EMU:0 as on the CPU; each product's factors leave
    the device in one copy per block (U and V), whatever the number of columns."""
    got = {}
    for device in ("CPU", "EMU:0"):
        pc, W, loss = _product_graph(device, batched)
        loss.forward()
        core.set_collect_factors(True)
        try:
            before = core.staging_stats()
            loss.backward()
            after = core.staging_stats()
            got[device] = core.take_factors()
        finally:
            core.set_collect_factors(False)
        assert after["copies"] - before["copies"] == 4  # two products, a U and a V block each
        assert after["bytes"] - before["bytes"] == 4 * 2 * 4 * (5 + 3)  # K = 4 columns per product
    (cpu, cpu_dense), (emu, emu_dense) = got["CPU"], got["EMU:0"]
    assert [n for n, _, _ in emu] == [n for n, _, _ in cpu] == ["/W"]
    assert emu_dense == cpu_dense == {"/b"}  # the bias is no product's matrix
    for (_, cu, cv), (_, eu, ev) in zip(cpu, emu):
        assert eu.shape == (5, 8) and ev.shape == (3, 8)
        np.testing.assert_allclose(eu, cu, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ev, cv, rtol=1e-5, atol=1e-6)
    dy.renew_cg()


def test_staged_gradients_reuse_one_buffer_and_stay_on_the_device():
    """A device gradient leaves through the parameter's staging buffer, from the device's
    pinned host pool: the same memory every time (a view, no further copy), bytes and reuses counted, and the device copy
    is not marked stale (the next graph uploads nothing)."""
    pc, W, loss = _product_graph("EMU:0", batched=True)
    want = []
    for _ in range(2):  # the CPU's gradients of the same graph, twice
        cpc, cW, closs = _product_graph("CPU", batched=True)
        closs.backward()
        want.append(cW.grad_as_array())
    pc, W, loss = _product_graph("EMU:0", batched=True)
    loss.backward()
    s0, pool0 = core.staging_stats(), dy.pinned_memory_stats("EMU:0")
    first = wire.dense_grad(W)
    s1, pool1 = core.staging_stats(), dy.pinned_memory_stats("EMU:0")
    # The buffer is EMU:0's pinned host pool's (page-locked on a GPU), held while W lives.
    assert pool1["in_use_bytes"] - pool0["in_use_bytes"] == 4096  # the smallest size class holds 15 floats
    np.testing.assert_allclose(first, want[0], rtol=1e-5)
    assert first.shape == (5, 3) and not first.flags.owndata
    assert s1["bytes"] - s0["bytes"] == 4 * 15 and s1["copies"] - s0["copies"] == 1
    assert s1["allocations"] - s0["allocations"] == 1  # a new parameter's first staging
    W._clear_grad()
    traffic = core._resident_traffic()
    dy.renew_cg()
    x = dy.inputTensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), batched=True)
    loss = dy.sum_batches(dy.sum_elems(dy.square(dy.tanh(dy.affine_transform(
        [dy.parameter(pc.parameters_list()[1]), dy.parameter(W), x])) + dy.parameter(W) * x)))
    loss.backward()
    second = wire.dense_grad(W)
    s2 = core.staging_stats()
    assert core._resident_traffic()[0] == traffic[0]  # nothing went up again: values and gradient stayed current
    assert second.__array_interface__["data"][0] == first.__array_interface__["data"][0]
    assert s2["allocations"] == s1["allocations"] and s2["reuses"] - s1["reuses"] == 1
    np.testing.assert_allclose(second, want[1], rtol=1e-5)
    dy.renew_cg()


def test_factors_are_applied_on_the_device_without_uploading_the_product():
    dy.init(device="EMU:0")
    pc = dy.ParameterCollection()
    W = pc.add_parameters((6, 4), name="W", init=0.0)
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((6, k), dtype=np.float32), rng.standard_normal((4, k), dtype=np.float32))
             for k in (2, 3)]
    dense = rng.standard_normal((6, 4), dtype=np.float32)
    traffic = core._resident_traffic()
    FactorSum(pairs).add_to(W)
    assert core._resident_traffic()[0] == traffic[0]  # the factors went up, not a 6 x 4 product
    want = sum(u @ v.T for u, v in pairs)
    np.testing.assert_allclose(wire.dense_grad(W), want, rtol=1e-5, atol=1e-6)
    FactorSum([], [dense]).add_to(W)
    np.testing.assert_allclose(wire.dense_grad(W), want + dense, rtol=1e-5, atol=1e-6)
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.5)
    trainer.set_clip_threshold(0.0)  # DyNet clips at a norm of 5 by default
    trainer.update()  # marked: the device trainer applies it
    np.testing.assert_allclose(W.as_array(), -0.5 * (want + dense), rtol=1e-5, atol=1e-6)


def test_received_factors_go_up_through_one_reused_pinned_buffer():
    """Received factors (pageable NumPy arrays) are copied into EMU:0's pinned inbound buffer and go up from
    there: two copies per product (u, v) and their bytes counted, one pinned allocation in the first
    iteration and none after (the buffer is reused), a dense gradient the same way, and the values are
    NumPy's."""
    dy.init(device="EMU:0")
    pc = dy.ParameterCollection()
    W = pc.add_parameters((6, 4), name="W", init=0.0)
    rng = np.random.default_rng(1)
    want = np.zeros((6, 4))
    for it in range(4):
        u, v = rng.standard_normal((6, 3), dtype=np.float32), rng.standard_normal((4, 3), dtype=np.float32)
        g = rng.standard_normal((6, 4), dtype=np.float32)
        s0, pool0 = core.staging_stats(), dy.pinned_memory_stats("EMU:0")
        FactorSum([(u, v)], [g]).add_to(W)
        s1, pool1 = core.staging_stats(), dy.pinned_memory_stats("EMU:0")
        assert s1["in_copies"] - s0["in_copies"] == 3
        assert s1["in_bytes"] - s0["in_bytes"] == 4 * (u.size + v.size + g.size)
        if it > 0:
            assert pool1["allocations"] == pool0["allocations"] and s1["in_allocations"] == s0["in_allocations"]
            assert s1["in_reuses"] - s0["in_reuses"] == 2
        want += u.astype(np.float64) @ v.T + g
        np.testing.assert_allclose(wire.dense_grad(W), want, rtol=1e-5, atol=1e-5)


def test_bad_arguments_of_the_device_hooks_are_refused():
    dy.init(device="EMU:0")
    pc = dy.ParameterCollection()
    W = pc.add_parameters((6, 4), name="W")
    E = pc.add_lookup_parameters((5, 2), name="E")
    with pytest.raises(ValueError, match=r"add_grad_outer: expected u \(6, K\) and v \(4, K\) for parameter /W "
                                         r"of shape \{6,4\}, got u \(4, 2\) and v \(6, 2\)"):
        core.add_grad_outer(W, np.zeros((4, 2), np.float32), np.zeros((6, 2), np.float32))
    with pytest.raises(ValueError, match=r"add_grad: expected 24 values for parameter /W .*got shape \(3, 4\)"):
        core.add_grad(W, np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="stage_grad: expected Parameters or LookupParameters, got ndarray"):
        core.stage_grad(np.zeros(3))
    # What stays host-only: a server's optimiser (and lookup tables outside a worker's replicas).
    with pytest.raises(ValueError, match=r"parameter '/E' lives on EMU:0; the distributed optimiser updates it "
                                         r"in host memory"):
        EngineOptimizer("sgd", pc, {}, {"/E": E}, on_device=True)
    with pytest.raises(ValueError, match=r"parameter '/W' lives on EMU:0"):
        EngineOptimizer("sgd", pc, {"/W": W}, {})


def test_wait_free_hook_on_emu_fires_in_the_cpu_order_with_the_cpu_gradients():
    """The hook fires once a device parameter's gradient is complete: its copy through the
    staging buffer, taken inside the hook, equals the CPU run's, in the same order."""
    batch = mlp_data(6, seed=4)
    dy.init(seed=3, device="CPU")
    initial = wire.get_values(_mlp_pc()[0])
    runs = {}
    for device in ("CPU", "EMU:0"):
        dy.init(device=device)
        pc, model = _mlp_pc()
        wire.set_values(pc, initial)
        dense, lookups = wire.model_params(pc)
        calls = []

        def hook(name, is_lookup):
            calls.append((name, is_lookup, None if is_lookup else wire.dense_grad(dense[name]).copy()))
        dy.renew_cg()
        loss = mlp_loss(model, batch)
        loss.forward()
        core.set_param_grad_hook(hook)
        try:
            loss.backward()
        finally:
            core.set_param_grad_hook(None)
        for name, _, g in calls:  # complete when reported: the final gradient is the same
            if g is not None:
                np.testing.assert_array_equal(g, wire.dense_grad(dense[name]))
        runs[device] = (calls, wire.lookup_grad(lookups["/E"]))
    cpu, emu = runs["CPU"], runs["EMU:0"]
    assert [c[:2] for c in emu[0]] == [c[:2] for c in cpu[0]]
    assert {c[0] for c in cpu[0]} == set(dense) | set(lookups)
    for (_, _, g_cpu), (name, _, g_emu) in zip(cpu[0], emu[0]):
        if g_cpu is not None:
            np.testing.assert_allclose(g_emu, g_cpu, rtol=1e-4, atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(emu[1][0], cpu[1][0])
    np.testing.assert_allclose(emu[1][1], cpu[1][1], rtol=1e-4, atol=1e-7)


def _mlp_pc():
    pc = dy.ParameterCollection()
    return pc, build_mlp(pc)


@pytest.mark.parametrize("scheme,model", [("sfb", "mlp"), ("hybrid", "mlp"), ("sfb", "linear"), ("hybrid", "linear")])
def test_sfb_and_hybrid_workers_on_emu_equal_the_cpu(scheme, model):
    """Replicas on EMU:0: own and peers' factors applied on the device, dense sums added
    there; the same encodings travel (the same factor bytes) and the values equal the CPU's."""
    want, want_losses, cpu_workers = _local_values(scheme, batch_size=4, device="CPU", model=model)
    got, got_losses, workers = _local_values(scheme, batch_size=4, device="EMU:0", model=model)
    assert workers[0].device == "EMU:0" and workers[0].replicas.names
    _assert_same(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-4)
    for w, c in zip(workers, cpu_workers):
        assert w.bytes.snapshot() == c.bytes.snapshot()
    sent = workers[0].bytes.snapshot()["sent"]
    if scheme == "sfb" or model == "linear":  # hybrid sends the MLP's small matrices dense: K (M + N) > M N
        assert sent.get("sfb", 0) > 0
    else:
        assert sent.get("sfb", 0) == 0


def test_wait_free_pushes_from_emu_equal_the_cpu(monkeypatch):
    """Every gradient leaves from inside the hook (a one-byte bucket), while backward
    goes on: the servers end with the CPU job's values; the staging buffers are reused
    from the second iteration on (no new ones)."""
    monkeypatch.setattr(compute, "BUCKET_BYTES", 1)
    want, _, _ = _local_values("ps", batch_size=4, device="CPU")
    before = core.staging_stats()
    got, _, workers = _local_values("ps", batch_size=4, device="EMU:0", steps=1)
    one = core.staging_stats()
    for _ in range(2):
        for w in workers:
            w.step()
    three = core.staging_stats()
    got = {}
    for k in range(2):
        got.update(workers[0].t.servers[k].values)
    _assert_same(got, want, rtol=1e-4, atol=1e-5)
    assert one["allocations"] > before["allocations"]
    assert three["allocations"] == one["allocations"]  # iterations 2 and 3 staged into the same buffers
    assert three["reuses"] - one["reuses"] >= 2 * 2 * 4  # two workers, two iterations, four dense parameters


# ---- local Ray (slow to start on a loaded machine: one short job per device)
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ray = pytest.importorskip("ray")
    from dynagraph.distributed.trainer import LOCAL_RAY_CONFIG
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ray-cwd"))  # workers import the installed dynagraph, not ./dynagraph
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.abspath(dy.__file__)))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "PYTHONPATH": root + os.pathsep + here}},
             _system_config=LOCAL_RAY_CONFIG)
    try:
        yield
    finally:
        ray.shutdown()
        os.chdir(cwd)


@pytest.mark.parametrize("scheme,model", [("ps", "mlp"), ("sfb", "mlp"), ("hybrid", "linear")])
def test_ray_job_on_emu_matches_the_cpu_job(cluster, tmp_path, scheme, model):
    build, loss, make_data = MODELS[model]
    data = make_data()[:32]
    values, sent = {}, {}
    for device in ("CPU", "EMU:0"):
        dy.init(seed=3, device="CPU")
        job = dd.Trainer(build, loss, data=data, workers=2, servers=1, scheme=scheme, link="bytes",
                         optimizer=("sgd", {"learning_rate": 0.1}), batch_size=4, accumulate=2,
                         device=device, checkpoint_dir=str(tmp_path / device.replace(":", "")))
        try:
            out = job.fit(epochs=1)
            assert out["iterations"] == 2  # 16 samples per worker, 8 per iteration
            assert [r["device"] for r in out["reports"]] == [device, device]
            values[device] = job.values()
            sent[device] = out["worker_bytes"]["sent"]
            assert bool(job.replicated) == (scheme != "ps")
        finally:
            job.shutdown()
    assert sent["EMU:0"] == sent["CPU"]  # the same encodings travelled
    assert (sent["CPU"].get("sfb", 0) > 0) == (scheme != "ps")
    _assert_same(values["EMU:0"], values["CPU"], rtol=1e-4, atol=1e-5)


def test_gpu_jobs_need_gpus_in_the_cluster(cluster):
    with pytest.raises(ValueError, match=r"need 2 GPUs, the Ray cluster has 0"):
        dd.Trainer(build_mlp, mlp_loss, data=mlp_data(32, seed=1), workers=2, device="GPU")

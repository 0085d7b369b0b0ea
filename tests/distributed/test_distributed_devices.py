"""dynagraph.distributed's workers on a device (EMU:0) and with micro-batch accumulation:
first the worker logic over the local transport, then one short job on local Ray."""
import os

import numpy as np
import pytest

import dynagraph as dy
import dynagraph.distributed as dd
from dynagraph.distributed import wire
from dynagraph.distributed.compute import micro_batches
from dynagraph.distributed.coordinator import Coordinator
from dynagraph.distributed.server import ShardServer
from dynagraph.distributed.sharding import shard_by_size
from dynagraph.distributed.transport import LocalTransport
from dynagraph.distributed.worker import WorkerCore

from distributed_models import build_mlp, mlp_data, mlp_loss

pytestmark = pytest.mark.distributed


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    dy.init(device="CPU")


def _local_values(scheme, batch_size, accumulate=1, device=None, steps=3, n_workers=2):
    """Values after `steps` BSP iterations of a local job (servers, coordinator, workers in this process)."""
    data = mlp_data(64, seed=1)
    dy.init(seed=3, device="CPU")
    pc = dy.ParameterCollection()
    build_mlp(pc)
    initial = wire.get_values(pc)
    dense, lookups = wire.model_params(pc)
    replicated = {n for n, p in dense.items() if scheme != "ps" and len(p.shape()) == 2}
    placement = {n: k for k, names in enumerate(shard_by_size({n: v.size for n, v in initial.items()}, 2))
                 for n in names}
    opt = ("sgd", {"learning_rate": 0.1})
    servers = [ShardServer(k, {n: initial[n] for n, s in placement.items() if s == k and n not in replicated},
                           n_workers, opt, aggregate=True, lookup_names=set(lookups)) for k in range(2)]
    t = LocalTransport(servers, Coordinator(n_workers, 0))
    workers = [WorkerCore(r, n_workers, build_mlp, mlp_loss, data[r::n_workers], t, placement,
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
    with pytest.raises(ValueError, match=r"device='EMU:0'\) supports scheme='ps' only .*scheme='sfb'"):
        dd.Trainer(build_mlp, mlp_loss, data=mlp_data(8), device="EMU:0", scheme="sfb")


def test_workers_on_emu_train_as_on_the_cpu():
    """The worker computes on EMU:0 (parameters resident there, inputs and gradients too); the
    wait-free hook sends its gradients through host copies as on the CPU."""
    want, want_losses, _ = _local_values("ps", batch_size=4, accumulate=2)
    got, got_losses, workers = _local_values("ps", batch_size=4, accumulate=2, device="EMU:0")
    assert workers[0].device == "EMU:0"
    _assert_same(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-4)


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


def test_ray_job_on_emu_matches_the_cpu_job(cluster, tmp_path):
    data = mlp_data(32, seed=1)
    values = {}
    for device in ("CPU", "EMU:0"):
        dy.init(seed=3, device="CPU")
        job = dd.Trainer(build_mlp, mlp_loss, data=data, workers=2, servers=1, scheme="ps",
                         optimizer=("sgd", {"learning_rate": 0.1}), batch_size=4, accumulate=2,
                         device=device, checkpoint_dir=str(tmp_path / device.replace(":", "")))
        try:
            out = job.fit(epochs=1)
            assert out["iterations"] == 2  # 16 samples per worker, 8 per iteration
            assert [r["device"] for r in out["reports"]] == [device, device]
            values[device] = job.values()
        finally:
            job.shutdown()
    _assert_same(values["EMU:0"], values["CPU"], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"need 2 GPUs, the Ray cluster has 0"):
        dd.Trainer(build_mlp, mlp_loss, data=data, workers=2, device="GPU")

"""Parameters resident on a device (EMU:0): values, gradients and trainer
state stay in device memory across graphs (no copy per graph), every
trainer's update kernel trains to the CPU's parameters (lookup tables with
repeated indices included), and everything that reads or writes parameter
values from the host (as_array, set_value, save/load, scale, ...) sees and
sets the resident values."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    dy.init(device="CPU")
    dy.renew_cg()


def traffic():
    """(bytes to the device, bytes to the host) of parameter memory so far."""
    return _core._resident_traffic()


TRAINERS = {
    "sgd": lambda pc: dy.SimpleSGDTrainer(pc, learning_rate=0.1),
    "cyclical": lambda pc: dy.CyclicalSGDTrainer(pc, 0.01, 0.1, step_size=2),
    "momentum": lambda pc: dy.MomentumSGDTrainer(pc, learning_rate=0.05, mom=0.8),
    "adagrad": lambda pc: dy.AdagradTrainer(pc, learning_rate=0.1),
    "adadelta": lambda pc: dy.AdadeltaTrainer(pc),
    "rmsprop": lambda pc: dy.RMSPropTrainer(pc, learning_rate=0.01),
    "adam": lambda pc: dy.AdamTrainer(pc, alpha=0.05),
    "amsgrad": lambda pc: dy.AmsgradTrainer(pc, alpha=0.05),
}


def build(device, seed=0):
    """A model with a dense layer, a bias and an embedding table, all on `device`."""
    rng = np.random.default_rng(seed)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((3, 4), init=dy.NumpyInitializer(rng.standard_normal((3, 4))), device=device)
    b = pc.add_parameters((3,), init=dy.NumpyInitializer(rng.standard_normal(3)), device=device)
    E = pc.add_lookup_parameters((6, 4), init=dy.NumpyInitializer(rng.standard_normal((6, 4))), device=device)
    return pc, W, b, E


def loss_of(device, W, b, E, words, labels, scale=1.0):
    """Softmax loss over a batch of looked-up rows (repeated words add their gradients)."""
    dy.renew_cg()
    x = dy.lookup_batch(E, words)
    scores = dy.affine_transform([dy.parameter(b), dy.parameter(W), x])
    loss = dy.sum_batches(dy.pickneglogsoftmax_batch(scores, labels)) * scale
    assert loss.device() == device
    return loss


def train(device, make_trainer, steps=5, weight_decay=0.0, sparse=True):
    dy.init(seed=1, device=device)
    pc, W, b, E = build(device)
    pc.set_weight_decay(weight_decay)
    trainer = make_trainer(pc)
    trainer.set_sparse_updates(sparse)
    rng = np.random.default_rng(5)
    for step in range(steps):
        words = [int(w) for w in rng.integers(0, 4, 5)]  # rows 4, 5 never used; repeats within a batch
        words[1] = words[0]
        labels = [int(v) for v in rng.integers(0, 3, 5)]
        # Every other step a large loss, so that the gradient norm is clipped.
        loss_of(device, W, b, E, words, labels, scale=20.0 if step % 2 else 1.0).backward()
        trainer.update()
    return [W.as_array(), b.as_array(), E.as_array()], trainer._t


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_on_emu_equals_the_cpu(name):
    cpu, cpu_trainer = train("CPU", TRAINERS[name])
    emu, emu_trainer = train("EMU:0", TRAINERS[name])
    assert cpu_trainer.clips > 0 and emu_trainer.clips == cpu_trainer.clips  # clipping ran on both
    *_, E0 = build("CPU")
    E0 = E0.as_array()
    assert not np.allclose(cpu[2][:4], E0[:4])  # it trained ...
    np.testing.assert_array_equal(emu[2][4:], E0[4:])  # ... and rows never looked up were left alone (sparse)
    for a, c in zip(emu, cpu):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_weight_decay_and_dense_lookup_updates_on_emu_equal_the_cpu(name):
    cpu, _ = train("CPU", TRAINERS[name], weight_decay=0.01, sparse=False)
    emu, _ = train("EMU:0", TRAINERS[name], weight_decay=0.01, sparse=False)
    undecayed, _ = train("CPU", TRAINERS[name], sparse=False)
    assert not np.allclose(cpu[0], undecayed[0], rtol=1e-4, atol=1e-5)  # the decay mattered
    for a, c in zip(emu, cpu):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)


def test_trainer_state_stays_on_the_device_and_reads_back_as_on_the_cpu():
    states = []
    for device in ("CPU", "EMU:0"):
        dy.init(seed=1, device=device)
        pc, W, b, E = build(device)
        trainer = dy.AdamTrainer(pc, alpha=0.05)
        loss_of(device, W, b, E, [1, 1, 2], [0, 1, 2]).backward()
        trainer.update()
        states.append([np.asarray(trainer._t._state_of(p)) for p in (W, E)])
    for a, c in zip(*states):
        assert a.size > 0
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-7)


def test_resident_parameters_are_not_copied_per_graph():
    dy.init(seed=1, device="EMU:0")
    pc, W, b, E = build("EMU:0")
    trainer = dy.AdamTrainer(pc, alpha=0.01)
    start = traffic()
    loss_of("EMU:0", W, b, E, [0, 1, 1], [0, 1, 2]).backward()
    trainer.update()
    first = traffic()
    # The first graph uploads the values, W, b and E once (zeroed gradients and trainer
    # state are zero-filled on the device, not copied).
    assert first[0] - start[0] == 4 * (12 + 3 + 24)
    assert first[1] == start[1]
    for _ in range(4):
        loss_of("EMU:0", W, b, E, [2, 3, 3], [1, 1, 0]).backward()
        trainer.update()
    assert traffic() == first  # four more graphs and updates: nothing copied
    values = W.as_array()  # a host read copies the values down, once
    assert traffic() == (first[0], first[1] + 4 * 12)
    W.as_array()
    loss_of("EMU:0", W, b, E, [0], [0]).value()
    assert traffic() == (first[0], first[1] + 4 * 12)  # the device copy stayed current
    W.set_value(values * 2)  # a host write: the next graph uploads W again, only W
    loss_of("EMU:0", W, b, E, [0], [0]).value()
    assert traffic() == (first[0] + 4 * 12, first[1] + 4 * 12)


def test_lookup_scatter_add_sums_repeated_indices():
    dy.init(device="EMU:0")
    rng = np.random.default_rng(3)
    table = rng.standard_normal((5, 3)).astype(np.float32)
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((5, 3), init=dy.NumpyInitializer(table), device="EMU:0")
    words = [4, 2, 4, 4, 0, 2]
    weights = rng.standard_normal((3, len(words))).astype(np.float32)
    dy.renew_cg()
    x = dy.lookup_batch(E, words)
    np.testing.assert_allclose(x.npvalue(), table[words].T, rtol=1e-6)  # the gather
    loss = dy.sum_batches(dy.sum_elems(dy.cmult(x, dy.inputTensor(weights, batched=True))))
    loss.backward()
    expected = np.zeros_like(table)
    np.add.at(expected, words, weights.T)
    np.testing.assert_allclose(E.grad_as_array(), expected, rtol=1e-5, atol=1e-6)
    assert sorted(E._touched_rows()) == [0, 2, 4]
    # A second backward before an update adds to the resident gradient.
    dy.renew_cg()
    dy.sum_elems(dy.lookup(E, 1)).backward()
    expected[1] += 1.0
    np.testing.assert_allclose(E.grad_as_array(), expected, rtol=1e-5, atol=1e-6)


def test_whole_table_and_parameter_nodes_use_the_resident_values():
    dy.init(device="EMU:0")
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((3, 2), init=dy.NumpyInitializer(np.arange(6.0).reshape(3, 2)))
    W = pc.add_parameters((2, 2), init=dy.NumpyInitializer(np.eye(2)))
    assert E._device == "EMU:0" and W._device == "EMU:0"  # init's default device
    dy.renew_cg()
    y = dy.sum_elems(dy.parameter(W) * dy.parameter(E))
    np.testing.assert_allclose(y.value(), np.arange(6.0).sum())
    y.backward()
    np.testing.assert_allclose(E.grad_as_array(), np.ones((3, 2)))
    np.testing.assert_allclose(W.grad_as_array(), np.full((2, 2), 0.0) + np.arange(6.0).reshape(3, 2).T.sum(1))
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.5)
    trainer.set_clip_threshold(0)  # no clipping
    trainer.update()
    np.testing.assert_allclose(E.as_array(), np.arange(6.0).reshape(3, 2) - 0.5)
    np.testing.assert_allclose(E.grad_as_array(), 0)  # the resident gradient was cleared on the device


def test_host_reads_and_writes_of_device_parameters():
    dy.init(device="EMU:0")
    pc = dy.ParameterCollection()
    W = pc.add_parameters((2, 3), init=dy.NumpyInitializer(np.arange(6.0).reshape(2, 3)))
    E = pc.add_lookup_parameters((4, 2), init=0.5)
    dy.renew_cg()
    dy.sum_elems(dy.parameter(W)).value()  # resident now
    W.scale(2.0)
    np.testing.assert_allclose(dy.parameter(W).npvalue(), 2 * np.arange(6.0).reshape(2, 3))
    W.clip_inplace(0.0, 5.0)
    np.testing.assert_allclose(W.as_array(), np.minimum(2 * np.arange(6.0).reshape(2, 3), 5.0))
    W.zero()
    dy.renew_cg()
    assert dy.sum_elems(dy.parameter(W)).value() == 0.0
    E.init_row(2, [1.0, -1.0])
    dy.renew_cg()
    np.testing.assert_allclose(dy.lookup(E, 2).npvalue(), [1.0, -1.0])
    np.testing.assert_allclose(E.row_as_array(2), [1.0, -1.0])
    E.scale(4.0)
    dy.renew_cg()
    np.testing.assert_allclose(dy.lookup(E, 0).npvalue(), [2.0, 2.0])
    E.init_from_array(np.arange(8.0).reshape(4, 2))
    dy.renew_cg()
    np.testing.assert_allclose(dy.lookup_batch(E, [3, 0]).npvalue(), [[6.0, 0.0], [7.0, 1.0]])
    dy.renew_cg()
    dy.sum_elems(dy.parameter(W) * 3.0).backward()
    W.scale_gradient(0.5)
    np.testing.assert_allclose(W.grad_as_array(), np.full((2, 3), 1.5))


@pytest.mark.parametrize("fmt", ["dynagraph", "dynet"])
def test_save_and_load_round_trip_of_device_parameters(tmp_path, fmt):
    dy.init(seed=1, device="EMU:0")
    pc, W, b, E = build("EMU:0")
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.3)
    loss_of("EMU:0", W, b, E, [1, 2], [0, 1]).backward()
    trainer.update()  # the current values exist only on the device until saved
    trained = [p.as_array() for p in (W, b, E)]
    dy.save(str(tmp_path / "m"), [W, b, E], format=fmt)
    pc2 = dy.ParameterCollection()
    W2, b2, E2 = dy.load(str(tmp_path / "m"), pc2)
    assert W2._device == "EMU:0"
    for p, v in zip((W2, b2, E2), trained):
        np.testing.assert_allclose(p.as_array(), v, rtol=1e-6)
    dy.renew_cg()
    np.testing.assert_allclose(dy.lookup(E2, 2).npvalue(), trained[2][2], rtol=1e-6)


def test_populate_and_text_save_of_device_parameters(tmp_path):
    dy.init(seed=1, device="EMU:0")
    pc, W, b, E = build("EMU:0", seed=4)
    loss_of("EMU:0", W, b, E, [0, 3], [2, 2]).backward()
    dy.SimpleSGDTrainer(pc, learning_rate=0.3).update()
    pc.save(str(tmp_path / "m.txt"))
    pc2, W2, b2, E2 = build("EMU:0", seed=9)
    dy.renew_cg()
    dy.sum_elems(dy.parameter(W2)).value()  # W2 resident before populate overwrites it from the host
    pc2.populate(str(tmp_path / "m.txt"))
    for p, q in zip((W, b, E), (W2, b2, E2)):
        np.testing.assert_array_equal(q.as_array(), p.as_array())
    dy.renew_cg()
    np.testing.assert_allclose(dy.parameter(W2).npvalue(), W.as_array())


def test_cpu_parameter_in_a_device_graph_and_back():
    """The copy path: a CPU parameter moved onto EMU:0, an EMU:0 parameter moved to the CPU."""
    pc = dy.ParameterCollection()
    A = pc.add_parameters((2, 2), init=dy.NumpyInitializer(np.eye(2) * 3), device="CPU")
    B = pc.add_parameters((2, 2), init=dy.NumpyInitializer(np.ones((2, 2))), device="EMU:0")
    dy.renew_cg()
    a = dy.to_device(dy.parameter(A), "EMU:0")
    bb = dy.to_device(dy.parameter(B), "CPU")
    y = dy.to_device(dy.sum_elems(a * dy.parameter(B)), "CPU") + dy.sum_elems(bb)
    y.backward()
    np.testing.assert_allclose(A.grad_as_array(), np.full((2, 2), 2.0))
    np.testing.assert_allclose(B.grad_as_array(), np.full((2, 2), 3.0) + 1.0)


def test_check_finite_names_the_device_parameter():
    dy.init(device="EMU:0")
    pc = dy.ParameterCollection()
    W = pc.add_parameters((2,), init=1.0, name="w_dev")
    trainer = dy.SimpleSGDTrainer(pc)
    trainer.set_check_finite(True)
    dy.renew_cg()
    dy.sum_elems(dy.log(dy.parameter(W) - 1.0)).backward()  # d log(0) = inf
    with pytest.raises(ValueError, match="w_dev"):
        trainer.update()
    np.testing.assert_array_equal(W.grad_as_array(), 0)  # cleared, skipped
    np.testing.assert_array_equal(W.as_array(), 1.0)


def test_distributed_optimizer_refuses_device_parameters_clearly():
    from dynagraph.distributed.optim import EngineOptimizer

    pc = dy.ParameterCollection()
    W = pc.add_parameters((2, 2), device="EMU:0", name="W")
    with pytest.raises(ValueError, match="'W' lives on EMU:0.*device='CPU'"):
        EngineOptimizer(("sgd", {"learning_rate": 0.1}), pc, {"W": W}, {})


def test_distributed_wire_reads_device_gradients():
    from dynagraph.distributed import wire

    pc = dy.ParameterCollection()
    W = pc.add_parameters((2, 3), init=1.0, device="EMU:0", name="W")
    E = pc.add_lookup_parameters((4, 3), init=1.0, device="EMU:0", name="E")
    dy.renew_cg()
    dy.sum_elems(dy.parameter(W) * dy.lookup(E, 2) * 2.0).backward()
    np.testing.assert_allclose(wire.dense_grad(W), np.full((2, 3), 2.0))
    rows, g = wire.lookup_grad(E)
    assert rows.tolist() == [2]
    np.testing.assert_allclose(g, np.full((1, 3), 4.0))
    wire.set_values(pc, {W.name(): np.full((2, 3), 5.0)})
    dy.renew_cg()
    np.testing.assert_allclose(dy.parameter(W).npvalue(), 5.0)  # written on the host, uploaded again


def test_bad_device_name_on_a_parameter_is_a_clear_error():
    pc = dy.ParameterCollection()
    with pytest.raises(RuntimeError, match="Invalid device name: TPU:0"):  # DyNet's error
        pc.add_parameters((2,), device="TPU:0")

"""The op table on the emulated device EMU:0: every op spec (tests/ops/<family>/<family>_specs.py)
whose op has a device kernel is built twice, on the CPU and on EMU:0, and the
values and the gradients of every input must agree within a tolerance (the
CPU results are themselves checked against NumPy and finite differences in
tests/ops/test_ops.py). EMU:0 runs the same kernel bodies a CUDA build launches
on a GPU, so this is the GPU path's op test without a GPU."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynagraph as dy
from dynagraph import _core
from op_specs import all_specs
from test_ops import make_inputs

DEVICE = "EMU:0"
DEVICE_OPS = set(_core.device_op_names(DEVICE).split())
# to_device moves values off the device (tests/device/test_device.py and its op spec cover it).
SPECS = [s for s in all_specs() if s.build is not None and s.op in DEVICE_OPS and s.op != "to_device"]
# Specs of ops with no device kernel: construction on the device must refuse them.
CPU_ONLY = [s for s in all_specs() if s.build is not None and s.op not in DEVICE_OPS]


def deterministic(spec):
    """Specs whose CPU values the device must reproduce: those with a NumPy reference, and the
    batch reductions (their values are checked in test_reduce.py); not the seeded random ones."""
    return spec.ref is not None or spec.extra.get("covered_by", "").startswith("test_reduce.py")


def run(spec, arrays, is_batched, weights, device):
    """Value of the spec's op and the gradients of its inputs for loss = sum(y * weights)."""
    dy.renew_cg()
    _core.set_default_device(device)  # constants a spec builds go to the device too
    try:
        xs = [dy.inputTensor(a, batched=b) for a, b in zip(arrays, is_batched)]
        y = spec.build(*xs)
        assert y.device() == device
        value = y.npvalue()
        if weights is None:
            return value, None
        w = dy.inputTensor(weights, batched=y.dim()[1] > 1)
        loss = dy.sum_batches(dy.sum_elems(dy.cmult(y, w)))
        loss.backward(full=True)
        return value, [x.gradient() for x in xs]
    finally:
        _core.set_default_device("CPU")


def test_op_table_device_facts_match_the_engine():
    """op_table.def's DG_DEV_GPU column names exactly the ops the device op table registers."""
    with_gpu = {row["name"] for row in _core.op_table() if "GPU" in row["devices"]}
    assert len(with_gpu) > 47
    assert with_gpu == DEVICE_OPS


def test_every_device_op_has_a_spec_that_runs_on_the_device():
    assert {"tanh", "matmul", "affine_transform", "softmax", "pickneglogsoftmax", "concatenate",
            "pick", "sum_elems", "dropout", "parameter", "lookup"} <= DEVICE_OPS
    runnable = {s.op for s in SPECS if deterministic(s)}
    # The random inputs draw other numbers than the CPU: tests/test_device_random.py checks their distributions.
    random_inputs = {"random_normal", "random_uniform", "random_bernoulli", "random_gumbel"}
    without_spec = DEVICE_OPS - runnable - random_inputs - {"input", "constant", "parameter", "lookup",
                                                            "lookup_table", "to_device"}
    assert without_spec == set(), "device ops no op spec runs on the device"


@pytest.mark.parametrize("spec", [s for s in SPECS if deterministic(s)],
                         ids=lambda s: s.id)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), batch=st.sampled_from([1, 2, 3]))
def test_device_matches_cpu(spec, seed, batch):
    compare(spec, seed, batch)


@pytest.mark.parametrize("spec", [s for s in SPECS if deterministic(s)],
                         ids=lambda s: s.id)
def test_device_matches_cpu_unbatched_and_batched(spec):
    """Both paths of every kernel, whatever hypothesis draws: one sample, then a batch of 3."""
    compare(spec, 0, 1)
    if spec.batch:
        compare(spec, 1, 3)


def compare(spec, seed, batch):
    if batch > 1 and not spec.batch:
        batch = 1
    rng = np.random.default_rng(seed)
    arrays, is_batched = make_inputs(spec, rng, batch)
    cpu_value, _ = run(spec, arrays, is_batched, None, "CPU")
    weights = rng.standard_normal(cpu_value.shape)
    cpu_value, cpu_grads = run(spec, arrays, is_batched, weights if spec.grad else None, "CPU")
    dev_value, dev_grads = run(spec, arrays, is_batched, weights if spec.grad else None, DEVICE)
    tol = max(spec.rtol, 1e-4)
    np.testing.assert_allclose(dev_value, cpu_value, rtol=tol, atol=max(spec.atol, 1e-5))
    if spec.grad:
        for k, (g_dev, g_cpu) in enumerate(zip(dev_grads, cpu_grads)):
            np.testing.assert_allclose(g_dev, g_cpu, rtol=1e-3, atol=1e-4, err_msg=f"gradient of input {k}")


@pytest.mark.parametrize("spec", CPU_ONLY, ids=lambda s: s.id)
def test_ops_without_a_kernel_are_refused_at_construction(spec):
    """Every op spec whose op has no device kernel: a ValueError naming the op and the device when the node
    is built, before any forward pass."""
    rng = np.random.default_rng(0)
    arrays, is_batched = make_inputs(spec, rng, 1)
    dy.renew_cg()
    _core.set_default_device(DEVICE)
    try:
        xs = [dy.inputTensor(a, batched=b) for a, b in zip(arrays, is_batched)]
        with pytest.raises(ValueError, match=rf"\b{spec.op}\w*: this op has no kernel on device EMU:0"):
            spec.build(*xs)
    finally:
        _core.set_default_device("CPU")
    assert all(x.device() == DEVICE for x in xs)


@pytest.mark.parametrize("x", [np.array([1.0, 1.0, 0.2, 1.0, -3.0, 0.9], np.float32),  # ties in the support
                               np.random.default_rng(5).standard_normal(37).astype(np.float32) * 0.3],
                         ids=["ties", "long"])
def test_sparsemax_threshold_without_sorting_matches_the_cpu(x):
    """The device's sort-free threshold (kernels/sparse.h) against the CPU's sorted scan."""
    values = []
    for device in ("CPU", DEVICE):
        dy.renew_cg()
        e = dy.inputTensor(x, device=device)
        y = dy.sparsemax(e)
        values.append(y.npvalue())
        dy.sum_elems(dy.cmult(y, y)).backward(full=True)
        values.append(e.gradient())
    np.testing.assert_allclose(values[2], values[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values[3], values[1], rtol=1e-4, atol=1e-5)
    assert abs(values[0].sum() - 1) < 1e-5 and (values[0] == 0).any()


def test_a_line_of_minus_infinity_on_the_device_matches_the_cpu():
    """kern::line_logsumexp returns -inf for a line that is all -inf (logsumexp_dim's result), while
    softmax, log_softmax and pickneglogsoftmax of such a line stay NaN (-inf - -inf), as on the CPU;
    the finite column beside it is unaffected."""
    x = np.array([[-np.inf, 1.0], [-np.inf, 2.0], [-np.inf, 0.5]], np.float32)
    results = {}
    for device in ("CPU", DEVICE):
        dy.renew_cg()
        e = dy.inputTensor(x, device=device)
        col = dy.inputTensor(x[:, 0].copy(), device=device)
        results[device] = [dy.logsumexp_dim(e, 0).npvalue(), dy.log_softmax(e).npvalue(),
                           dy.softmax(e).npvalue(), dy.pickneglogsoftmax(col, 1).npvalue()]
    lse, log_sm, sm, pnls = results[DEVICE]
    assert np.isneginf(lse[0]) and np.isclose(lse[1], np.log(np.exp(x[:, 1]).sum()), rtol=1e-6)
    assert np.isnan(log_sm[:, 0]).all() and np.isnan(sm[:, 0]).all() and np.isnan(pnls).all()
    np.testing.assert_allclose(sm[:, 1], np.exp(x[:, 1]) / np.exp(x[:, 1]).sum(), rtol=1e-6)
    for got, want in zip(results[DEVICE], results["CPU"]):
        np.testing.assert_allclose(got, want, rtol=1e-6)  # NaN where the CPU has NaN, -inf where it has -inf


@pytest.mark.parametrize("build", [lambda e: dy.maxpooling2d(e, [2, 3], [1, 1]),
                                   lambda e: dy.maxpooling2d(e, [3, 2], [2, 1], is_valid=False),
                                   lambda e: dy.kmax_pooling(e, 3, 1),
                                   lambda e: dy.kmax_pooling(e, 2, 0)],
                         ids=["pool_overlapping", "pool_same", "kmax_axis1", "kmax_axis0"])
def test_ties_route_the_gradient_as_on_the_cpu(build):
    """With repeated values the device picks the same element as the CPU: maxpooling2d the first maximum of
    a window in column-major order, kmax_pooling the earlier of equal entries (the op specs draw distinct
    values, so they never meet a tie)."""
    x = np.array([[1, 3, 3, 0, 3], [3, 1, 3, 3, 2], [0, 3, 1, 3, 3], [3, 3, 2, 1, 3]], np.float32)
    results = []
    for device in ("CPU", DEVICE):
        dy.renew_cg()
        e = dy.inputTensor(x, device=device)
        y = build(e)
        w = dy.inputTensor(np.arange(1, y.npvalue().size + 1, dtype=np.float32).reshape(y.npvalue().shape, order="F"),
                           device=device)
        dy.sum_elems(dy.cmult(y, w)).backward(full=True)
        results.append((y.npvalue(), e.gradient()))
    (y_cpu, g_cpu), (y_dev, g_dev) = results
    np.testing.assert_array_equal(y_dev, y_cpu)
    np.testing.assert_array_equal(g_dev, g_cpu)
    assert g_cpu.sum() == np.arange(1, y_cpu.size + 1).sum()  # each output's weight lands on one element

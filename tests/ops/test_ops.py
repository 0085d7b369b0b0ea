"""Table-driven op tests: every op in dynagraph._core.op_table() has a spec in
tests/ops/<family>/<family>_specs.py; values are checked against NumPy and gradients against
central finite differences, for random inputs and batch sizes (hypothesis)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynagraph as dy
from dynagraph import _core
from op_specs import all_specs

SPECS = all_specs()
RUNNABLE = [s for s in SPECS if s.build is not None]


def test_every_registered_op_has_a_spec():
    registered = {row["name"] for row in _core.op_table()}
    specced = {s.op for s in SPECS}
    assert registered - specced == set(), "ops without a test spec"
    assert specced - registered == set(), "specs for ops that are not registered"


def test_op_table_is_well_formed():
    names = [row["name"] for row in _core.op_table()]
    assert len(names) == len(set(names))
    for row in _core.op_table():
        assert row["arity"] >= -1


def make_inputs(spec, rng, batch):
    shapes = spec.shapes(rng)
    sample = spec.sample or (lambda r, s: r.standard_normal(s).astype(np.float32))
    batched = set(range(len(shapes))) if spec.batch_args is None else set(spec.batch_args)
    arrays = []
    for k, s in enumerate(shapes):
        if batch > 1 and k in batched:
            arrays.append(np.stack([sample(rng, s) for _ in range(batch)], axis=-1))
        else:
            arrays.append(sample(rng, s))
    is_batched = [batch > 1 and k in batched for k in range(len(shapes))]
    return arrays, is_batched


def build(spec, arrays, is_batched):
    dy.renew_cg()
    xs = [dy.inputTensor(a, batched=b) for a, b in zip(arrays, is_batched)]
    return xs, spec.build(*xs)


def reference(spec, arrays, is_batched, batch):
    outs = []
    for b in range(batch):
        args = [a[..., b] if ib else a for a, ib in zip(arrays, is_batched)]
        outs.append(np.asarray(spec.ref(*[x.astype(np.float64) for x in args]), dtype=np.float64))
    return outs[0] if batch == 1 else np.stack(outs, axis=-1)


@pytest.mark.parametrize("spec", [s for s in RUNNABLE if s.ref is not None], ids=lambda s: s.id)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), batch=st.sampled_from([1, 1, 2, 3]))
def test_values_match_numpy(spec, seed, batch):
    if batch > 1 and not spec.batch:
        batch = 1
    rng = np.random.default_rng(seed)
    arrays, is_batched = make_inputs(spec, rng, batch)
    _, y = build(spec, arrays, is_batched)
    got = y.npvalue()
    want = reference(spec, arrays, is_batched, batch if any(is_batched) else 1)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=spec.rtol, atol=spec.atol)
    assert got.size == want.size


def loss_value(spec, arrays, is_batched, weights):
    _, y = build(spec, arrays, is_batched)
    return float(np.sum(y.npvalue().astype(np.float64).reshape(weights.shape) * weights))


@pytest.mark.parametrize("spec", [s for s in RUNNABLE if s.grad], ids=lambda s: s.id)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), batch=st.sampled_from([1, 2]))
def test_gradients_match_finite_differences(spec, seed, batch):
    if batch > 1 and not spec.batch:
        batch = 1
    rng = np.random.default_rng(seed)
    arrays, is_batched = make_inputs(spec, rng, batch)
    xs, y = build(spec, arrays, is_batched)
    weights = rng.standard_normal(y.npvalue().shape)
    w = dy.inputTensor(weights, batched=y.dim()[1] > 1)
    loss = dy.dot_product(y, w)  # one value per batch element: backward sums them
    loss.backward(full=True)
    analytic = [x.gradient() for x in xs]
    eps = 1e-2
    for k, a in enumerate(arrays):
        numeric = np.zeros(a.shape, dtype=np.float64)
        for idx in np.ndindex(a.shape):
            saved = a[idx]
            a[idx] = saved + eps
            up = loss_value(spec, arrays, is_batched, weights)
            a[idx] = saved - eps
            down = loss_value(spec, arrays, is_batched, weights)
            a[idx] = saved
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(analytic[k].reshape(numeric.shape), numeric, rtol=spec.grad_tol,
                                   atol=spec.grad_tol, err_msg=f"gradient of input {k}")

"""Random behaviour of the noise family: masks are drawn from the graph RNG in
forward and reused by backward; kept units are scaled by 1/(1-p)."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

N = 20000


def value_and_grad(make, x_arr, batched=False):
    """(value, d sum(y) / dx) for y = make(x)."""
    dy.renew_cg()
    x = dy.inputTensor(x_arr, batched=batched)
    y = make(x)
    v = y.npvalue()
    n = int(np.prod(y.dim()[0]))
    ones = dy.inputTensor(np.ones(v.shape, dtype=np.float32), batched=batched)
    dy.dot_product(dy.reshape(y, (n,)), dy.reshape(ones, (n,))).backward(full=True)
    return v, x.gradient()


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_scales_kept_units_and_gradient_uses_the_same_mask(p):
    _core.set_seed(11)
    v, g = value_and_grad(lambda x: dy.dropout(x, p), np.ones(N, dtype=np.float32))
    kept = v != 0
    np.testing.assert_allclose(v[kept], 1 / (1 - p), rtol=1e-6)
    np.testing.assert_array_equal(g, v)  # x = 1: grad = mask * scale = value
    sigma = np.sqrt(p * (1 - p) / N)
    assert abs(kept.mean() - (1 - p)) < 5 * sigma


def test_dropout_gradient_with_general_input():
    _core.set_seed(3)
    x = np.random.default_rng(0).standard_normal((30, 20)).astype(np.float32) + 5
    v, g = value_and_grad(lambda e: dy.dropout(e, 0.5), x)
    np.testing.assert_allclose(v, x * g, rtol=1e-6)
    assert set(np.unique(g)) == {0.0, 2.0}


def test_dropout_is_reproducible_with_a_seed():
    def draw(seed):
        dy.init(seed=seed)
        dy.renew_cg()
        return dy.dropout(dy.inputTensor(np.ones(500)), 0.5).npvalue()

    np.testing.assert_array_equal(draw(7), draw(7))
    assert not np.array_equal(draw(7), draw(8))
    _core.set_seed(5)
    a = dy.dropout(dy.inputTensor(np.ones(500)), 0.5).npvalue()
    _core.set_seed(5)
    b = dy.dropout(dy.inputTensor(np.ones(500)), 0.5).npvalue()
    np.testing.assert_array_equal(a, b)


def test_dropout_zero_is_the_identity():
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    for make in (lambda e: dy.dropout(e, 0.0), lambda e: dy.dropout_dim(e, 0, 0.0),
                 lambda e: dy.dropout_batch(e, 0.0), lambda e: dy.block_dropout(e, 0.0),
                 lambda e: dy.noise(e, 0.0)):
        v, g = value_and_grad(make, x)
        np.testing.assert_array_equal(v, x)
        np.testing.assert_array_equal(g, np.ones_like(x))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])  # p = 1 is DyNet's NaN: test_dynet_contract.py
@pytest.mark.parametrize("make", [lambda x, p: dy.dropout(x, p), lambda x, p: dy.dropout_dim(x, 0, p),
                                  lambda x, p: dy.dropout_batch(x, p), lambda x, p: dy.block_dropout(x, p)],
                         ids=["dropout", "dropout_dim", "dropout_batch", "block_dropout"])
def test_dropout_probability_outside_unit_interval_raises(make, p):
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"dropout.*p must be in \[0, 1\].*\{3\}"):
        make(dy.inputTensor(np.ones(3)), p)


def test_dropout_dim_shares_the_mask_along_the_axis():
    _core.set_seed(2)
    x = np.ones((40, 50, 3), dtype=np.float32)  # (40, 50) x batch 3
    v, g = value_and_grad(lambda e: dy.dropout_dim(e, 0, 0.5), x, batched=True)
    assert (v == v[:1]).all()  # whole columns (axis 0 shared) per batch element
    assert not (v[..., 0] == v[..., 1]).all()  # batch elements have their own masks
    np.testing.assert_array_equal(g, v)
    assert set(np.unique(v)) == {0.0, 2.0}
    v, g = value_and_grad(lambda e: dy.dropout_dim(e, 1, 0.5), x, batched=True)
    assert (v == v[:, :1]).all()  # whole rows
    np.testing.assert_array_equal(g, v)


def test_dropout_dim_on_a_middle_axis():
    _core.set_seed(4)
    x = np.ones((6, 7, 8), dtype=np.float32)
    v, g = value_and_grad(lambda e: dy.dropout_dim(e, 1, 0.5), x)
    assert (v == v[:, :1, :]).all()
    assert not (v == v[:1, :, :]).all()
    np.testing.assert_array_equal(g, v)


def test_dropout_dim_axis_out_of_range():
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"dropout_dim: axis 2 does not exist.*\{3,4\}"):
        dy.dropout_dim(dy.inputTensor(np.ones((3, 4))), 2, 0.5)


def test_dropout_batch_drops_whole_batch_elements():
    _core.set_seed(6)
    x = np.ones((5, 4, 400), dtype=np.float32)
    v, g = value_and_grad(lambda e: dy.dropout_batch(e, 0.25), x, batched=True)
    per_elem = v.reshape(20, 400)
    assert (per_elem == per_elem[:1]).all()
    assert set(np.unique(v)) == {0.0, np.float32(1 / 0.75)}
    assert abs((per_elem[0] != 0).mean() - 0.75) < 5 * np.sqrt(0.75 * 0.25 / 400)
    np.testing.assert_array_equal(g, v)


def test_block_dropout_drops_all_or_nothing():
    outcomes = set()
    for seed in range(1, 30):
        _core.set_seed(seed)
        v, g = value_and_grad(lambda e: dy.block_dropout(e, 0.5), np.ones((3, 4), dtype=np.float32))
        assert len(np.unique(v)) == 1
        np.testing.assert_array_equal(g, v)
        outcomes.add(float(v[0, 0]))
    assert outcomes == {0.0, 2.0}


def test_noise_is_gaussian_and_gradient_passes_through():
    _core.set_seed(9)
    x = np.full(N, 3.0, dtype=np.float32)
    v, g = value_and_grad(lambda e: dy.noise(e, 0.5), x)
    d = v - x
    assert abs(d.mean()) < 5 * 0.5 / np.sqrt(N)
    assert abs(d.std() - 0.5) < 0.02
    np.testing.assert_array_equal(g, np.ones_like(x))
    _core.set_seed(9)
    v2, _ = value_and_grad(lambda e: dy.noise(e, 0.5), x)
    np.testing.assert_array_equal(v, v2)


def test_noise_negative_stddev_raises():
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"noise: stddev must be finite and >= 0.*\{3\}"):
        dy.noise(dy.inputTensor(np.ones(3)), -0.1)


def test_mask_is_redrawn_only_on_recalculation():
    _core.set_seed(12)
    dy.renew_cg()
    y = dy.dropout(dy.inputTensor(np.ones(1000)), 0.5)
    a = y.npvalue()
    np.testing.assert_array_equal(a, y.npvalue())
    b = y.npvalue(recalculate=True)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("p", [float("nan"), -0.5, 1.5, float("inf")])
def test_random_bernoulli_refuses_p_outside_0_1_nan_included(p):
    # probe27: NaN passed the check (p < 0 || p > 1 is false for NaN) and drew zeros everywhere.
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"random_bernoulli: p must be in \[0, 1\], got"):
        dy.random_bernoulli((3,), p)

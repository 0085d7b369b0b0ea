"""Smoke tests for the RBM zoo program: the CD loss's gradient is the exact NLL gradient when the
negative phase is the exact model expectation, CD-k with large k approaches it, exact log Z by hidden
enumeration agrees with visible enumeration and AIS, and training raises the likelihood."""
import numpy as np
import pytest

import dynagraph as dy
from zoo_helpers import load_example

rbm_mod = load_example("rbm")


def tiny_rbm(seed=0, n_visible=6, n_hidden=4, scale=1.0):
    dy.renew_cg()
    pc = dy.ParameterCollection()
    rbm = rbm_mod.RBM(n_visible, n_hidden, pc)
    rng = np.random.default_rng(seed)
    rbm.W.set_value(rng.normal(0, scale, (n_hidden, n_visible)).astype(np.float32))
    rbm.b.set_value(rng.normal(0, scale, n_visible).astype(np.float32))
    rbm.c.set_value(rng.normal(0, scale, n_hidden).astype(np.float32))
    data = (rng.random((10, n_visible)) < 0.5).astype(np.float64)
    return rbm, data


def exact_nll(rbm, data, params):
    """Mean -log p(v) over data, by enumerating every visible state (independent of exact_log_z)."""
    states = rbm_mod.all_states(rbm.n_visible)
    log_z = np.logaddexp.reduce(-rbm.np_free_energy(states, params))
    return float(np.mean(rbm.np_free_energy(data, params)) + log_z)


def grads(rbm, v_data, v_neg, weights=None):
    for p in (rbm.W, rbm.b, rbm.c):
        p.scale_gradient(0.0)                               # gradients accumulate until a trainer update
    dy.renew_cg()
    rbm.cd_loss(v_data, v_neg, weights).backward()
    return np.concatenate([p.grad_as_array().ravel().astype(np.float64) for p in (rbm.W, rbm.b, rbm.c)])


def model_probs(rbm):
    states = rbm_mod.all_states(rbm.n_visible)
    log_p = -rbm.np_free_energy(states)
    return states, np.exp(log_p - np.logaddexp.reduce(log_p))


def test_exact_negative_phase_gives_exact_gradient():
    rbm, data = tiny_rbm()
    states, probs = model_probs(rbm)
    g = grads(rbm, data, states, probs)
    # Central finite differences of the exact NLL in float64.
    W, b, c = rbm.params()
    flat = np.concatenate([W.ravel(order="F"), b, c])      # grad_as_array is (H, V); match its C order below
    fd = []
    for i in range(flat.size):
        def nll(delta):
            f = flat.copy()
            f[i] += delta
            Wd = f[:W.size].reshape(W.shape, order="F")
            return exact_nll(rbm, data, (Wd, f[W.size:W.size + b.size], f[W.size + b.size:]))
        fd.append((nll(1e-5) - nll(-1e-5)) / 2e-5)
    fd = np.array(fd)
    fd = np.concatenate([fd[:W.size].reshape(W.shape, order="F").ravel(), fd[W.size:]])
    np.testing.assert_allclose(g, fd, rtol=1e-3, atol=1e-4)


def test_cd_k_approaches_exact_gradient_for_large_k():
    rbm, data = tiny_rbm(seed=1)
    states, probs = model_probs(rbm)
    exact = grads(rbm, data, states, probs)
    rng = np.random.default_rng(2)
    chains = np.repeat(data, 400, axis=0)                   # 400 chains per data point, started at the data
    cd_long = grads(rbm, data, rbm.gibbs(chains, 30, rng))
    cd_1 = grads(rbm, data, rbm.gibbs(chains, 1, rng))
    err_long = np.linalg.norm(cd_long - exact) / np.linalg.norm(exact)
    err_1 = np.linalg.norm(cd_1 - exact) / np.linalg.norm(exact)
    assert err_long < 0.1, (err_long, err_1)
    assert err_1 > err_long                                  # CD-1 is biased on this model


def test_log_z_by_hidden_enumeration_and_ais():
    rbm, _ = tiny_rbm(seed=3, n_visible=8, n_hidden=5, scale=0.7)
    states, _ = model_probs(rbm)
    by_visible = float(np.logaddexp.reduce(-rbm.np_free_energy(states)))
    assert rbm_mod.exact_log_z(rbm) == pytest.approx(by_visible, abs=1e-9)
    ais, half = rbm_mod.ais_log_z(rbm, np.zeros(8), np.random.default_rng(0), n_runs=100, n_betas=1000)
    assert abs(ais - by_visible) < max(half, 0.05)


def test_cd_and_pcd_training_raise_likelihood():
    rng = np.random.default_rng(0)
    # Data from two prototypes with 5% bit flips: an easy target for a 2-hidden-unit RBM.
    protos = np.array([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1]], dtype=np.float64)
    x = protos[rng.integers(0, 2, 200)]
    x = np.abs(x - (rng.random(x.shape) < 0.05))
    for persistent in (False, True):
        dy.init(seed=5)
        pc = dy.ParameterCollection()
        rbm = rbm_mod.RBM(8, 3, pc)
        before = rbm_mod.mean_log_likelihood(rbm, x, rbm_mod.exact_log_z(rbm))
        rbm_mod.train_rbm(rbm, dy.MomentumSGDTrainer(pc, 0.05, 0.5), x, epochs=15, batch_size=20, k=1,
                          persistent=persistent, rng=rng, quiet=True)
        after = rbm_mod.mean_log_likelihood(rbm, x, rbm_mod.exact_log_z(rbm))
        assert after > before + 1.0, (persistent, before, after)

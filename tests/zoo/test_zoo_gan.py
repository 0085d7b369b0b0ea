"""Smoke tests for the ring GAN: the mode count on known samples, the minimax/non-saturating gradient
ratio exp(l) for one sample (with no gradient reaching D), and a short run that moves G onto the ring."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

gan_mod = load_example("gan")


def test_mode_coverage_on_known_samples():
    rng = np.random.default_rng(0)
    covered, quality, counts = gan_mod.mode_coverage(gan_mod.sample_ring(4000, rng))
    assert covered == 8 and quality > 0.98 and counts.sum() > 3900
    one = gan_mod.ring_modes()[3] + 0.01 * rng.normal(size=(500, 2))
    assert gan_mod.mode_coverage(one)[0] == 1
    assert gan_mod.mode_coverage(np.zeros((100, 2)))[:2] == (0, 0.0)


def g_grads(gan, z, kind):
    params = [p for wb in gan.G.layers + gan.D.layers for p in wb]
    for p in params:
        p.scale_gradient(0.0)
    dy.renew_cg()
    logit = gan.D(gan.G(dy.inputVector(z)), const=True)
    gan.g_loss(logit, kind).backward()
    g = np.concatenate([p.grad_as_array().ravel() for wb in gan.G.layers for p in wb])
    d = np.concatenate([p.grad_as_array().ravel() for wb in gan.D.layers for p in wb])
    return g.astype(np.float64), d, float(logit.value())


def test_minimax_gradient_is_nonsaturating_times_exp_logit():
    dy.init(seed=0)
    gan = gan_mod.GAN(n_noise=4, n_hidden=16)
    z = np.random.default_rng(1).normal(size=4)
    g_mm, d_mm, logit = g_grads(gan, z, "minimax")
    g_ns, d_ns, _ = g_grads(gan, z, "nonsaturating")
    np.testing.assert_allclose(g_mm, np.exp(logit) * g_ns, rtol=1e-3, atol=1e-7)
    assert np.linalg.norm(g_ns) > 0 and not d_mm.any() and not d_ns.any()


def test_short_training_moves_samples_onto_the_ring():
    rng = np.random.default_rng(0)
    dy.init(seed=0)
    gan = gan_mod.GAN(n_noise=4, n_hidden=32, lr=3e-3)
    before = np.abs(np.linalg.norm(gan.generate(500), axis=1) - 2).mean()
    gan_mod.train(gan, "nonsaturating", steps=800, batch_size=64, rng=rng, quiet=True)
    after = np.abs(np.linalg.norm(gan.generate(500), axis=1) - 2).mean()
    assert after < 0.5 * before and after < 0.4, (before, after)

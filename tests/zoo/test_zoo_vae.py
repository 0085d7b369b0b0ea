"""Smoke tests for the VAE: the KL term against NumPy, the reparameterised z has the encoder's mean and
variance, the ELBO is below the importance estimate of log p(x), and training raises the ELBO."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

vae_mod = load_example("vae")


def test_kl_matches_numpy_and_reparameterisation_moments():
    dy.init(seed=0)
    pc = dy.ParameterCollection()
    vae = vae_mod.VAE(pc, n_in=6, n_hidden=5, n_latent=3)
    rng = np.random.default_rng(0)
    mean_np, logvar_np = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    dy.renew_cg()
    mean, logvar = dy.inputTensor(mean_np, batched=True), dy.inputTensor(logvar_np, batched=True)
    kl = vae_mod.batch_values(vae.kl(mean, logvar))[:, 0]
    ref = 0.5 * np.sum(mean_np ** 2 + np.exp(logvar_np) - 1 - logvar_np, axis=0)
    np.testing.assert_allclose(kl, ref, rtol=1e-5)
    # z for one (mean, logvar) repeated 20000 times has that mean and variance.
    m, lv = np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, -2.0])
    dy.renew_cg()
    z = vae_mod.batch_values(vae.sample_z(dy.inputVector(m), dy.inputVector(lv), 20000))
    np.testing.assert_allclose(z.mean(axis=0), m, atol=0.05)
    np.testing.assert_allclose(z.var(axis=0), np.exp(lv), rtol=0.05)


def test_training_raises_elbo_and_bound_is_below_importance_estimate():
    dy.init(seed=1)
    rng = np.random.default_rng(1)
    protos = (rng.random((3, 16)) < 0.5).astype(np.float32)
    x = np.abs(protos[rng.integers(0, 3, 150)] - (rng.random((150, 16)) < 0.05)).astype(np.float32)
    pc = dy.ParameterCollection()
    vae = vae_mod.VAE(pc, n_in=16, n_hidden=16, n_latent=2)
    before = vae.mean_elbo(x)
    curve = vae_mod.train(vae, dy.AdamTrainer(pc, 0.01), x, epochs=15, batch_size=25, rng=rng, quiet=True)
    after = vae.mean_elbo(x)
    assert curve[-1] > curve[0] and after > before + 3.0, (before, after)
    assert vae.importance_log_p(x[:30], k=200) > vae.mean_elbo(x[:30]) - 0.05
    assert vae.reconstruct(x[:4]).shape == (4, 16) and vae.generate(3).shape == (3, 16)

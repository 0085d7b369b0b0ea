"""Bayes by Backprop: the closed-form KL against NumPy, weight draws with the posterior's mean and
deviation, and training that lowers the negative ELBO and classifies a toy task."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

bbb = load_example("bayes_by_backprop")


def test_kl_matches_numpy():
    dy.init(seed=0)
    pc = dy.ParameterCollection()
    layer = bbb.BayesianLayer(pc, 3, 2, rho_init=-1.0)
    rng = np.random.default_rng(0)
    for p in layer.mu + layer.rho:
        p.set_value(rng.normal(size=p.shape()).astype(np.float32))
    dy.renew_cg()
    _, sigmas = layer.sample()
    kl = layer.kl(sigmas, prior_sigma=0.5).value()
    ref = 0.0
    for mu, rho in zip(layer.mu, layer.rho):
        m, s = mu.as_array(), np.log1p(np.exp(rho.as_array()))
        ref += np.sum(np.log(0.5 / s) + (s ** 2 + m ** 2) / (2 * 0.25) - 0.5)
    np.testing.assert_allclose(kl, ref, rtol=1e-5)


def test_weight_draws_have_the_posterior_mean_and_deviation():
    dy.init(seed=1)
    pc = dy.ParameterCollection()
    layer = bbb.BayesianLayer(pc, 4, 3, rho_init=0.0)        # sigma = softplus(0) = log 2
    draws = []
    for _ in range(3000):
        dy.renew_cg()
        (W, _), _ = layer.sample()
        draws.append(W.npvalue())
    draws = np.array(draws)
    np.testing.assert_allclose(draws.mean(axis=0), layer.mu[0].as_array(), atol=0.06)
    np.testing.assert_allclose(draws.std(axis=0), np.full((3, 4), np.log(2.0)), rtol=0.08)


def test_training_lowers_the_negative_elbo_and_learns_a_toy_task():
    dy.init(seed=2)
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(3, 8)) * 2.0
    y = rng.integers(0, 3, 300)
    x = (centres[y] + rng.normal(size=(300, 8))).astype(np.float32)
    pc = dy.ParameterCollection()
    net = bbb.BayesMLP(pc, n_in=8, n_hidden=16, n_out=3, prior_sigma=1.0)
    curve = bbb.train(net, dy.AdamTrainer(pc, 0.01), x, y, epochs=15, batch_size=30, rng=rng, quiet=True)
    assert curve[-1] < curve[0] - 2.0, curve              # mostly the KL shrinking as sigma settles
    mc = net.mc_probs(x, 20)
    assert np.mean(mc.mean(axis=0).argmax(axis=1) == y) > 0.85
    assert mc.std(axis=0).max() > 1e-3                     # the draws differ: the weights are random

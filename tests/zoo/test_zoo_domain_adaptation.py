"""Gradient reversal: the domain loss's gradient reaches the feature extractor negated (and the
domain classifier's own gradient unchanged), and adaptation raises target accuracy."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

da = load_example("domain_adaptation")


def _domain_grads(model, pc, x):
    clear = dy.SimpleSGDTrainer(pc, learning_rate=0.0)
    clear.update()                                           # rate 0: only zeroes the gradients
    dy.renew_cg()
    dy.mean_batches(da.softplus(model.domain_logit(model.feature(da.batch_input(x))))).backward()
    return model.features[0][0].grad_as_array().copy(), model.domain[0][0].grad_as_array().copy()


def test_reversal_negates_the_gradient_reaching_the_features():
    dy.init(seed=0)
    pc = dy.ParameterCollection()
    model = da.DANN(pc, n_hidden=8)
    x, _ = da.moons(40, np.random.default_rng(0))
    f_flip, d_flip = _domain_grads(model, pc, x)
    model.ramp = -1.0                                         # scale_gradient(f, +1): an identity layer
    f_plain, d_plain = _domain_grads(model, pc, x)
    assert np.abs(f_plain).max() > 1e-4
    np.testing.assert_allclose(f_flip, -f_plain, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(d_flip, d_plain, rtol=1e-5, atol=1e-7)


def test_adaptation_raises_target_accuracy():
    class Args:
        n, angle, hidden, lr, steps, batch_size, quiet = 500, 35.0, 32, 1e-3, 3000, 64, True
    # Adversarial training is unstable seed by seed (the README lists a seed where it lost), so compare
    # the mean over three seeds; measured: +0.19 to +0.22 per seed on these.
    gains = []
    for seed in (1, 2, 3):
        adapted, source_only = da.run(seed, 1.0, Args), da.run(seed, 0.0, Args)
        assert source_only["source"] > 0.95 and adapted["source"] > 0.9
        gains.append(adapted["target"] - source_only["target"])
    assert np.mean(gains) > 0.08, gains

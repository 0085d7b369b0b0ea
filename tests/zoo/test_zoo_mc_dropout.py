"""Smoke tests for MC dropout: ECE on hand-made predictions, stochastic passes differ only with dropout,
the MC mean is a distribution, and training lowers the loss."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

mc_mod = load_example("mc_dropout")


def test_expected_calibration_error_by_hand():
    # 4 predictions at confidence 0.9, 3 of them right: one bin, |0.75 - 0.9| = 0.15.
    probs = np.array([[0.9, 0.1]] * 4)
    assert abs(mc_mod.expected_calibration_error(probs, np.array([0, 0, 0, 1])) - 0.15) < 1e-12
    # Two bins, each perfectly calibrated -> 0.
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [1.0, 0.0]])
    assert mc_mod.expected_calibration_error(probs, np.array([0, 1, 0])) < 1e-12


def test_passes_differ_only_with_dropout_and_training_lowers_loss():
    dy.init(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((60, 8)).astype(np.float32)
    y = (x[:, 0] > x[:, 1]).astype(np.int64)
    pc = dy.ParameterCollection()
    net = mc_mod.DropoutMLP(pc, n_in=8, n_hidden=32, n_out=2, p=0.3)
    mc = net.mc_probs(x, 5)
    assert mc.shape == (5, 60, 2) and np.abs(mc[0] - mc[1]).max() > 1e-3
    np.testing.assert_allclose(mc.mean(axis=0).sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(net.probs(x, False), net.probs(x, False))
    plain = mc_mod.DropoutMLP(pc, n_in=8, n_hidden=32, n_out=2, p=0.0)
    np.testing.assert_allclose(plain.mc_probs(x, 2)[0], plain.mc_probs(x, 2)[1])
    curve = mc_mod.train(net, dy.AdamTrainer(pc, 0.01), x, y, epochs=30, batch_size=20, rng=rng, quiet=True)
    assert curve[-1] < 0.6 * curve[0], curve
    assert mc_mod.scores(net.mc_probs(x, 20).mean(axis=0), y)["accuracy"] > 0.85

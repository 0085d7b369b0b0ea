"""Neural HMM: the forward recursion equals the sum over every state path, its gradient matches
finite differences, and unsupervised training approaches the true model's likelihood."""
import itertools

import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

hmm = load_example("nn_hmm")


def _model(seed=0, k=3, v=5):
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    model = hmm.NeuralHMM(pc, k, v, n_embed=4, n_hidden=6)
    rng = np.random.default_rng(seed)
    model.trans_logits.set_value(rng.normal(size=(k, k)).astype(np.float32))
    model.start_logits.set_value(rng.normal(size=k).astype(np.float32))
    return model, rng


def test_forward_equals_the_sum_over_all_paths():
    model, rng = _model()
    x = rng.integers(0, 5, size=(2, 4))
    dy.renew_cg()
    got = model.log_likelihood(x).npvalue().ravel()
    log_start, log_trans, log_emit = model.numpy_params()
    for n in range(len(x)):
        paths = [log_start[z[0]] + log_emit[x[n, 0], z[0]]
                 + sum(log_trans[z[t], z[t - 1]] + log_emit[x[n, t], z[t]] for t in range(1, 4))
                 for z in itertools.product(range(3), repeat=4)]
        np.testing.assert_allclose(got[n], np.logaddexp.reduce(paths), rtol=1e-5)
    np.testing.assert_allclose(got, hmm.forward_numpy(log_start, log_trans, log_emit, x)[0], rtol=1e-5)


def test_gradient_matches_finite_differences():
    model, rng = _model(1)
    x = rng.integers(0, 5, size=(3, 5))
    trans = model.trans_logits.as_array().copy()

    def log_p(values):
        model.trans_logits.set_value(values.astype(np.float32))
        dy.renew_cg()
        return float(dy.sum_batches(model.log_likelihood(x)).value())

    log_p(trans)
    dy.renew_cg()
    loss = dy.sum_batches(model.log_likelihood(x))
    loss.backward()
    grad = model.trans_logits.grad_as_array()
    eps = 1e-2
    for i, j in [(0, 0), (1, 2), (2, 1)]:
        up, down = trans.copy(), trans.copy()
        up[i, j] += eps
        down[i, j] -= eps
        np.testing.assert_allclose(grad[i, j], (log_p(up) - log_p(down)) / (2 * eps), rtol=0.03, atol=2e-3)


def test_training_approaches_the_true_likelihood():
    dy.init(seed=2)
    rng = np.random.default_rng(2)
    truth = hmm.TrueHMM(3, 12, 0.85, width=5, seed=2)
    x_train, _ = truth.sample(150, 20, rng)
    x_test, z_test = truth.sample(60, 20, rng)
    pc = dy.ParameterCollection()
    model = hmm.NeuralHMM(pc, 3, 12, n_embed=8, n_hidden=16)
    before = hmm.forward_numpy(*model.numpy_params(), x_test)[0].mean()
    hmm.train(model, dy.AdamTrainer(pc, 0.03), x_train, 15, 15, rng, quiet=True)
    after, post = hmm.forward_numpy(*model.numpy_params(), x_test)
    ref = hmm.forward_numpy(*truth.log_params(), x_test)[0].mean()
    assert after.mean() > before + 5.0 and after.mean() > ref - 1.0, (before, after.mean(), ref)
    assert hmm.state_accuracy(post, z_test) > 0.8

"""Unrolled mean field: the graph computes the same updates as NumPy mean field, its gradient
matches finite differences, the exact marginals match a direct sum, and training through the
unrolled inference beats the same inference with the true parameters."""
import itertools

import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

ui = load_example("unrolled_inference")


def test_exact_marginals_match_a_direct_sum():
    task = ui.IsingTask(n=2, coupling=0.7, field=0.2, noise=1.0)
    y = np.array([[0.3, -1.2, 0.8, 2.0]])
    edges = [(0, 1), (2, 3), (0, 2), (1, 3)]
    weights, plus = 0.0, np.zeros(4)
    for s in itertools.product((-1, 1), repeat=4):
        s = np.array(s, float)
        w = np.exp(0.7 * sum(s[i] * s[j] for i, j in edges) + 0.2 * s.sum() - np.sum((y[0] - s) ** 2) / 2)
        weights += w
        plus += w * (s > 0)
    np.testing.assert_allclose(task.exact_marginals(y)[0], plus / weights, rtol=1e-10)


def test_untrained_unrolled_graph_is_mean_field_with_the_true_parameters():
    dy.init(seed=0)
    task = ui.IsingTask(n=3, coupling=0.5, noise=1.0)
    s, y = task.sample(7, np.random.default_rng(0))
    model = ui.UnrolledMeanField(dy.ParameterCollection(), task, steps=4)
    np.testing.assert_allclose(model.marginals(y), task.mean_field(y, 4), rtol=1e-5, atol=1e-6)


def test_gradient_matches_finite_differences():
    dy.init(seed=1)
    task = ui.IsingTask(n=3, coupling=0.5, noise=1.0)
    s, y = task.sample(5, np.random.default_rng(1))
    pc = dy.ParameterCollection()
    model = ui.UnrolledMeanField(pc, task, steps=3)

    def loss_at(value):
        model.J[1].set_value(np.array([value], np.float32))
        dy.renew_cg()
        return float(model.loss(y, s).value())

    base = float(model.J[1].as_array()[0])
    loss_at(base)
    dy.renew_cg()
    model.loss(y, s).backward()
    grad = float(model.J[1].grad_as_array()[0])
    numeric = (loss_at(base + 1e-2) - loss_at(base - 1e-2)) / 2e-2
    np.testing.assert_allclose(grad, numeric, rtol=0.02, atol=1e-3)


def test_training_through_inference_beats_the_true_parameters():
    dy.init(seed=2)
    rng = np.random.default_rng(2)
    task = ui.IsingTask(n=3, coupling=0.8, noise=1.2)
    s_train, y_train = task.sample(800, rng)
    s_test, y_test = task.sample(800, rng)
    pc = dy.ParameterCollection()
    model = ui.UnrolledMeanField(pc, task, steps=4)
    ui.train(model, dy.AdamTrainer(pc, 0.02), y_train, s_train, 10, 50, rng, quiet=True)
    trained = ui.scores(model.marginals(y_test), s_test)[0]
    true_params = ui.scores(task.mean_field(y_test, 4), s_test)[0]
    exact = ui.scores(task.exact_marginals(y_test), s_test)[0]
    assert exact < trained < true_params - 0.003, (exact, trained, true_params)

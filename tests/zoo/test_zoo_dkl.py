"""Smoke tests for deep kernel learning: the NLML graph (dy.inverse + dy.logdet) against a NumPy
Cholesky reference, its gradient against finite differences, and joint training lowering the NLML
and improving the fit of a known function."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

dkl = load_example("dkl")


def np_nlml(gp, x, y):
    dy.renew_cg()
    f = gp.features(x).npvalue().astype(np.float64).reshape(-1, len(x))
    h = gp.hyper()
    d2 = np.sum((f[:, :, None] - f[:, None, :]) ** 2, axis=0) / h["ell"] ** 2
    K = h["sf"] ** 2 * np.exp(-0.5 * d2) + (h["sn"] ** 2 + gp.jitter) * np.eye(len(x))
    L = np.linalg.cholesky(K)
    a = np.linalg.solve(L, y)
    return 0.5 * a @ a + np.sum(np.log(np.diag(L))) + 0.5 * len(x) * np.log(2 * np.pi)


def nlml_value(gp, x, y):
    dy.renew_cg()
    return gp.nlml(x, y).value()


def test_nlml_and_gradient_match_numpy():
    dy.init(seed=0)
    rng = np.random.default_rng(0)
    x, y, _, _ = dkl.make_data(12, 0.1, rng)
    pc = dy.ParameterCollection()
    gp = dkl.GP(pc, hidden=5, n_features=2)
    assert abs(nlml_value(gp, x, y) - np_nlml(gp, x, y)) < 1e-3 * max(1.0, abs(np_nlml(gp, x, y)))
    dy.renew_cg()
    gp.nlml(x, y).backward()
    W1 = gp.layers[0][0]
    for param, index in ((gp.log_ell, (0,)), (gp.log_sn, (0,)), (W1, (2, 0))):
        g = param.grad_as_array()[index]
        value = param.as_array()
        eps = 1e-2
        plus, minus = value.copy(), value.copy()
        plus[index] += eps
        minus[index] -= eps
        param.set_value(plus)
        up = np_nlml(gp, x, y)
        param.set_value(minus)
        down = np_nlml(gp, x, y)
        param.set_value(value)
        assert abs(g - (up - down) / (2 * eps)) < 2e-2 * max(1.0, abs(g)), (param.name(), g, (up - down) / (2 * eps))


def test_training_lowers_nlml_and_fits_the_function():
    dy.init(seed=1)
    rng = np.random.default_rng(1)
    x, y, x_test, f_test = dkl.make_data(40, 0.1, rng, n_test=100)
    pc = dy.ParameterCollection()
    gp = dkl.GP(pc, hidden=8)
    curve = dkl.fit(gp, dy.AdamTrainer(pc, 0.02), x, y, steps=150, quiet=True)
    assert curve[-1] < curve[0] - 20, (curve[0], curve[-1])
    mean, var = gp.predict(x, y, x_test)
    assert np.sqrt(np.mean((mean - f_test) ** 2)) < 0.35 and (var >= 0).all()

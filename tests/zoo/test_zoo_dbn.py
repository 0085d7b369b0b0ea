"""Smoke test for the DBN zoo program: greedy stacking trains every layer, and the variational bound
it reports is below the exact log-likelihood of the same two-layer DBN (enumerating h1)."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

dbn_mod = load_example("dbn")
rbm_mod = load_example("rbm")


def exact_dbn_log_p(dbn, v):
    """log p(v) = log sum_h1 p_top(h1) p(v | h1), enumerating every h1."""
    bottom, top = dbn.layers
    W, b, _ = bottom.params()
    h = rbm_mod.all_states(bottom.n_hidden)
    log_ph = -top.np_free_energy(h) - rbm_mod.exact_log_z(top)
    a = h @ W + b                                                        # (2^H, V)
    log_pv_h = v @ a.T - np.logaddexp(0.0, a).sum(axis=1)                # (N, 2^H)
    return np.logaddexp.reduce(log_pv_h + log_ph, axis=1)


def test_greedy_stack_trains_and_bound_is_below_exact_likelihood():
    dy.init(seed=3)
    rng = np.random.default_rng(0)
    protos = (rng.random((3, 10)) < 0.5).astype(np.float64)
    x = protos[rng.integers(0, 3, 300)]
    x = np.abs(x - (rng.random(x.shape) < 0.05))
    dbn = dbn_mod.DBN([10, 6, 3])
    history = dbn.fit(x, epochs=10, batch_size=20, lr=0.05, k=1, persistent=False, rng=rng, quiet=True)
    for h in history:
        assert h[-1] < h[0]
    bound = dbn.lower_bound(x, rbm_mod.exact_log_z(dbn.layers[1]), rng, n_samples=20)
    exact = float(np.mean(exact_dbn_log_p(dbn, x)))
    assert bound < exact < 0
    assert exact - bound < 3.0                                           # the bound is not vacuous either
    assert dbn.sample(5, 50, rng).shape == (5, 10)

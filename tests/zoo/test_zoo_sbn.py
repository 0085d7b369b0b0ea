"""Smoke tests for the wake-sleep sigmoid belief network: log p(v, h) against NumPy, the bound and the
importance estimate against the exact log p(v) (enumerating h), and wake-sleep raising the bound."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

sbn_mod = load_example("sbn")


def np_log_bern(x, a):
    return np.sum(x * a - np.logaddexp(0.0, a), axis=1)


def exact_log_p(sbn, v):
    """log p(v) for a one-hidden-layer SBN by enumerating h."""
    (G, g), = sbn.gen
    G, g, prior = G.as_array().astype(np.float64), g.as_array().astype(np.float64), sbn.prior.as_array()
    n = sbn.sizes[1]
    h = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    log_ph = np_log_bern(h, np.broadcast_to(prior, h.shape))
    a = h @ G.T + g
    log_pv_h = v @ a.T - np.logaddexp(0.0, a).sum(axis=1)
    return np.logaddexp.reduce(log_pv_h + log_ph, axis=1)


def random_sbn(seed):
    dy.init(seed=seed)
    sbn = sbn_mod.SBN([6, 4])
    rng = np.random.default_rng(seed)
    for p in [sbn.prior] + [q for pair in sbn.gen + sbn.rec for q in pair]:
        p.set_value(rng.normal(0, 1, p.shape()).astype(np.float32))
    return sbn, rng


def test_log_joint_and_log_q_match_numpy():
    sbn, rng = random_sbn(0)
    v = (rng.random((5, 6)) < 0.5).astype(np.float32)
    h = (rng.random((5, 4)) < 0.5).astype(np.float32)
    dy.renew_cg()
    lj = sbn_mod.batch_values(sbn.log_joint([v, h]))[:, 0]
    lq = sbn_mod.batch_values(sbn.log_q([v, h]))[:, 0]
    (G, g), (R, r) = sbn.gen[0], sbn.rec[0]
    ref_j = np_log_bern(h, np.broadcast_to(sbn.prior.as_array(), h.shape)) + np_log_bern(v, h @ G.as_array().T + g.as_array())
    np.testing.assert_allclose(lj, ref_j, rtol=1e-5)
    np.testing.assert_allclose(lq, np_log_bern(h, v @ R.as_array().T + r.as_array()), rtol=1e-5)


def test_bound_below_exact_and_importance_estimate_converges():
    sbn, rng = random_sbn(1)
    v = (rng.random((20, 6)) < 0.5).astype(np.float32)
    exact = float(np.mean(exact_log_p(sbn, v)))
    bound, iw = sbn.evaluate(v, 2000, rng)
    assert bound < exact - 0.1
    assert abs(iw - exact) < 0.05


def test_wake_sleep_raises_the_bound():
    dy.init(seed=2)
    rng = np.random.default_rng(2)
    protos = (rng.random((2, 12)) < 0.5).astype(np.float32)
    x = np.abs(protos[rng.integers(0, 2, 200)] - (rng.random((200, 12)) < 0.05)).astype(np.float32)
    sbn = sbn_mod.SBN([12, 4])
    curve = sbn_mod.train(sbn, x, epochs=20, batch_size=20, lr=0.02, rng=rng, x_eval=x, eval_every=20,
                          k=10, quiet=True)
    (_, b0, _), (_, b1, iw1) = curve
    assert b1 > b0 + 2.0, curve
    assert iw1 >= b1 - 1e-6

"""IWAE: L_1 is the VAE's one-sample ELBO in expectation, L_k rises with k and stays below log p(x),
and training on L_5 raises it."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

iwae_mod = load_example("iwae")
from zoo_common import batch_input, batch_values  # noqa: E402  (on the path once an example is loaded)


def _toy_data(rng, n=120, d=16):
    protos = (rng.random((3, d)) < 0.5).astype(np.float32)
    return np.abs(protos[rng.integers(0, 3, n)] - (rng.random((n, d)) < 0.05)).astype(np.float32)


def test_bound_tightens_with_k_and_k1_is_the_elbo():
    dy.init(seed=3)
    rng = np.random.default_rng(3)
    x = _toy_data(rng)
    pc = dy.ParameterCollection()
    model = iwae_mod.IWAE(pc, n_in=16, n_hidden=12, n_latent=2)
    # Untrained: q(z|x) is far from the posterior, so the gap L_k closes is wide.
    rows = np.repeat(x[:20], 20, axis=0)              # many draws per row: Monte Carlo error ~0.05 nats
    l1, l5, l50 = (model.mean_bound(rows, k) for k in (1, 5, 50))
    elbo = model.mean_elbo(rows)                      # the VAE's form: analytic KL
    assert abs(l1 - elbo) < 0.3, (l1, elbo)
    # Strictly tighter with k (a mean in place of the log-sum-exp would give l1 == l5 == l50).
    assert l1 + 0.2 < l5 < l50 - 0.05, (l1, l5, l50)
    log_p = model.importance_log_p(x[:20], k=2000)
    assert l50 < log_p + 0.05, (l50, log_p)


def test_k_sample_bound_matches_numpy_logsumexp_of_the_weights():
    dy.init(seed=4)
    pc = dy.ParameterCollection()
    model = iwae_mod.IWAE(pc, n_in=6, n_hidden=5, n_latent=3)
    rows = (np.random.default_rng(4).random((4, 6)) < 0.5).astype(np.float32)
    dy.renew_cg()
    x = batch_input(rows)
    mean, logvar = model.encode(x)
    log_w = [model.log_weight(x, mean, logvar, 4) for _ in range(7)]
    bound = dy.logsumexp(log_w) - float(np.log(7))
    w = np.stack([batch_values(e)[:, 0] for e in log_w])
    ref = np.logaddexp.reduce(w, axis=0) - np.log(7)
    np.testing.assert_allclose(batch_values(bound)[:, 0], ref, rtol=1e-5, atol=1e-5)


def test_training_on_l5_raises_the_bound():
    dy.init(seed=5)
    rng = np.random.default_rng(5)
    x = _toy_data(rng)
    pc = dy.ParameterCollection()
    model = iwae_mod.IWAE(pc, n_in=16, n_hidden=12, n_latent=2)
    before = model.mean_bound(x, 5)
    curve = iwae_mod.train(model, dy.AdamTrainer(pc, 0.01), x, k=5, epochs=8, batch_size=30, rng=rng, quiet=True)
    assert curve[-1] > curve[0] and model.mean_bound(x, 5) > before + 2.0

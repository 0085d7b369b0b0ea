"""InfoGAN: with the mutual-information term the code recovers the ring's known factor (each code
value its own mode); the same network without the term leaves the code unrelated to the modes."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

infogan = load_example("infogan")


def _trained(weight, steps=300):
    rng = np.random.default_rng(4)
    dy.init(seed=4)
    model = infogan.InfoGAN(n_hidden=64, info_weight=weight)
    info = infogan.train(model, steps, 128, rng, quiet=True)
    return model, info


def test_info_term_makes_the_code_pick_the_modes():
    model, info = _trained(1.0)
    assert np.mean(info[-50:]) < 0.3 * np.log(8)             # Q recovers c from G(z, c)
    purity, distinct = infogan.code_purity(model, per_code=100)
    assert purity > 0.8 and distinct >= 6, (purity, distinct)


def test_without_the_info_term_the_code_is_not_recovered():
    model, _ = _trained(0.0)
    purity, _ = infogan.code_purity(model, per_code=100)
    assert purity < 0.6, purity


def test_generator_input_is_noise_and_onehot_code():
    dy.init(seed=0)
    model = infogan.InfoGAN(n_codes=3, n_noise=2, n_hidden=8)
    dy.renew_cg()
    x = model.fake(np.array([0, 2, 1]))
    assert x.dim() == ((2,), 3)
    W = model.G.layers[0][0]
    assert W.shape() == (8, 5)

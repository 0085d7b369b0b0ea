"""DBN fine-tuning: the unrolled nets start exactly at the stacked RBMs' mean-field passes, and
backprop from there improves the reconstruction."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

ft = load_example("dbn_finetune")


def _pretrained(seed=0):
    dy.init(seed=seed)
    rng = np.random.default_rng(seed)
    protos = (rng.random((4, 16)) < 0.5).astype(np.float64)
    x = np.abs(protos[rng.integers(0, 4, 200)] - (rng.random((200, 16)) < 0.05))
    dbn = ft.DBN([16, 12, 6])
    dbn.fit(x, 5, 20, 0.05, 1, False, rng, quiet=True)
    return dbn, x, rng


def test_unrolled_nets_start_at_the_dbn():
    dbn, x, _ = _pretrained()
    weights = ft.rbm_arrays(dbn)
    pc = dy.ParameterCollection()
    ae = ft.UnrolledAutoencoder(pc, [16, 12, 6], weights)
    # Up through both RBMs' hidden probabilities, down through their visible probabilities.
    h = dbn.features(x[:5])[-1]
    for rbm in reversed(dbn.layers):
        h = rbm.visible_probs(h)
    np.testing.assert_allclose(ae.reconstruct(x[:5]), h, rtol=1e-4, atol=1e-5)
    clf = ft.UnrolledClassifier(dy.ParameterCollection(), [16, 12, 6], 3, weights)
    np.testing.assert_allclose(clf.hidden[0][0].as_array(), weights[0][0], rtol=1e-6)


def test_fine_tuning_improves_the_reconstruction():
    dbn, x, rng = _pretrained(1)
    pc = dy.ParameterCollection()
    ae = ft.UnrolledAutoencoder(pc, [16, 12, 6], ft.rbm_arrays(dbn))
    before = ae.error(x)
    curve = ft.fine_tune(ae, dy.AdamTrainer(pc, 3e-3), x, None, 10, 20, rng, quiet=True)
    assert curve[-1] < curve[0] and ae.error(x) < 0.8 * before, (before, ae.error(x))

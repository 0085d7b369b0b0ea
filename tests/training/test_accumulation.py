"""Micro-batch accumulation: k backward() calls (each over its own graph) before one update()
equal one update on the whole batch, for every trainer, lookup tables and clipping included."""
import numpy as np
import pytest

import dynagraph as dy

TRAINERS = [
    lambda pc: dy.SimpleSGDTrainer(pc, 0.1),
    lambda pc: dy.MomentumSGDTrainer(pc, 0.1),
    lambda pc: dy.AdagradTrainer(pc, 0.1),
    lambda pc: dy.AdamTrainer(pc, 0.01),
    lambda pc: dy.RMSPropTrainer(pc, 0.01),
]


def _model(seed):
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((4, 6))
    b = pc.add_parameters(4)
    E = pc.add_lookup_parameters((10, 6))
    return pc, W, b, E


def _loss(W, b, E, rows, words, labels):
    """Sum of the examples' losses: one graph node per example (not a minibatch)."""
    terms = []
    for x, w, y in zip(rows, words, labels):
        h = dy.tanh(W * (dy.inputVector(x) + E[int(w)]) + b)
        terms.append(dy.pickneglogsoftmax(h, int(y)))
    return dy.esum(terms)


@pytest.mark.parametrize("make_trainer", TRAINERS)
@pytest.mark.parametrize("clip", [0.0, 0.5])
def test_k_backwards_then_one_update_equal_one_big_batch(make_trainer, clip):
    rng = np.random.default_rng(0)
    rows, words, labels = rng.normal(size=(12, 6)), rng.integers(0, 10, 12), rng.integers(0, 4, 12)
    finals = []
    for micro in (12, 4, 1):                                 # one batch of 12; 3 of 4; 12 of 1
        pc, W, b, E = _model(3)
        trainer = make_trainer(pc)
        trainer.set_clip_threshold(clip)
        for step in range(2):
            for i in range(0, 12, micro):
                dy.renew_cg()
                _loss(W, b, E, rows[i:i + micro], words[i:i + micro], labels[i:i + micro]).backward()
            trainer.update()
        finals.append((W.as_array(), b.as_array(), E.as_array()))
    for other in finals[1:]:
        for got, want in zip(other, finals[0]):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_gradient_after_two_backwards_is_the_sum():
    pc, W, b, E = _model(4)
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=6), rng.normal(size=6)
    grads = []
    for xs in ([x1], [x2], [x1, x2]):
        pc2, W2, b2, E2 = _model(4)
        for x in xs:
            dy.renew_cg()
            dy.sum_elems(dy.tanh(W2 * dy.inputVector(x) + b2)).backward()
        grads.append(W2.grad_as_array().copy())
    np.testing.assert_allclose(grads[2], grads[0] + grads[1], rtol=1e-5, atol=1e-7)

"""Smoke tests for the MLP-CRF tagger: the true-HMM Viterbi reference recovers noise-free tags, the
sampler follows its transition matrix, and a CRF on top of the MLP beats per-token softmax."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

crf_mod = load_example("nn_crf")


def test_hmm_sampler_and_reference_decoder():
    rng = np.random.default_rng(0)
    hmm = crf_mod.HMM(4, stick=0.8, noise=0.05)
    x, y = hmm.sample(400, 10, rng)
    assert (hmm.viterbi(x) == y).all()
    follows = np.mean(y[:, 1:] == (y[:, :-1] + 1) % 4)
    assert abs(follows - 0.8) < 0.03


def test_crf_beats_per_token_softmax():
    rng = np.random.default_rng(1)
    dy.init(seed=1)
    hmm = crf_mod.HMM(3, stick=0.9, noise=0.9)
    x, y = hmm.sample(120, 8, rng)
    xt, yt = hmm.sample(100, 8, rng)
    acc = {}
    for use_crf in (False, True):
        pc = dy.ParameterCollection()
        tagger = crf_mod.Tagger(pc, 3, n_hidden=16, use_crf=use_crf)
        curve = crf_mod.train(tagger, dy.AdamTrainer(pc, 0.02), x, y, epochs=8, batch_size=20, rng=rng, quiet=True)
        assert curve[-1] < curve[0]
        acc[use_crf] = np.mean(tagger.predict(xt) == yt)
    assert acc[True] > acc[False] + 0.05, acc
    assert tagger.predict(xt[:1]).shape == (1, 8)

"""The CRF against brute-force enumeration of every tag path."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynagraph as dy


def path_score(em, trans, start, end, path):
    s = start[path[0]] + end[path[-1]] + sum(em[t, y] for t, y in enumerate(path))
    return s + sum(trans[a, b] for a, b in zip(path, path[1:]))


def brute(em, trans, start, end):
    T, K = em.shape
    paths = list(itertools.product(range(K), repeat=T))
    scores = np.array([path_score(em, trans, start, end, p) for p in paths])
    m = scores.max()
    log_z = m + np.log(np.exp(scores - m).sum())
    marg = np.zeros((T, K))
    for p, s in zip(paths, scores):
        for t, y in enumerate(p):
            marg[t, y] += np.exp(s - log_z)
    best = int(np.argmax(scores))
    return log_z, list(paths[best]), scores[best], marg


def make(K, rng):
    pc = dy.ParameterCollection()
    crf = dy.CRF(K, pc)
    trans, start, end = rng.normal(size=(K, K)), rng.normal(size=K), rng.normal(size=K)
    crf.trans.set_value(trans)
    crf.start.set_value(start)
    crf.end.set_value(end)
    return crf, crf.trans.as_array().astype(np.float64), crf.start.as_array().astype(np.float64), \
        crf.end.as_array().astype(np.float64)


@settings(max_examples=30, deadline=None)
@given(K=st.integers(1, 4), T=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
def test_against_brute_force(K, T, seed):
    rng = np.random.default_rng(seed)
    crf, trans, start, end = make(K, rng)
    em = rng.normal(size=(T, K)).astype(np.float32).astype(np.float64)
    tags = [int(v) for v in rng.integers(0, K, size=T)]
    log_z, best, best_score, marg = brute(em, trans, start, end)
    dy.renew_cg()
    es = [dy.inputVector(row) for row in em]
    nll = crf.neg_log_loss(es, tags)
    assert nll.dim() == ((1,), 1)
    expected = log_z - path_score(em, trans, start, end, tags)
    assert abs(nll.scalar_value() - expected) < 1e-4 * max(1.0, abs(expected))
    path, score = crf.viterbi(es)
    assert abs(score - best_score) < 1e-4
    assert abs(path_score(em, trans, start, end, path) - best_score) < 1e-4   # ties: any best path
    np.testing.assert_allclose(crf.marginals(es), marg, atol=1e-5)


@settings(max_examples=10, deadline=None)
@given(K=st.integers(2, 3), T=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
def test_gradient_against_finite_differences(K, T, seed):
    rng = np.random.default_rng(seed)
    crf, trans, start, end = make(K, rng)
    em = rng.normal(size=(T, K))
    tags = [int(v) for v in rng.integers(0, K, size=T)]

    def f(em_, trans_, start_, end_):
        return brute(em_, trans_, start_, end_)[0] - path_score(em_, trans_, start_, end_, tags)

    dy.renew_cg()
    es = [dy.inputVector(row) for row in em]
    loss = crf.neg_log_loss(es, tags)
    loss.value()
    loss.backward()
    h = 1e-6
    for name, arr, grad in (("trans", trans, crf.trans.grad_as_array()), ("start", start, crf.start.grad_as_array()),
                            ("end", end, crf.end.grad_as_array())):
        for idx in np.ndindex(arr.shape):
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            em32 = em.astype(np.float32).astype(np.float64)
            a_plus = [plus if x is arr else x for x in (trans, start, end)]
            a_minus = [minus if x is arr else x for x in (trans, start, end)]
            fd = (f(em32, *a_plus) - f(em32, *a_minus)) / (2 * h)
            assert abs(fd - grad[idx]) < 1e-3, (name, idx, fd, grad[idx])


def test_emission_gradient_is_marginal_minus_gold():
    rng = np.random.default_rng(7)
    K, T = 3, 4
    pc = dy.ParameterCollection()
    crf, trans, start, end = make(K, rng)
    E = pc.add_parameters((K, T))
    em = rng.normal(size=(K, T))
    E.set_value(em)
    tags = [0, 2, 1, 1]
    dy.renew_cg()
    Ee = dy.parameter(E)
    es = [dy.pick(Ee, t, 1) for t in range(T)]
    loss = crf.neg_log_loss(es, tags)
    loss.backward()
    marg = brute(E.as_array().astype(np.float64).T, trans, start, end)[3]
    gold = np.zeros((T, K))
    gold[np.arange(T), tags] = 1.0
    np.testing.assert_allclose(E.grad_as_array(), (marg - gold).T, atol=1e-5)


def test_batched_equals_unbatched():
    rng = np.random.default_rng(8)
    K, T, B = 3, 3, 4
    crf, trans, start, end = make(K, rng)
    em = rng.normal(size=(T, K, B))
    tags = [[int(v) for v in rng.integers(0, K, size=T)] for _ in range(B)]
    dy.renew_cg()
    es = [dy.inputTensor(em[t], batched=True) for t in range(T)]
    nll = crf.neg_log_loss(es, tags)
    assert nll.dim() == ((1,), B)
    batched = nll.npvalue().ravel()
    paths = crf.viterbi(es)
    margs = crf.marginals(es)
    assert margs.shape == (B, T, K)
    for b in range(B):
        dy.renew_cg()
        single = [dy.inputVector(em[t, :, b]) for t in range(T)]
        assert abs(crf.neg_log_loss(single, tags[b]).scalar_value() - batched[b]) < 1e-4
        path, score = crf.viterbi(single)
        assert path == paths[b][0] and score == pytest.approx(paths[b][1], abs=1e-5)
        np.testing.assert_allclose(crf.marginals(single), margs[b], atol=1e-6)


def test_bad_inputs():
    crf = dy.CRF(3, dy.ParameterCollection())
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"emission 1 should have dimension \(3,\), got \(2,\)"):
        crf.neg_log_loss([dy.inputVector([1, 2, 3]), dy.inputVector([1, 2])], [0, 1])
    with pytest.raises(ValueError, match="length 1, emissions have length 2"):
        crf.neg_log_loss([dy.inputVector([1, 2, 3])] * 2, [0])
    with pytest.raises(IndexError, match="tag 5"):
        crf.neg_log_loss([dy.inputVector([1, 2, 3])] * 2, [0, 5])
    with pytest.raises(ValueError, match="at least one"):
        crf.viterbi([])

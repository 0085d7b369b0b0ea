"""The autobatching executor's data paths: arguments used in place or gathered, gradients
added in place or scattered, large groups, BLAS threads, and the per-phase timers."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

DIM = 5


def _model(seed=7):
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    return pc, {"U": pc.add_parameters((DIM, DIM)), "b": pc.add_parameters(DIM),
                "E": pc.add_lookup_parameters((300, DIM))}


def _counts():
    s = _core.autobatch_stats()
    return np.array([s["args_in_place"], s["args_gathered"], s["grads_in_place"], s["grads_scattered"]])


def _run(build, autobatch, seed=7):
    """Value, parameter gradients and path counts of the summed loss `build(p)` makes."""
    pc, p = _model(seed)
    dy.renew_cg(autobatching=autobatch)
    loss = build(p)
    before = _counts()
    value = loss.value()
    loss.backward()
    counts = _counts() - before
    grads = {k: v.grad_as_array().copy() for k, v in p.items()}
    dy.renew_cg(autobatching=False)
    return value, grads, counts


def _same_as_unbatched(build):
    v0, g0, _ = _run(build, False)
    v1, g1, counts = _run(build, True)
    assert v1 == pytest.approx(v0, rel=1e-5, abs=1e-6)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-4, atol=1e-6, err_msg=k)
    return counts


def _pairs(p, partner):
    # h_i = tanh(U e_i + b), k_i = logistic(U e_i), then g_i = h_i * k_partner(i): the
    # product's group reads the h and k groups' output blocks.
    hs = [dy.tanh(p["U"] * p["E"][i] + p["b"]) for i in range(8)]
    ks = [dy.logistic(p["U"] * p["E"][i + 8]) for i in range(8)]
    gs = [dy.cmult(hs[i], ks[partner(i)]) for i in range(8)]
    return dy.esum([dy.dot_product(g, g) * (i + 1) for i, g in enumerate(gs)])


def _in_order(p):  # members read both blocks in the blocks' own order: used in place
    return _pairs(p, lambda i: i)


def _reordered(p):  # one block read reversed: gathered forward, its gradient scattered back
    return _pairs(p, lambda i: 7 - i)


def test_contiguous_arguments_are_used_in_place():
    counts = _same_as_unbatched(_in_order)
    reordered = _same_as_unbatched(_reordered)
    # Same graph shape: the reversed reads turn in-place uses into gathers (forward)
    # and in-place gradients into scatters (backward), one for one.
    assert counts[0] > 0 and counts[2] > 0
    assert reordered[1] > counts[1] and reordered[3] > counts[3]
    assert (reordered[0] + reordered[1]) == (counts[0] + counts[1])
    assert reordered[1] - counts[1] == counts[0] - reordered[0]


def _forest(p, trees=200):
    # Many small trees: groups of hundreds of members far apart in the graph (the
    # prefetching paths), with gathers (pairs of leaves) and in-place chains.
    rng = np.random.default_rng(3)
    losses = []
    for t in range(trees):
        a, b = (p["E"][int(w)] for w in rng.integers(0, 300, size=2))
        h = dy.tanh(p["U"] * dy.cmult(a, b) + p["b"])
        for _ in range(t % 3):
            h = dy.tanh(p["U"] * h + p["b"])
        losses.append(dy.pickneglogsoftmax(h, t % DIM))
    return dy.esum(losses)


def test_large_groups_match_unbatched():
    counts = _same_as_unbatched(_forest)
    assert counts[1] > 0 and counts[0] > 0  # both paths ran


def test_blas_threads_give_the_same_results():
    wide = 48  # products U (48x48) times hundreds of columns: large enough for the BLAS

    def build(p):
        W = p["W"]
        hs = [dy.tanh(W * dy.inputVector(list(np.linspace(-1, 1, wide) * (i % 7 + 1) / 7)) + p["c"])
              for i in range(300)]
        hs = [dy.tanh(W * h + p["c"]) for h in hs]
        return dy.esum([dy.sum_elems(h) for h in hs])

    def run(threads):
        old = dy.get_num_threads()
        dy.set_num_threads(threads)
        try:
            dy.init(seed=5)
            pc = dy.ParameterCollection()
            p = {"W": pc.add_parameters((wide, wide)), "c": pc.add_parameters(wide)}
            dy.renew_cg(autobatching=True)
            loss = build(p)
            value = loss.value()
            loss.backward()
            grads = {k: v.grad_as_array().copy() for k, v in p.items()}
            dy.renew_cg(autobatching=False)
            return value, grads
        finally:
            dy.set_num_threads(old)

    v1, g1 = run(1)
    v2, g2 = run(2)
    # Threads split the weight gradients' long sums differently: float32 rounding, no more.
    assert v2 == pytest.approx(v1, rel=1e-6)
    for k in g1:
        np.testing.assert_allclose(g2[k], g1[k], rtol=2e-4, atol=1e-5, err_msg=k)
    assert np.abs(g1["W"]).max() > 1  # the gradients are not trivially zero


def test_phase_timers_run_only_when_profiling_is_on():
    dy.set_autobatch_profiling(False)
    _run(_forest, True)
    assert all(v == 0 for v in _core.autobatch_stats()["phase_ns"].values())
    dy.set_autobatch_profiling(True)
    try:
        _run(_forest, True)
        phases = _core.autobatch_stats()["phase_ns"]
        assert phases["fwd_kernel"] > 0 and phases["bwd_kernel"] > 0 and phases["fwd_gather"] > 0
        assert set(phases) == {"fwd_setup", "fwd_gather", "fwd_kernel", "fwd_release", "bwd_setup",
                               "bwd_memset", "bwd_kernel", "bwd_scatter", "bwd_outer"}
    finally:
        dy.set_autobatch_profiling(False)
    assert all(v == 0 for v in _core.autobatch_stats()["phase_ns"].values())  # turning it off resets

"""set_num_threads(n > 1): backward runs a run of consecutive groups that read none of
each other's outputs and pass their gradients to distinct nodes (a wave) at once: their
batched arguments' gradients on the threads, a task per group, the shared arguments'
(weights, biases) after, in order. Each node's gradient receives the same terms in the
same order as on one thread, so values and gradients are bit-identical (compared with
==); autobatch_stats() counts waves_backward and groups_waved_backward. Forward likewise
runs a level's groups at once when their work together (not each one's) pays."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

# _restore (autouse): threshold 0, threads, policy, stacking and fault injection restored after each test.
from test_autobatch_threads import _restore, assert_identical  # noqa: F401
from test_autobatch_threads_split import run, tree_lstm


@pytest.fixture(autouse=True)
def _waves_on():
    before = _core._set_autobatch_backward_waves(True)
    yield
    _core._set_autobatch_backward_waves(before)


def _waved():
    s = dy.autobatch_stats()
    return np.array([s["waves_backward"], s["groups_waved_backward"]])


def chains(n=20, hid=24, steps=3, chains_=4, seed=3, shift=None):
    """`chains_` independent chains over n members, each its own weight, one bias shared by all:
    products of n < 32 members (never split), so a level is several groups a wave takes, the
    shared bias summed by all. Then per chain an argument read by two groups of one level
    (tanh(h) and logistic(h) both add into h's gradient: they must not share a wave), one read
    twice by one op (cmult(x, x)) with its members gathered out of order (scattered gradients),
    and last a product per chain: the first groups backward runs are a wave.
    shift=(i, j, eps): input i's element j moved by eps (finite differences)."""
    def model(pc):
        rng = np.random.default_rng(seed)
        Ws = [pc.add_parameters((hid, hid)) for _ in range(chains_)]
        b = pc.add_parameters(hid)
        xs0 = [rng.standard_normal(hid) for _ in range(n)]
        if shift:
            xs0[shift[0]][shift[1]] += shift[2]

        def build():
            inputs = [dy.inputVector(x) for x in xs0]
            out = []
            for W in Ws:
                hs = inputs
                for _ in range(steps):
                    hs = [dy.tanh(W * h + b) for h in hs]
                hs = [dy.tanh(h) + dy.logistic(h) for h in hs]
                hs = [dy.cmult(h, h) for h in hs[::-1]]
                out += [W * h for h in hs]
            return dy.sum_elems(dy.esum(out)), inputs
        return build
    return model


@pytest.mark.parametrize("min_work, hid", [(0, 24), (65536, 64)])  # 65536: the default; products of 84 k work
def test_chains_are_bit_identical_and_run_in_waves(min_work, hid):
    _core._autobatch_pool_min_work(min_work)
    model = chains(hid=hid)
    one = run(model, 1)
    for threads in (2, 3):
        before = _waved()
        other = run(model, threads)
        assert ((_waved() - before) > 0).all(), threads  # it ran in waves
        assert_identical(one, other)


def test_waves_on_and_off_agree_and_only_waves_count():
    model = chains(n=12, hid=16)
    dy.set_num_threads(2)
    before = _waved()
    _core._set_autobatch_backward_waves(False)
    off = run(model, 2)
    assert (_waved() == before).all()
    _core._set_autobatch_backward_waves(True)
    on = run(model, 2)
    assert (_waved() > before).all()
    assert_identical(off, on)
    assert_identical(on, run(model, 1))


@pytest.mark.parametrize("min_work", [0, 65536])
@pytest.mark.parametrize("hid", [48, 37])
def test_tree_lstm_is_bit_identical_with_backward_waves(hid, min_work):
    _core._autobatch_pool_min_work(min_work)
    model = tree_lstm(hid, trees=40)
    one = run(model, 1)
    for threads in (2, 3):
        before = _waved()
        other = run(model, threads)
        assert (_waved() - before)[0] > 0, threads
        assert_identical(one, other)


def test_wave_gradients_match_finite_differences():
    dy.set_num_threads(2)
    before = _waved()
    value, grads = run(chains(n=6, hid=5, steps=2, chains_=3), 2)
    assert (_waved() > before).all()
    eps = 1e-2
    for i, j in [(0, 0), (3, 2), (5, 4)]:
        up = run(chains(n=6, hid=5, steps=2, chains_=3, shift=(i, j, eps)), 2)[0]
        down = run(chains(n=6, hid=5, steps=2, chains_=3, shift=(i, j, -eps)), 2)[0]
        assert grads[f"in{i}"][j] == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=2e-3)


def test_an_exception_in_a_wave_is_raised_once_and_the_pool_still_works():
    model = chains()
    errors = []
    for threads in (1, 2):
        dy.set_num_threads(threads)
        dy.init(seed=5)
        pc = dy.ParameterCollection()
        build = model(pc)
        dy.renew_cg(autobatching=True)
        loss, _ = build()
        loss.value()
        before = _waved()
        _core._set_autobatch_fault(20)  # set after the forward: the first group of 20+ raises in backward
        with pytest.raises(IndexError, match="fault injected") as err:
            loss.backward()
        _core._set_autobatch_fault(0)
        errors.append(str(err.value))
        if threads == 2:
            assert (_waved() == before).all()  # the wave raised before it was counted
        assert_identical(run(model, threads), run(model, 1))
    assert errors[0] == errors[1]


def test_a_level_of_groups_each_below_the_threshold_runs_at_once_when_together_they_reach_it():
    # Four products of 20 members, hidden 40: 33.6 k work each, 134 k together (the threshold: 65,536).
    _core._autobatch_pool_min_work(65536)
    model = chains(n=20, hid=40, steps=2)
    one = run(model, 1)
    s0 = dy.autobatch_stats()
    two = run(model, 2)
    s1 = dy.autobatch_stats()
    assert s1["groups_pooled"] - s0["groups_pooled"] >= 4
    assert s1["waves_backward"] > s0["waves_backward"]
    assert_identical(one, two)
    _core._autobatch_pool_min_work(1e9)  # above any level: nothing runs on the threads
    s0 = dy.autobatch_stats()
    assert_identical(one, run(model, 2))
    s1 = dy.autobatch_stats()
    assert s1["groups_pooled"] == s0["groups_pooled"] and s1["waves_backward"] == s0["waves_backward"]

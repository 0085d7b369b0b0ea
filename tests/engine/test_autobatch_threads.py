"""set_num_threads(n > 1): the autobatching executor runs the large groups of one
step that read none of each other's outputs on the engine's threads. The groups
are the same as on one thread and each writes its own memory, so values and
gradients are bit-identical (compared with ==, not a tolerance)."""
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynagraph as dy
from dynagraph import _core

HID = 48


@pytest.fixture(autouse=True)
def _restore():
    threads, policy, stacking = dy.get_num_threads(), dy.get_autobatch_policy(), dy.get_autobatch_stacking()
    # Every batched CPU group of a level with two or more may run on the pool (the default threshold
    # keeps small ones here): the most pooled groups, the most chances for a difference.
    min_work = _core._autobatch_pool_min_work(0)
    yield
    _core._autobatch_pool_min_work(min_work)
    dy.set_num_threads(threads)
    dy.set_autobatch_policy(policy)
    dy.set_autobatch_stacking(stacking)
    _core._set_autobatch_fault(0)
    dy.renew_cg(autobatching=False)


def _pooled():
    s = dy.autobatch_stats()
    return s["groups_pooled"], s["waves_pooled"]


# ---------------------------------------------------------------- models

def tree_lstm(pc, seed):
    rng = np.random.default_rng(seed)
    g = {k: pc.add_parameters((HID, HID)) for k in ("Wi", "Wo", "Wu")}
    g.update({k: pc.add_parameters((HID, 2 * HID)) for k in ("Ui", "Ufl", "Ufr", "Uo", "Uu")})
    g.update({k: pc.add_parameters(HID) for k in ("bi", "bo", "bu", "bf")})
    g["E"] = pc.add_lookup_parameters((40, HID))
    g["V"] = pc.add_parameters((5, HID))

    def tree(depth):
        if depth == 0 or rng.random() < 0.25:
            return int(rng.integers(40))
        return [tree(depth - 1), tree(depth - 1)]

    trees = [(tree(5), int(rng.integers(5))) for _ in range(24)]

    def node(t):
        if isinstance(t, int):
            x = g["E"][t]
            i = dy.logistic(g["Wi"] * x + g["bi"])
            o = dy.logistic(g["Wo"] * x + g["bo"])
            u = dy.tanh(g["Wu"] * x + g["bu"])
            c = dy.cmult(i, u)
            return dy.cmult(o, dy.tanh(c)), c
        (hl, cl), (hr, cr) = node(t[0]), node(t[1])
        e = dy.concatenate([hl, hr])
        i = dy.logistic(g["Ui"] * e + g["bi"])
        fl = dy.logistic(g["Ufl"] * e + g["bf"])
        fr = dy.logistic(g["Ufr"] * e + g["bf"])
        o = dy.logistic(g["Uo"] * e + g["bo"])
        u = dy.tanh(g["Uu"] * e + g["bu"])
        c = dy.cmult(i, u) + dy.cmult(fl, cl) + dy.cmult(fr, cr)
        return dy.cmult(o, dy.tanh(c)), c

    def build():
        return dy.esum([dy.pickneglogsoftmax(g["V"] * node(t)[0], label) for t, label in trees]), []
    return g, build


def tagger(pc, seed, noise=False):
    rng = np.random.default_rng(seed)
    E = pc.add_lookup_parameters((30, 32))
    fwd, bwd = dy.VanillaLSTMBuilder(1, 32, HID, pc), dy.VanillaLSTMBuilder(1, 32, HID, pc)
    if noise:  # random draws in the gates' kernel (weight noise) and dropout masks: the same on any thread count
        fwd, bwd = dy.CompactVanillaLSTMBuilder(1, 32, HID, pc), dy.CompactVanillaLSTMBuilder(1, 32, HID, pc)
        for b in (fwd, bwd):
            b.set_weightnoise(0.1)
            b.set_dropout(0.3)
    O = pc.add_parameters((7, 2 * HID))
    sents = [[int(w) for w in rng.integers(30, size=rng.integers(3, 12))] for _ in range(20)]

    def build():
        losses, inputs = [], []
        for n, s in enumerate(sents):
            xs = [E[w] for w in s]
            xs[0] = xs[0] + dy.inputVector(np.linspace(-1, 1, 32) * (n % 3))  # an input whose gradient we read
            inputs.append(xs[0])
            hf = fwd.initial_state().transduce(xs)
            hb = bwd.initial_state().transduce(xs[::-1])[::-1]
            for k, (a, b) in enumerate(zip(hf, hb)):
                losses.append(dy.pickneglogsoftmax(O * dy.concatenate([a, b]), (s[k] + n) % 7))
        return dy.esum(losses), inputs
    return {"E": E, "O": O}, build


def run(model, threads, seed=3, policy="height", stacking=False):
    dy.set_num_threads(threads)
    dy.set_autobatch_policy(policy)
    dy.set_autobatch_stacking(stacking)
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    params, build = model(pc, seed)
    dy.renew_cg(autobatching=True)
    loss, inputs = build()
    value = loss.value()
    loss.backward(full=True)  # inputs get gradients too
    grads = {k: p.grad_as_array().copy() for k, p in params.items()}
    grads.update({f"in{i}": x.gradient().copy() for i, x in enumerate(inputs)})
    grads.update({f"pc{i}": p.grad_as_array().copy() for i, p in enumerate(pc.parameters_list())})
    dy.renew_cg(autobatching=False)
    return value, grads


def assert_identical(a, b):
    assert a[0] == b[0]
    assert a[1].keys() == b[1].keys()
    for k in a[1]:
        assert np.array_equal(a[1][k], b[1][k]), k


# ---------------------------------------------------------------- bit-identical results

@pytest.mark.parametrize("policy", ["height", "depth"])
@pytest.mark.parametrize("stacking", [False, True])
def test_tree_lstm_is_bit_identical_on_threads(policy, stacking):
    one = run(tree_lstm, 1, policy=policy, stacking=stacking)
    before = _pooled()
    many = run(tree_lstm, 2, policy=policy, stacking=stacking)
    after = _pooled()
    assert after[0] > before[0] and after[1] > before[1]  # groups did run on the pool
    assert_identical(one, many)
    assert_identical(one, run(tree_lstm, 4, policy=policy, stacking=stacking))


@pytest.mark.parametrize("policy", ["height", "depth"])
def test_tagger_is_bit_identical_on_threads(policy):
    one = run(tagger, 1, policy=policy)
    before = _pooled()
    many = run(tagger, 3, policy=policy)
    assert _pooled()[0] > before[0]
    assert_identical(one, many)


def test_random_draws_inside_batched_groups_stay_in_order():
    noisy = lambda pc, seed: tagger(pc, seed, noise=True)  # noqa: E731
    one = run(noisy, 1)
    assert one[0] != run(tagger, 1)[0]  # the noise is there
    assert_identical(one, run(noisy, 2))


def test_small_groups_stay_on_the_calling_thread():
    _core._autobatch_pool_min_work(1e12)
    before = _pooled()
    run(tree_lstm, 2)
    assert _pooled() == before
    assert _core._autobatch_pool_min_work(-1) == 1e12  # a negative value only reads it


def test_one_thread_runs_nothing_on_the_pool():
    before = _pooled()
    run(tree_lstm, 1)
    assert _pooled() == before


def random_graph(spec):
    """spec: (seed, chains, length): chains of products of several weights, joined now and then."""
    seed, chains, length = spec

    def model(pc, _):
        rng = np.random.default_rng(seed)
        Ws = [pc.add_parameters((HID, HID)) for _ in range(3)]
        b = pc.add_parameters(HID)

        def build():
            xs = [dy.inputVector(rng.standard_normal(HID)) for _ in range(chains)]
            hs = list(xs)
            for step in range(length):
                for c in range(chains):
                    W = Ws[(c + step) % 3]
                    kind = (c * 7 + step) % 4
                    if kind == 0:
                        hs[c] = dy.tanh(W * hs[c] + b)
                    elif kind == 1:
                        hs[c] = dy.logistic(W * hs[c]) + hs[(c + 1) % chains] * 0.5
                    elif kind == 2:
                        hs[c] = dy.cmult(dy.rectify(W * hs[c]), hs[c])
                    else:
                        hs[c] = dy.softmax(W * hs[c] + b)
            return dy.esum([dy.squared_norm(h) + dy.sum_elems(h) for h in hs]), xs
        return {"b": b}, build
    return model


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.tuples(st.integers(0, 1000), st.integers(2, 40), st.integers(1, 5)),
       st.sampled_from(["height", "depth"]))
def test_random_graphs_are_bit_identical_on_threads(spec, policy):
    model = random_graph(spec)
    assert_identical(run(model, 1, policy=policy), run(model, 2, policy=policy))


# ---------------------------------------------------------------- errors, lifetime, fork

def test_an_exception_in_a_pooled_group_is_the_same_python_exception():
    errors = []
    for threads in (1, 2):
        dy.set_num_threads(threads)
        _core._set_autobatch_fault(20)  # the first group of 20+ members raises in its forward
        dy.init(seed=3)
        pc = dy.ParameterCollection()
        _, build = tree_lstm(pc, 3)
        dy.renew_cg(autobatching=True)
        loss, _ = build()
        before = _pooled()
        with pytest.raises(IndexError, match="fault injected") as err:
            loss.value()
        errors.append((type(err.value), str(err.value)))
        assert _pooled() == before  # the failing wave did not complete
        _core._set_autobatch_fault(0)
        # The pool is still usable: a fresh graph runs and matches one thread.
        assert_identical(run(tree_lstm, threads), run(tree_lstm, 1))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-3, ValueError), ("2", TypeError), (1.5, TypeError)])
def test_set_num_threads_rejects_bad_values(bad, exc):
    before = dy.get_num_threads()
    with pytest.raises(exc):
        dy.set_num_threads(bad)
    assert dy.get_num_threads() == before


def test_set_num_threads_round_trips():
    for n in (2, 1, 3):
        dy.set_num_threads(n)
        assert dy.get_num_threads() == n


def test_graphs_renewed_and_collected_with_the_pool_alive():
    import gc
    want = run(tree_lstm, 1)
    dy.set_num_threads(2)
    for _ in range(3):
        assert_identical(run(tree_lstm, 2), want)
        gc.collect()
    # Resizing the pool between graphs, and a graph that outlives its parameters' Python objects.
    dy.set_num_threads(3)
    dy.init(seed=3)
    pc = dy.ParameterCollection()
    _, build = tree_lstm(pc, 3)
    dy.renew_cg(autobatching=True)
    loss, _ = build()
    del pc
    gc.collect()
    assert loss.value() == want[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_pool():
    want = run(tree_lstm, 1)[0]
    run(tree_lstm, 2)  # the parent's pool has started
    dy.set_num_threads(2)
    pid = os.fork()
    if pid == 0:  # child: the parent's worker threads do not exist here
        code = 1
        try:
            before = _pooled()
            value = run(tree_lstm, 2)[0]
            code = 0 if value == want and _pooled()[0] > before[0] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert run(tree_lstm, 2)[0] == want  # and the parent's pool still works


@pytest.mark.parametrize("env,want", [({}, 1), ({"DYNAGRAPH_NUM_THREADS": "3"}, 3), ({"OMP_NUM_THREADS": "2"}, 2),
                                      ({"OMP_NUM_THREADS": "4,2"}, 4), ({"OMP_NUM_THREADS": "x"}, 1),
                                      # a distributed worker's environment: one thread whatever the driver had
                                      ({"OMP_NUM_THREADS": "1", "DYNAGRAPH_NUM_THREADS": "1"}, 1)])
def test_threads_at_import(env, want, tmp_path):
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(dy.__file__)))
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "DYNAGRAPH_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", "import dynagraph as dy; print(dy.get_num_threads())"],
                         check=True, capture_output=True, text=True, cwd=tmp_path,
                         env={**base, "PYTHONPATH": root, **env}).stdout.strip()
    assert out == str(want)


def test_a_bad_dynagraph_num_threads_fails_the_import(tmp_path):
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(dy.__file__)))
    r = subprocess.run([sys.executable, "-c", "import dynagraph"], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": root, "DYNAGRAPH_NUM_THREADS": "0"})
    assert r.returncode != 0 and "DYNAGRAPH_NUM_THREADS must be a whole number of threads >= 1" in r.stderr

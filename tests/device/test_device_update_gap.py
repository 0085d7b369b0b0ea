"""Values read after ``update()`` in the same graph under a budget (issue 25,
docs/memory.md, "Reading values after update()"). Without a budget a graph's
computed values stay as they were computed, while a parameter's node aliases
the parameter (it reads the updated values). Under a budget a value that left
the device may be rebuilt -- recomputed from its arguments, or a lookup's rows
gathered again -- and a rebuild after the update would read the updated
parameter. The plan knows when: each value records the parameters' version
stamp it was computed at (``Resident::values_stamp``). A value that leaves
*after* the update, when its rebuild would differ, is swapped instead of
dropped (``kept_over_update``) and reads back as it was; one that left
*before* the update cannot be rebuilt as it was: reading it raises
``RuntimeError`` ("parameters changed by update() since this value was
computed") instead of answering wrongly. Everything else equals the
unbudgeted run: per-node and autobatched, prefetch K = 0 and 4. Also: set() on
an input or a lookup, after which every node of the graph runs again."""
from __future__ import annotations

import numpy as np
import pytest

import dynagraph as dy

from test_device_memory import no_budget_after  # noqa: F401 (autouse: no budget left behind)

DEV = "EMU:0"
GAP = "parameters changed by update\\(\\) since this value was computed"


def graph(budget, policy, autobatching=False, prefetch=4, n=32, batch=16, steps=10):
    """One graph over a minibatch: a chain z = W h + b, h = tanh(z) from an
    input (the sums are element-wise, computed from the parameter node b), and
    a lookup made last (its backward runs first, then it may leave). Forward, backward,
    ``update()``; returns the model, the graph's expressions (in node order)
    and the loss, with the stats taken just before the update."""
    dy.init(seed=7, device=DEV, device_mem=budget, memory_policy=policy, prefetch=prefetch)
    dy.renew_cg()
    pc = dy.ParameterCollection()
    W, b = pc.add_parameters((n, n)), pc.add_parameters(n)
    E = pc.add_lookup_parameters((40, n))
    tr = dy.SimpleSGDTrainer(pc, learning_rate=0.5)
    x = np.random.default_rng(2).standard_normal((n, batch))
    dy.renew_cg(autobatching=autobatching)
    dy.reset_device_memory_stats(DEV)
    h = dy.inputTensor(x, batched=True)
    exprs = []
    for _ in range(steps):
        z = W * h + b
        h = dy.tanh(z)
        exprs += [z, h]
    e = dy.lookup_batch(E, [3 + i % 5 for i in range(batch)])
    s = dy.tanh(e + b)
    exprs += [e, s]
    loss = dy.sum_batches(dy.squared_norm(h + s))
    loss.value()
    loss.backward()
    before = dy.device_memory_stats(DEV)
    old = [p.as_array() for p in (W, b)] + [E.as_array()]
    tr.update()
    new = [p.as_array() for p in (W, b)] + [E.as_array()]
    assert all(np.abs(a - c).max() > 1e-3 for a, c in zip(old, new))  # the update changed every parameter
    return (W, b, E), exprs, loss, before


def read_all(exprs, order):
    """Each value (npvalue), or the error's text when it cannot be read."""
    out = {}
    for i in order:
        try:
            out[i] = exprs[i].npvalue()
        except RuntimeError as err:
            out[i] = str(err)
    return out


def peak():
    graph(0, "auto")
    return dy.device_memory_stats(DEV)["peak_bytes"]


@pytest.fixture(scope="module")
def unbudgeted_peak():
    return peak()


def after_update(budget, policy, autobatching, prefetch, order_last_first):
    """Reads every value after the update, then runs a second backward (DyNet
    allows it; without a budget it uses the kept values and the parameter nodes'
    new values) and reads the parameters' gradients."""
    params, exprs, loss, before = graph(budget, policy, autobatching, prefetch)
    idx = list(range(len(exprs)))
    values = read_all(exprs, idx[::-1] if order_last_first else idx)
    try:
        loss.backward()
        second = [p.grad_as_array() for p in params[:2]]
    except RuntimeError as err:
        second = str(err)
    return values, second, before, dy.device_memory_stats(DEV)


CASES = [(ab, k, pol) for ab in (False, True) for k in (0, 4) for pol in ("recompute", "auto", "swap")]


@pytest.mark.parametrize("autobatching,prefetch,policy", CASES,
                         ids=[f"{'batched' if a else 'per-node'}-K{k}-{p}" for a, k, p in CASES])
def test_values_read_after_update_equal_the_unbudgeted_run_or_raise(unbudgeted_peak, autobatching, prefetch, policy):
    ref_values, ref_second, _, _ = after_update(0, policy, autobatching, prefetch, True)
    assert isinstance(ref_second, list)  # the unbudgeted graph allows a second backward
    raised = kept = 0
    for frac in (0.3, 0.5):
        budget = int(unbudgeted_peak * frac) // 256 * 256
        for last_first in (True, False):
            got, second, before, st = after_update(budget, policy, autobatching, prefetch, last_first)
            assert st["peak_bytes"] <= budget
            for i, v in got.items():
                if isinstance(v, str):  # never a silent difference: the clear error, naming the node
                    assert "the value of node" in v and "update()" in v, v
                    raised += 1
                else:
                    np.testing.assert_allclose(v, ref_values[i], rtol=1e-6, atol=1e-7, err_msg=f"expression {i}")
            if isinstance(second, str):
                assert "update()" in second, second
                raised += 1
            else:
                for a, c in zip(second, ref_second):
                    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
            kept += st["kept_over_update"]
    # The paths ran: values left and were rebuilt or swapped back.
    assert st["swaps_out"] + st["recomputes"] + st["refetches"] > 0
    if policy != "swap":
        # Element-wise values computed from b were dropped before the update: each read
        # of one raises (before the fix these read wrong values, silently).
        assert raised > 0


@pytest.mark.parametrize("autobatching", [False, True], ids=["per-node", "batched"])
@pytest.mark.parametrize("prefetch", [0, 4], ids=["K0", "K4"])
def test_values_moved_out_after_update_are_swapped_not_dropped(unbudgeted_peak, autobatching, prefetch):
    """After the update a new chain runs in the same graph and pushes the old
    values off the device: those computed from a parameter that changed are
    swapped, not dropped (``kept_over_update``), and read back as they were."""
    def run(budget):
        (W, b, _), exprs, loss, _ = graph(budget, "recompute", autobatching, prefetch)
        h = dy.inputTensor(np.random.default_rng(4).standard_normal((32, 16)), batched=True)
        fresh = []
        for _ in range(6):  # reads the updated parameters, with and without a budget
            h = dy.tanh(W * h + b)
            fresh.append(h)
        dy.sum_batches(dy.sum_elems(h)).value()
        stats = dy.device_memory_stats(DEV)
        old = read_all(exprs, range(len(exprs)))
        for _ in range(2):  # read again: the values leave again between the reads
            again = read_all(exprs, range(len(exprs)))
            for i in old:
                assert (old[i] == again[i]) if isinstance(old[i], str) else np.array_equal(old[i], again[i])
        return old, [f.npvalue() for f in fresh], dy.device_memory_stats(DEV)

    ref_old, ref_fresh, _ = run(0)
    old, fresh, st = run(int(unbudgeted_peak * 0.5) // 256 * 256)
    # Counted once per value (its host copy serves every later eviction), not per eviction.
    assert 0 < st["kept_over_update"] <= len(old)
    same = 0
    for i, v in old.items():
        if isinstance(v, str):
            assert "parameters changed by update() since this value was computed" in v, v
        else:
            np.testing.assert_allclose(v, ref_old[i], rtol=1e-6, atol=1e-7, err_msg=f"expression {i}")
            same += 1
    assert same > 0
    for a, c in zip(fresh, ref_fresh):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)


# Ops whose value is a view of their argument's memory: of a resident
# parameter's node, they alias the parameter itself (outside the budget's pool).
VIEWS = {
    "reshape": lambda b: dy.reshape(b, (32,)),
    "reshape2": lambda b: dy.reshape(dy.reshape(b, (1, 32)), (32,)),
    "dropout0": lambda b: dy.dropout(b, 0.0),
    "noise0": lambda b: dy.noise(b, 0.0),
}


def view_chain(budget, autobatching, through, steps=10):
    """A chain z = W h + view(b), h = tanh(z); forward, backward, update();
    then every value read, last first."""
    dy.init(seed=7, device=DEV, device_mem=budget, memory_policy="recompute", prefetch=4)
    dy.renew_cg()
    pc = dy.ParameterCollection()
    W, b = pc.add_parameters((32, 32)), pc.add_parameters((32, 1))
    tr = dy.SimpleSGDTrainer(pc, learning_rate=0.5)
    dy.renew_cg(autobatching=autobatching)
    dy.reset_device_memory_stats(DEV)
    h = dy.inputTensor(np.random.default_rng(2).standard_normal((32, 16)), batched=True)
    bv = through(b)
    exprs = []
    for _ in range(steps):
        z = W * h + bv
        h = dy.tanh(z)
        exprs += [z, h]
    loss = dy.sum_batches(dy.squared_norm(h))
    loss.value()
    loss.backward()
    peak = dy.device_memory_stats(DEV)["peak_bytes"]
    old = b.as_array()
    tr.update()
    assert np.abs(b.as_array() - old).max() > 1e-3
    return read_all(exprs, range(len(exprs))[::-1]), peak


@pytest.mark.parametrize("autobatching", [False, True], ids=["per-node", "batched"])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_a_view_of_a_parameter_is_followed_to_the_parameter(autobatching, view):
    """The sums read b through a view (a reshape, a p = 0 dropout, stddev-0
    noise): the plan follows it to the parameter's node, so a sum dropped
    before the update raises when read after it. Before, the view hid the
    parameter: under recompute at 30 % of the peak 17 of the 20 values read
    back differed from the unbudgeted run, silently."""
    ref, peak = view_chain(0, autobatching, VIEWS[view])
    got, _ = view_chain(int(peak * 0.3) // 256 * 256, autobatching, VIEWS[view])
    raised = 0
    for i, v in got.items():
        if isinstance(v, str):
            assert "the value of node" in v and "update()" in v, v
            raised += 1
        else:
            np.testing.assert_allclose(v, ref[i], rtol=1e-6, atol=1e-7, err_msg=f"expression {i}")
    assert 0 < raised < len(got)
    assert dy.device_memory_stats(DEV)["recomputes"] > 0


def test_the_error_names_the_node_and_a_new_graph_works(unbudgeted_peak):
    """The refusal is a RuntimeError naming the node, its op and shape; the next
    graph (renew_cg) computes from the updated parameters as usual."""
    (W, b, E), exprs, loss, _ = graph(int(unbudgeted_peak * 0.3) // 256 * 256, "recompute")
    with pytest.raises(RuntimeError, match=r"Expression.npvalue: the value of node \d+ \([a-z_]+, shape \{32X16\}\).*" + GAP):
        for e in exprs[::-1]:
            e.npvalue()
    dy.renew_cg()
    x = np.random.default_rng(6).standard_normal(32)
    got = dy.tanh(W * dy.inputVector(list(x)) + b).npvalue()
    np.testing.assert_allclose(got, np.tanh(W.as_array() @ x + b.as_array()), rtol=1e-5, atol=1e-6)


# ---- set() on an input or a lookup: every node runs again in the same graph

@pytest.mark.parametrize("autobatching", [False, True], ids=["per-node", "batched"])
def test_set_then_forward_again_under_a_budget(autobatching):
    """set() invalidates the graph's values and the next forward runs every node
    again. Under a budget the old values go first: before, each rerun kept them
    beside the new ones (a chain of 8 tanh(W h) under 16 KiB: 4,352 bytes more in
    use per rerun, a MemoryError at the fourth), and a lookup of a streamed table
    took its old rows as the new ones (the loss off by 0.61)."""
    def run(budget):
        dy.init(seed=11, device=DEV, device_mem=budget, memory_policy="swap", prefetch=4)
        dy.renew_cg()
        pc = dy.ParameterCollection()
        E = pc.add_lookup_parameters((40, 32))
        Wx, Wh = pc.add_parameters((32, 32)), pc.add_parameters((32, 32))
        pc.add_parameters((128, 32))  # the largest: with E, it streams under the budget
        dy.renew_cg(autobatching=autobatching)
        x = dy.inputVector([0.1] * 32)
        looks = [dy.lookup(E, i) for i in range(6)]
        h = x
        for lk in looks:
            h = dy.tanh(Wx * lk + Wh * h)
        loss = dy.sum_elems(h)
        out, in_use = [], []
        for r in range(8):
            x.set([0.1 * (r + 1)] * 32)
            looks[r % 6].set(10 + r)
            out.append(loss.value())
            in_use.append(dy.device_memory_stats(DEV)["in_use_bytes"])
        loss.backward()
        out += [Wx.grad_as_array(), E.grad_as_array()]
        return out, in_use, dy.device_memory_stats(DEV)["params_streaming"]

    ref, _, _ = run(0)
    got, in_use, streaming = run(96 * 1024)
    assert streaming == 2
    assert len(set(in_use)) == 1, in_use  # nothing left behind by a rerun
    assert len({float(v) for v in ref[:8]}) == 8  # every set() changed the loss
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("autobatching", [False, True], ids=["per-node", "batched"])
@pytest.mark.parametrize("policy", ["swap", "recompute"])
def test_a_rerun_after_set_moves_no_dead_value(autobatching, policy):
    """After set() the next forward frees every old value at its start: a rerun
    moves what the first forward moved (per node; autobatched, once the
    appended schedule settles), no more (before, the old values of the
    nodes not yet rerun were swapped out to make room, each rerun about 100
    swap-outs more than the first forward), and gives the unbudgeted losses."""
    from dynagraph import _core

    def run(budget, delay=0):
        dy.init(seed=11, device=DEV, device_mem=budget, memory_policy=policy, prefetch=4)
        dy.renew_cg()
        pc = dy.ParameterCollection()
        E = pc.add_lookup_parameters((400, 32))
        Wx, Wh = pc.add_parameters((32, 32)), pc.add_parameters((32, 32))
        dy.renew_cg(autobatching=autobatching)
        x = dy.inputTensor(np.full((32, 32), 0.1), batched=True)
        looks = [dy.lookup_batch(E, list(range(k, k + 32))) for k in range(16)]
        h, hs = x, []
        for lk in looks:
            h = dy.tanh(Wx * lk + Wh * h)
            hs.append(h)
        loss = dy.sum_batches(dy.sum_elems(dy.esum(hs)))
        out, moved = [], []
        _core._set_emu_copy_delay(delay)
        try:
            for r in range(5):
                x.set(list(np.full(32 * 32, 0.1 * (r + 1))))
                looks[r].set(list(range(100 + r, 132 + r)))
                before = dy.device_memory_stats(DEV)
                out.append(loss.value())
                st = dy.device_memory_stats(DEV)
                moved.append(tuple(st[k] - before[k] for k in ("swaps_out", "recomputes", "to_host_bytes")))
        finally:
            _core._set_emu_copy_delay(0)
        return out, moved

    ref, _ = run(0)
    assert len(set(ref)) == 5  # every set() changed the loss
    for delay in (0, 200):  # copies 0.2 ms late: a host copy freed before its copy-out would show
        got, moved = run(140 * 1024, delay)
        np.testing.assert_allclose(got, ref, rtol=1e-5)
        assert moved[0][0] + moved[0][1] > 0  # the budget moves values
        if not autobatching:
            assert len(set(moved)) == 1, moved  # each rerun as the first forward
        else:  # each forward appends its steps to the schedule: the reruns settle after two
            assert len(set(moved[2:])) == 1, moved
            assert moved[-1][2] <= moved[0][2], moved  # bytes to the host (before, swap: 266,372 a rerun, 249,856 the first)

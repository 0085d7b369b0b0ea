"""Outputs placed for their reader (autobatch.cc, place_group_outputs): when a group's batched
argument is the outputs of several earlier groups, each whole and in order (a cell's gates, each
its own bias add, read by one logistic group), those groups write their outputs end to end in
one block and the argument is read in place instead of gathered. Every case compares values and
gradients with the unbatched executor. Their gradient blocks are laid out alike in backward
(autobatch_backward.cc). Placement on/off gives the very same floats where each gradient has one
term (the same kernels on equally aligned memory; 0 + g is g, in place or through scratch); with
two or more terms the in-place sum may round differently (one test compares within a tolerance)."""
import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

DIM = 16  # a multiple of 16 floats: every producer's slice starts 64-byte aligned
TREES = 8


def _model(seed=5, dim=DIM):
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    p = {k: pc.add_parameters((dim, dim)) for k in ("Wi", "Wf", "Wu", "Wo")}
    p.update({"b" + k: pc.add_parameters(dim) for k in ("Wi", "Wf", "Wu", "Wo")})
    p["E"] = pc.add_lookup_parameters((60, dim))
    return p


def _cells(p, watch, gate=lambda e: e):
    """TREES chains of three LSTM-like cells: three logistic gates (one group reading three
    bias-add groups), c = i*u + f*c_prev, h = o*tanh(c). `gate` wraps each pre-activation."""
    losses = []
    for t in range(TREES):
        h, c = dy.lookup(p["E"], t), dy.lookup(p["E"], 20 + t)
        for s in range(3):
            x = h + dy.lookup(p["E"], 40 + s)
            i = dy.logistic(gate(p["Wi"] * x + p["bWi"]))
            f = dy.logistic(gate(p["Wf"] * x + p["bWf"]))
            o = dy.logistic(gate(p["Wo"] * x + p["bWo"]))
            u = dy.tanh(p["Wu"] * x + p["bWu"])
            c = dy.cmult(i, u) + dy.cmult(f, c)
            h = dy.cmult(o, dy.tanh(c))
            if t == 1:
                watch.extend([i, f, o, c])
        losses.append(dy.dot_product(h, h) * (t + 1.0))
    return dy.esum(losses)


def _run(build, autobatch, place=True, threads=1, model=_model):
    _core._set_autobatch_place_outputs(place)
    dy.set_num_threads(threads)
    try:
        p = model()
        dy.renew_cg(autobatching=autobatch)
        watch = []
        loss = build(p, watch)
        before = _core.autobatch_stats()
        value = loss.npvalue().copy()
        values = [w.npvalue().copy() for w in watch]
        loss.backward(full=True)
        after = _core.autobatch_stats()
        grads = {k: v.grad_as_array().copy() for k, v in p.items()}
        wgrads = [w.gradient().copy() for w in watch]
        dy.renew_cg(autobatching=False)
    finally:
        _core._set_autobatch_place_outputs(True)
        dy.set_num_threads(1)
    counts = {k: after[k] - before[k]
              for k in ("outputs_placed", "args_gathered", "args_in_place", "grads_scattered", "grads_in_place")}
    return value, values, grads, wgrads, counts


def _check_same(a, b, exact):
    compare = (lambda x, y, msg: np.testing.assert_array_equal(x, y, err_msg=msg)) if exact else \
        (lambda x, y, msg: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6, err_msg=msg))
    compare(a[0], b[0], "loss")
    for i, (x, y) in enumerate(zip(a[1], b[1])):
        compare(x, y, f"value {i}")
    for k in a[2]:
        compare(a[2][k], b[2][k], k)
    for i, (x, y) in enumerate(zip(a[3], b[3])):
        compare(x, y, f"gradient {i}")


def test_gates_are_placed_and_match_unbatched():
    unbatched = _run(_cells, False)
    placed = _run(_cells, True)
    _check_same(placed, unbatched, exact=False)
    assert placed[4]["outputs_placed"] >= 3  # the three gates' bias adds of a cell level at least


def test_placement_on_and_off_give_identical_floats():
    on = _run(_cells, True, place=True)
    off = _run(_cells, True, place=False)
    assert on[4]["outputs_placed"] > 0 and off[4]["outputs_placed"] == 0
    # A placed argument is read in place instead of gathered: fewer copies, same floats.
    assert on[4]["args_gathered"] < off[4]["args_gathered"]
    assert on[4]["args_in_place"] > off[4]["args_in_place"]
    # Their gradients lie alike: the reader's backward adds into them in place, no scratch block.
    assert on[4]["grads_scattered"] < off[4]["grads_scattered"]
    assert on[4]["grads_in_place"] > off[4]["grads_in_place"]
    _check_same(on, off, exact=True)


def test_producers_that_alias_their_input_fall_back_to_a_gather():
    # dropout with p = 0 returns its argument's memory instead of filling the placed slice:
    # the reader finds its argument not contiguous and gathers it, with the right values.
    gate = lambda e: dy.dropout(e, 0.0)
    unbatched = _run(lambda p, w: _cells(p, w, gate), False)
    placed = _run(lambda p, w: _cells(p, w, gate), True)
    _check_same(placed, unbatched, exact=False)
    written = _run(_cells, True)
    # Counted where a producer wrote its placed slice, not where it was planned.
    assert written[4]["outputs_placed"] > 0 and placed[4]["outputs_placed"] < written[4]["outputs_placed"]


@pytest.mark.parametrize("dim", [5, 24])
def test_sizes_off_the_alignment_are_not_placed_into_unaligned_slices(dim):
    # 5 floats per member: slices after the first would start unaligned, so nothing is placed;
    # 24: 8 members of 24 floats, every slice starts at a multiple of 16 floats: placed.
    model = lambda: _model(dim=dim)
    unbatched = _run(_cells, False, model=model)
    on = _run(_cells, True, model=model)
    off = _run(_cells, True, place=False, model=model)
    _check_same(on, unbatched, exact=False)
    _check_same(on, off, exact=True)
    if dim == 5:
        assert on[4]["outputs_placed"] == 0


def test_a_producer_read_by_two_groups_in_different_orders():
    def build(p, watch):
        xs = [dy.lookup(p["E"], t) for t in range(TREES)]
        a = [p["Wi"] * x + p["bWi"] for x in xs]
        b = [p["Wf"] * x + p["bWf"] for x in xs]
        first = [dy.logistic(v) for v in a + b]          # reads a's group then b's
        second = [dy.tanh(v) for v in b + a]             # reads b's group then a's: gathered
        watch.extend(a[:2] + b[:2])
        return dy.esum([dy.dot_product(s, t) for s, t in zip(first, second)])
    placed = _run(build, True)
    assert placed[4]["outputs_placed"] == 2
    _check_same(placed, _run(build, False), exact=False)
    # Two terms per gradient here: in place (c + g in one step) and through scratch (c + (0 + g))
    # may round differently, so on/off agree to rounding only.
    _check_same(placed, _run(build, True, place=False), exact=False)


def test_two_part_forward_places_only_the_new_groups():
    def build(p, watch):
        xs = [dy.lookup(p["E"], t) for t in range(TREES)]
        a = [p["Wi"] * x + p["bWi"] for x in xs]
        a[0].value()  # the first forward runs the products and bias adds
        b = [p["Wf"] * x + p["bWf"] for x in xs]
        gates = [dy.logistic(v) for v in a + b]  # a's groups ran earlier: not placed
        watch.extend(gates[:3])
        return dy.esum([dy.sum_elems(g) for g in gates])
    _check_same(_run(build, True), _run(build, False), exact=False)
    _check_same(_run(build, True), _run(build, True, place=False), exact=True)


def test_engine_threads_give_the_same_floats_with_placement():
    # Every group large enough for the pool: placed producers write their slices from threads.
    old = _core._autobatch_pool_min_work(0.0)
    try:
        one = _run(_cells, True, threads=1)
        two = _run(_cells, True, threads=2)
    finally:
        _core._autobatch_pool_min_work(old)
    assert two[4]["outputs_placed"] == one[4]["outputs_placed"] > 0
    _check_same(two, one, exact=True)


def test_finite_differences_through_placed_outputs():
    p = _model()
    dy.renew_cg(autobatching=True)
    loss = _cells(p, [])
    loss.value()
    loss.backward()
    grad = p["bWf"].grad_as_array().copy()
    b = p["bWf"].as_array().copy()
    eps = 1e-2
    for r in (0, 3, 7):
        vals = []
        for s in (eps, -eps):
            bd = b.copy()
            bd[r] += s
            p["bWf"].set_value(bd)
            dy.renew_cg(autobatching=True)
            vals.append(_cells(p, []).value())
        p["bWf"].set_value(b)
        assert grad[r] == pytest.approx((vals[0] - vals[1]) / (2 * eps), rel=2e-2, abs=2e-3)
    dy.renew_cg(autobatching=False)

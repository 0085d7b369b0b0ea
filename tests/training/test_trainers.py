"""Trainers: one update against a NumPy reference of each rule, DyNet defaults, clipping."""
import math

import numpy as np
import pytest

import dynagraph as dy


def one_step(make_trainer, steps=3, clip=True):
    """Runs `steps` updates of loss = w . x for a fixed x, returns (w0, ws, grad)."""
    dy.init(seed=5)
    pc = dy.ParameterCollection()
    w = pc.add_parameters(4)
    w0 = w.as_array().astype(np.float64)
    t = make_trainer(pc)
    if not clip:
        t.set_clip_threshold(0)
    x = np.array([0.5, -1.0, 2.0, 0.25])
    ws = []
    for _ in range(steps):
        dy.renew_cg()
        dy.dot_product(w, dy.inputVector(list(x))).backward()
        t.update()
        ws.append(w.as_array().astype(np.float64))
    return w0, ws, x


def reference(rule, w0, g, steps, **h):
    w, state, out = w0.copy(), {}, []
    for t in range(1, steps + 1):
        w = rule(w, g, state, t, **h)
        out.append(w.copy())
    return out


def sgd(w, g, s, t, lr):
    return w - lr * g


def momentum(w, g, s, t, lr, mom):
    s["v"] = mom * s.get("v", 0) - lr * g
    return w + s["v"]


def adagrad(w, g, s, t, lr, eps):
    s["G"] = s.get("G", 0) + g * g
    return w - lr * g / np.sqrt(s["G"] + eps)


def adadelta(w, g, s, t, eps, rho):
    s["hg"] = rho * s.get("hg", 0) + (1 - rho) * g * g
    d = -g * np.sqrt(s.get("hd", 0) + eps) / np.sqrt(s["hg"] + eps)
    s["hd"] = rho * s.get("hd", 0) + (1 - rho) * d * d
    return w + d


def rmsprop(w, g, s, t, lr, eps, rho):
    s["h"] = rho * s.get("h", 0) + (1 - rho) * g * g
    return w - lr * g / np.sqrt(s["h"] + eps)


def adam(w, g, s, t, lr, b1, b2, eps, ams=False):
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    s["vh"] = np.maximum(s.get("vh", 0), s["v"]) if ams else s["v"]
    lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    return w - lr_t * s["m"] / (np.sqrt(s["vh"]) + eps)


CASES = [
    (dy.SimpleSGDTrainer, sgd, dict(lr=0.1)),
    (dy.MomentumSGDTrainer, momentum, dict(lr=0.01, mom=0.9)),
    (dy.AdagradTrainer, adagrad, dict(lr=0.1, eps=1e-20)),
    (dy.AdadeltaTrainer, adadelta, dict(eps=1e-6, rho=0.95)),
    (dy.RMSPropTrainer, rmsprop, dict(lr=0.001, eps=1e-8, rho=0.9)),
    (dy.AdamTrainer, adam, dict(lr=0.001, b1=0.9, b2=0.999, eps=1e-8)),
    (dy.AmsgradTrainer, adam, dict(lr=0.001, b1=0.9, b2=0.999, eps=1e-8, ams=True)),
]


@pytest.mark.parametrize("cls,rule,hyper", CASES, ids=[c[0].__name__ for c in CASES])
def test_update_rule_with_dynet_defaults(cls, rule, hyper):
    w0, ws, x = one_step(cls, clip=False)
    want = reference(rule, w0, x, len(ws), **hyper)
    for got, exp in zip(ws, want):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)


def test_gradient_clipping_scales_to_threshold():
    w0, ws, x = one_step(lambda pc: dy.SimpleSGDTrainer(pc, learning_rate=1.0), steps=1)
    norm = np.linalg.norm(x)
    step = w0 - ws[0]
    expected = x * min(1.0, 5.0 / norm)
    np.testing.assert_allclose(step, expected, rtol=1e-5)


def test_clipping_applies_when_norm_exceeds_threshold(capsys):
    dy.init(seed=1)
    pc = dy.ParameterCollection()
    w = pc.add_parameters(2, init=dy.ConstInitializer(0.0))
    t = dy.SimpleSGDTrainer(pc, learning_rate=1.0)
    assert t.get_clip_threshold() == 5.0
    dy.renew_cg()
    dy.dot_product(w, dy.inputVector([30.0, 40.0])).backward()  # |g| = 50
    t.update()
    np.testing.assert_allclose(w.as_array(), [-3.0, -4.0], rtol=1e-6)
    assert t.status() is None
    assert capsys.readouterr().err == "[lr=1 clips=1 updates=1] "  # DyNet's line, on stderr
    t.status()                                                     # counts since the last call
    assert capsys.readouterr().err == "[lr=1 clips=0 updates=0] "
    t.set_clip_threshold(-1)
    assert t.get_clip_threshold() == 0.0


def test_learning_rate_and_restart():
    pc = dy.ParameterCollection()
    pc.add_parameters(2)
    t = dy.AdamTrainer(pc)
    assert t.learning_rate == pytest.approx(0.001)
    t.learning_rate = 0.5
    assert t.learning_rate == 0.5
    t.restart(0.25)
    assert t.learning_rate == 0.25
    t.restart()
    assert t.learning_rate == 0.25


def test_adadelta_has_no_learning_rate():
    """DyNet's AdaDelta rule takes no learning rate: setting one (or restart(lr)) changes
    the property but not the steps, which stay the reference rule's."""
    w0, ws, x = one_step(lambda pc: _with_lr(dy.AdadeltaTrainer(pc), 0.07), clip=False)
    want = reference(adadelta, w0, x, len(ws), eps=1e-6, rho=0.95)
    for got, exp in zip(ws, want):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)


def _with_lr(trainer, lr):
    trainer.learning_rate = lr
    assert trainer.learning_rate == pytest.approx(lr)
    return trainer


@pytest.mark.parametrize("ams", [False, True], ids=["adam", "amsgrad"])
def test_restart_forgets_moments_but_keeps_the_update_count(ams):
    """As DyNet: restart() zeroes m and v, and Adam's bias correction goes on from the
    update count (step 4 after a restart at 3 uses t = 4, not t = 1)."""
    dy.init(seed=5)
    pc = dy.ParameterCollection()
    w = pc.add_parameters(4)
    w0 = w.as_array().astype(np.float64)
    t = (dy.AmsgradTrainer if ams else dy.AdamTrainer)(pc, alpha=0.01)
    t.set_clip_threshold(0)
    x = np.array([0.5, -1.0, 2.0, 0.25])
    got = []
    for step in range(5):
        if step == 3:
            t.restart()
        dy.renew_cg()
        dy.dot_product(w, dy.inputVector(list(x))).backward()
        t.update()
        got.append(w.as_array().astype(np.float64))
    wr, state, want = w0.copy(), {}, []
    for step in range(1, 6):
        if step == 4:
            state = {}
        wr = adam(wr, x, state, step, lr=0.01, b1=0.9, b2=0.999, eps=1e-8, ams=ams)
        want.append(wr.copy())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def cyclical_rates(steps, restart_at=None):
    """A CyclicalSGDTrainer's learning rate after each of `steps` updates (restart() before update restart_at)."""
    pc = dy.ParameterCollection()
    w = pc.add_parameters(1)
    t = dy.CyclicalSGDTrainer(pc, learning_rate_min=0.01, learning_rate_max=0.1, step_size=4)
    lrs = []
    for step in range(steps):
        if step == restart_at:
            t.restart()
        dy.renew_cg()
        dy.dot_product(w, dy.inputVector([1.0])).backward()
        t.update()
        lrs.append(t.learning_rate)
    return pc, lrs


def test_restart_keeps_the_cyclical_schedule_and_sets_any_finite_rate():
    pc, lrs = cyclical_rates(6, restart_at=3)
    # The schedule does not start again at the restart (DyNet 2.2's sequence for these settings).
    np.testing.assert_allclose(lrs, [0.01, 0.0325, 0.055, 0.0775, 0.1, 0.0775], rtol=1e-5)
    s = dy.SimpleSGDTrainer(pc)
    s.restart(-0.5)  # a negative rate is accepted, as by the setter and by DyNet
    assert s.learning_rate == -0.5


def test_cyclical_learning_rate_moves_between_bounds():
    _, lrs = cyclical_rates(12)
    # The sequence DyNet 2.2 prints for the same settings.
    np.testing.assert_allclose(lrs[:10], [0.01, 0.0325, 0.055, 0.0775, 0.1, 0.0775, 0.055, 0.0325, 0.01, 0.0325],
                               rtol=1e-5)


def test_updated_flag_freezes_a_parameter():
    pc = dy.ParameterCollection()
    w = pc.add_parameters(2)
    before = w.as_array().copy()
    w.set_updated(False)
    assert not w.is_updated()
    t = dy.SimpleSGDTrainer(pc)
    dy.renew_cg()
    dy.dot_product(w, dy.inputVector([1.0, 1.0])).backward()
    t.update()
    np.testing.assert_array_equal(w.as_array(), before)


def test_update_subset_updates_only_the_listed_indices():
    pc = dy.ParameterCollection()
    a, b = pc.add_parameters(2, init=1.0), pc.add_parameters(2, init=1.0)
    E = pc.add_lookup_parameters((3, 2), init=1.0)
    b.set_updated(False)  # a flag set by the user survives update_subset
    t = dy.SimpleSGDTrainer(pc, learning_rate=0.5)
    t.set_clip_threshold(0)
    dy.renew_cg()
    dy.sum_elems(a + b + E[0]).backward()
    t.update_subset([0, 1], [])
    np.testing.assert_allclose(a.as_array(), [0.5, 0.5])
    np.testing.assert_allclose(b.as_array(), [1.0, 1.0])     # listed, but frozen by its flag
    np.testing.assert_allclose(E.as_array()[0], [1.0, 1.0])  # not listed: keeps its gradient
    np.testing.assert_allclose(E.grad_as_array()[0], [1.0, 1.0])
    assert not b.is_updated() and E.is_updated()
    t.update_subset([], [0])
    np.testing.assert_allclose(E.as_array()[0], [0.5, 0.5])
    with pytest.raises(IndexError, match="parameter index 2 out of range"):
        t.update_subset([2], [])
    assert a.is_updated() and not b.is_updated()


def test_dense_lookup_updates_touch_every_row():
    dy.init(seed=2)
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((3, 2))
    t = dy.MomentumSGDTrainer(pc, learning_rate=0.1)
    t.set_sparse_updates(False)
    t.set_clip_threshold(0)
    for _ in range(2):
        dy.renew_cg()
        dy.dot_product(E[0], dy.inputVector([1.0, 1.0])).backward()
        t.update()
    before = E.as_array().copy()
    dy.renew_cg()
    dy.dot_product(E[0], dy.inputVector([0.0, 0.0])).backward()
    t.update()  # row 0's zero gradient still moves it by momentum
    assert not np.allclose(E.as_array()[0], before[0])


def test_trainer_rejects_non_collection():
    with pytest.raises(TypeError, match="ParameterCollection"):
        dy.SimpleSGDTrainer(object())


@pytest.mark.parametrize("trainer", ["AdamTrainer", "AmsgradTrainer", "MomentumSGDTrainer"])
def test_seeded_runs_are_bitwise_identical_whatever_the_heap_layout(trainer):
    """Parameter and trainer-state buffers are packet-aligned, so Eigen takes the same
    scalar/vector split every run (a malloc-aligned buffer made Adam differ in the last bit)."""
    def run(junk):
        dy.init(seed=1)
        pc = dy.ParameterCollection()
        L = pc.add_lookup_parameters((50, 37))
        W = pc.add_parameters((37, 37))
        tr = getattr(dy, trainer)(pc, 0.01)
        junk.append([np.ones(len(junk) * 13 + 1) for _ in range(5)])  # shifts the heap only
        for s in range(10):
            dy.renew_cg()
            x = dy.inputVector(np.sin(np.linspace(-1, 1, 37) * (s + 1)))
            dy.dot_product(W * (L[s % 7] + L[(3 * s) % 11]), x).backward()
            tr.update()
        return L.as_array().tobytes() + W.as_array().tobytes()

    junk = []
    assert len({run(junk) for _ in range(8)}) == 1


# ---- hyper-parameters that would make the first update NaN (probe27): refused, named
@pytest.mark.parametrize("make, arg", [
    (lambda pc, v: dy.SimpleSGDTrainer(pc, v), "learning_rate"),
    (lambda pc, v: dy.MomentumSGDTrainer(pc, 0.1, v), "mom"),
    (lambda pc, v: dy.AdagradTrainer(pc, v), "learning_rate"),
    (lambda pc, v: dy.RMSPropTrainer(pc, 0.01, v), "eps"),
    (lambda pc, v: dy.AdamTrainer(pc, v), "alpha"),
    (lambda pc, v: dy.AmsgradTrainer(pc, beta_2=v), "beta_2"),
    (lambda pc, v: dy.CyclicalSGDTrainer(pc, 0.01, v), "learning_rate_max"),
])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_hyper_parameters_are_refused(make, arg, value):
    with pytest.raises(ValueError, match=rf"'{arg}' must be (finite|in \[)"):
        make(dy.ParameterCollection(), value)


@pytest.mark.parametrize("make, message", [
    (lambda pc: dy.AdamTrainer(pc, beta_1=1.0), r"'beta_1' must be in \[0, 1\), got 1"),
    (lambda pc: dy.AdamTrainer(pc, beta_2=-0.1), r"'beta_2' must be in \[0, 1\), got -0.1"),
    (lambda pc: dy.AdamTrainer(pc, eps=-1.0), r"'eps' must be in \[0, inf\], got -1"),
    (lambda pc: dy.AdadeltaTrainer(pc, rho=2.0), r"'rho' must be in \[0, 1\], got 2"),
    (lambda pc: dy.RMSPropTrainer(pc, rho=-0.5), r"'rho' must be in \[0, 1\], got -0.5"),
])
def test_hyper_parameters_out_of_their_range_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make(dy.ParameterCollection())


def test_values_that_used_to_give_nan_did_so_and_the_edges_still_train():
    # The refused values did turn every parameter into NaN at the first update:
    # the edges of the ranges are accepted and give finite values.
    for make in (lambda pc: dy.AdamTrainer(pc, beta_1=0.0, beta_2=0.0, eps=0.0),
                 lambda pc: dy.AdadeltaTrainer(pc, rho=1.0, eps=1e-6), lambda pc: dy.SimpleSGDTrainer(pc, 0.0)):
        pc = dy.ParameterCollection()
        p = pc.add_parameters((3,), init=1.0)
        t = make(pc)
        dy.renew_cg()
        dy.squared_norm(dy.parameter(p)).backward()
        t.update()
        assert np.isfinite(p.as_array()).all()


def test_learning_rate_setter_restart_and_clip_threshold_refuse_nan():
    t = dy.SimpleSGDTrainer(dy.ParameterCollection(), 0.1)
    with pytest.raises(ValueError, match="'learning_rate' must be finite, got nan"):
        t.learning_rate = math.nan
    with pytest.raises(ValueError, match="Trainer.restart.*'learning_rate' must be finite"):
        t.restart(math.inf)
    with pytest.raises(ValueError, match="set_clip_threshold.*NaN"):
        t.set_clip_threshold(math.nan)
    with pytest.raises(TypeError, match="set_clip_threshold.*must be a number, got str"):
        t.set_clip_threshold("5")
    assert t.learning_rate == pytest.approx(0.1) and t.get_clip_threshold() == 5.0
    t.set_clip_threshold(-1)
    assert t.get_clip_threshold() == 0.0  # <= 0 disables clipping, as DyNet

"""RNN state semantics, errors and dropout of the recurrent builders."""
import numpy as np
import pytest

import dynagraph as dy

ALL = ["SimpleRNNBuilder", "VanillaLSTMBuilder", "CompactVanillaLSTMBuilder", "SparseLSTMBuilder",
       "CoupledLSTMBuilder", "FastLSTMBuilder", "GRUBuilder"]


def vec(rng, n):
    return dy.inputVector(rng.normal(size=n))


@pytest.mark.parametrize("name", ALL)
def test_states_are_immutable_and_branch(name):
    rng = np.random.default_rng(0)
    b = getattr(dy, name)(2, 3, 4, dy.ParameterCollection())
    dy.renew_cg()
    s0 = b.initial_state()
    assert s0.output() is None and s0.h() == () and s0.s() == ()
    x1, x2, x3 = vec(rng, 3), vec(rng, 3), vec(rng, 3)
    s1 = s0.add_input(x1)
    s2 = s1.add_input(x2)
    s2b = s1.add_input(x3)                  # a branch from s1
    assert s2.prev() is s1 and s1.prev() is s0 and s2b.prev() is s1
    assert len(s2.h()) == 2 and s2.output().dim()[0] == (4,)
    n_state = 4 if "LSTM" in name else 2
    assert len(s2.s()) == n_state
    again = s1.add_input(x2)
    np.testing.assert_allclose(again.output().npvalue(), s2.output().npvalue(), atol=1e-6)
    assert not np.allclose(s2b.output().npvalue(), s2.output().npvalue())
    outs = s0.transduce([x1, x2])
    np.testing.assert_allclose(outs[-1].npvalue(), s2.output().npvalue(), atol=1e-6)
    assert [st.output().npvalue().tolist() for st in s0.add_inputs([x1, x2])] == \
        [o.npvalue().tolist() for o in outs]


@pytest.mark.parametrize("name", ALL)
def test_wrong_input_dimension_names_expected_and_got(name):
    b = getattr(dy, name)(1, 3, 4, dy.ParameterCollection())
    dy.renew_cg()
    with pytest.raises(ValueError, match=r"expected an input of dimension \(3,\), got \(2,\)"):
        b.initial_state().add_input(dy.inputVector([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"expected \d vectors.*, got 3"):
        b.initial_state([dy.inputVector([1.0] * 4)] * 3)
    with pytest.raises(ValueError, match=r"expected vectors of dimension \(4,\), got \(3,\)"):
        b.initial_state([dy.inputVector([1.0] * 3)] * (2 if "LSTM" in name else 1))


def test_set_h_and_set_s():
    rng = np.random.default_rng(1)
    b = dy.VanillaLSTMBuilder(1, 2, 3, dy.ParameterCollection())
    dy.renew_cg()
    s1 = b.initial_state().add_input(vec(rng, 2))
    h = dy.inputVector([0.1, 0.2, 0.3])
    s2 = s1.set_h([h])
    assert s2.prev() is s1
    np.testing.assert_allclose(s2.output().npvalue(), [0.1, 0.2, 0.3], atol=1e-7)
    np.testing.assert_allclose(s2.s()[0].npvalue(), s1.s()[0].npvalue())      # cell kept
    c = dy.inputVector([1.0, 1.0, 1.0])
    s3 = s1.set_s([c, h])
    np.testing.assert_allclose(s3.s()[0].npvalue(), [1, 1, 1])
    x = vec(rng, 2)
    via_init = b.initial_state([c, h]).add_input(x)
    np.testing.assert_allclose(s3.add_input(x).output().npvalue(), via_init.output().npvalue(), atol=1e-6)


def test_update_false_freezes_parameters():
    rng = np.random.default_rng(2)
    pc = dy.ParameterCollection()
    b = dy.GRUBuilder(1, 2, 3, pc)
    for frozen in (True, False):           # frozen first, while the gradients are still zero
        dy.renew_cg()
        out = b.initial_state(update=not frozen).transduce([vec(rng, 2), vec(rng, 2)])[-1]
        loss = dy.sum_elems(out)
        loss.backward()
        total = sum(np.abs(p.grad_as_array()).sum() for p in b.get_parameters()[0])
        assert (total == 0) == frozen


def _outputs_with_and_without_dropout(name, seed, set_dropout):
    """(clean, dropped, builder, inputs): a 1-layer builder's outputs over three inputs, before and
    after set_dropout(builder)."""
    rng = np.random.default_rng(seed)
    b = getattr(dy, name)(1, 4, 4, dy.ParameterCollection())
    dy.renew_cg()
    xs = [vec(rng, 4) for _ in range(3)]
    clean = [o.npvalue() for o in b.initial_state().transduce(xs)]
    set_dropout(b)
    return clean, [o.npvalue() for o in b.initial_state().transduce(xs)], b, xs


def test_variational_dropout_masks():
    clean, noisy, b, xs = _outputs_with_and_without_dropout("VanillaLSTMBuilder", 3, lambda b: b.set_dropouts(0.5, 0.5))
    assert not all(np.allclose(a, c) for a, c in zip(noisy, clean))
    b.initial_state()
    b.set_dropout_masks(batch_size=2)
    b.disable_dropout()
    again = [o.npvalue() for o in b.initial_state().transduce(xs)]
    for a, c in zip(again, clean):
        np.testing.assert_allclose(a, c, atol=1e-6)
    with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\)"):
        b.set_dropout(1.0)


# Which parameters take x in each builder (DyNet's order); the rest are zeroed so
# that a step's output is 0 exactly where the input's dropout mask is 0.
X_WEIGHTS = {"SimpleRNNBuilder": (0,), "VanillaLSTMBuilder": (0,), "CoupledLSTMBuilder": (0, 4, 8)}


def _zero_pattern_per_step(b, steps, batch, set_masks=None):
    """Feeds ones for ``steps`` steps; returns, per step, the (dim, batch) bool
    array of outputs that are 0 (dropped inputs)."""
    n = b.input_dim
    for p in b.get_parameters()[0]:
        p.set_value(np.zeros(p.shape()))
    for k in X_WEIGHTS[type(b).__name__]:
        w = b.get_parameters()[0][k]
        w.set_value(np.tile(np.eye(n), (w.shape()[0] // n, 1)))
    dy.renew_cg()
    s = b.initial_state()
    if set_masks is not None:
        b.set_dropout_masks(set_masks)
    x = dy.inputTensor(np.ones((n, batch)), batched=True)
    out = [o.npvalue().reshape(n, batch) for o in s.transduce([x] * steps)]
    return [np.abs(o) < 1e-7 for o in out]


@pytest.mark.parametrize("name", sorted(X_WEIGHTS))
def test_dropout_masks_are_per_sequence_and_per_batch_element(name):
    """As DyNet's builders: one mask per sequence (the same units dropped at every
    step), drawn per batch element unless set_dropout_masks(1) asks for one."""
    dy.reset_random_seed(5)
    b = getattr(dy, name)(1, 16, 16, dy.ParameterCollection())
    b.set_dropout(0.5)
    zeros = _zero_pattern_per_step(b, steps=4, batch=3)
    for z in zeros[1:]:
        np.testing.assert_array_equal(z, zeros[0])
    assert 0 < zeros[0].sum() < zeros[0].size
    assert not (zeros[0][:, [0]] == zeros[0]).all(), "every batch element got the same mask"
    shared = _zero_pattern_per_step(b, steps=2, batch=3, set_masks=1)[0]
    assert (shared[:, [0]] == shared).all()
    b.disable_dropout()
    assert not _zero_pattern_per_step(b, steps=2, batch=3)[1].any()


def test_gru_drops_its_input_afresh_each_step():
    """DyNet's GRUBuilder calls dropout() on each step's input: no masks."""
    dy.reset_random_seed(6)
    b = dy.GRUBuilder(1, 16, 16, dy.ParameterCollection())
    b.set_dropout(0.5)
    dy.renew_cg()
    s = b.initial_state()
    x = dy.inputVector(np.ones(16))
    # h_1 = z * tanh(W_xh x' + b): with W_xz = 0 (z = 1/2) and W_xh = I, 0 where x' is.
    for k, p in enumerate(b.get_parameters()[0]):
        p.set_value(np.eye(16) if k == 6 else np.zeros(p.shape()))
    patterns = {tuple(np.abs(b.initial_state().add_input(x).output().npvalue()) < 1e-7) for _ in range(6)}
    assert len(patterns) > 1
    with pytest.raises(AttributeError, match="no masks"):
        b.set_dropout_masks(1)


def test_fast_lstm_applies_no_dropout_and_says_so():
    with pytest.warns(UserWarning, match="FastLSTMBuilder applies no dropout"):
        clean, dropped, _, _ = _outputs_with_and_without_dropout("FastLSTMBuilder", 7, lambda b: b.set_dropout(0.5))
    for a, c in zip(dropped, clean):
        np.testing.assert_allclose(a, c)


def test_set_dropout_masks_before_a_sequence_does_nothing():
    # As in DyNet, whose next initial_state() discards such masks: a batch of 3
    # then gets its own masks (masks for 2 would not fit it).
    b = dy.SimpleRNNBuilder(1, 3, 3, dy.ParameterCollection())
    b.set_dropout(0.5)
    b.set_dropout_masks(2)
    dy.renew_cg()
    out = b.initial_state().add_input(dy.inputTensor(np.ones((3, 3)), batched=True)).output()
    assert out.dim() == ((3,), 3)
    dy.renew_cg()
    b.initial_state()
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        b.set_dropout_masks(0)


def test_stacked_state_and_birnn_shapes():
    rng = np.random.default_rng(4)
    pc = dy.ParameterCollection()
    a, c = dy.SimpleRNNBuilder(1, 3, 4, pc), dy.GRUBuilder(1, 4, 5, pc)
    dy.renew_cg()
    st = dy.StackedRNNState([a.initial_state(), c.initial_state()])
    st2 = st.add_input(vec(rng, 3))
    assert st2.output().dim()[0] == (5,) and len(st2.h()) == 2 and st2.prev() is st
    bi = dy.BiRNNBuilder(2, 3, 8, pc, dy.LSTMBuilder)
    xs = [vec(rng, 3) for _ in range(4)]
    outs = bi.transduce(xs)
    assert len(outs) == 4 and all(o.dim()[0] == (8,) for o in outs)
    pairs = bi.add_inputs(xs)
    np.testing.assert_allclose(dy.concatenate([pairs[1][0].output(), pairs[1][1].output()]).npvalue(),
                               outs[1].npvalue(), atol=1e-6)
    with pytest.raises(ValueError, match="hidden_dim must be even"):
        dy.BiRNNBuilder(1, 3, 5, pc, dy.LSTMBuilder)


def test_sparse_lstm_masks_smallest_weights():
    b = dy.SparseLSTMBuilder(1, 3, 2, dy.ParameterCollection())
    w = b.get_parameters()[0][0]
    b.set_sparsity(0.5)
    mask = b.get_parameters()[0][3].as_array()
    assert mask.sum() == w.as_array().size - w.as_array().size // 2
    assert np.abs(w.as_array())[mask == 0].max() <= np.abs(w.as_array())[mask == 1].min()


def _lstm_reference(xs, Wx, Wh, b, forget_bias):
    """NumPy LSTM in DyNet's gate order (i, f, o, g)."""
    H = Wh.shape[1]
    h, c, out = np.zeros(H), np.zeros(H), []
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for x in xs:
        a = Wx @ x + Wh @ h + b
        i, f, o, g = sig(a[:H]), sig(a[H:2 * H] + forget_bias), sig(a[2 * H:3 * H]), np.tanh(a[3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return out


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, 2.5])  # 1: the fused kernels; others: elementary ops
def test_vanilla_lstm_matches_numpy_with_and_without_fused_kernels(forget_bias):
    rng = np.random.default_rng(3)
    pc = dy.ParameterCollection()
    lstm = dy.VanillaLSTMBuilder(1, 3, 4, pc, forget_bias=forget_bias)
    Wx, Wh, b = lstm.get_parameters()[0]
    b.set_value(rng.normal(size=16))
    xs = [rng.normal(size=3) for _ in range(4)]
    dy.renew_cg()
    hs = [h.npvalue() for h in lstm.initial_state().transduce([dy.inputVector(x) for x in xs])]
    want = _lstm_reference(xs, Wx.as_array(), Wh.as_array(), b.as_array(), forget_bias)
    np.testing.assert_allclose(hs, want, rtol=1e-5, atol=1e-6)


def test_compact_lstm_weight_noise_perturbs_only_when_set():
    pc = dy.ParameterCollection()
    lstm = dy.CompactVanillaLSTMBuilder(1, 3, 4, pc)
    x = [0.5, -1.0, 2.0]

    def run():
        dy.renew_cg()
        return lstm.initial_state().add_input(dy.inputVector(x)).output().npvalue()

    clean = run()
    np.testing.assert_array_equal(run(), clean)
    lstm.set_weightnoise(0.5)
    assert not np.allclose(run(), clean)
    lstm.set_weightnoise(0.0)
    np.testing.assert_array_equal(run(), clean)


@pytest.mark.parametrize("name", ["VanillaLSTMBuilder", "SimpleRNNBuilder", "GRUBuilder"])
def test_builder_expression_caches_survive_cg_revert(name):
    pc = dy.ParameterCollection()
    rnn = getattr(dy, name)(1, 3, 4, pc)
    x = [0.5, -1.0, 2.0]
    dy.renew_cg()
    want = rnn.initial_state().add_input(dy.inputVector(x)).output().npvalue()
    dy.renew_cg()
    dy.cg_checkpoint()
    rnn.initial_state().add_input(dy.inputVector(x)).output().npvalue()  # caches made after the checkpoint
    dy.cg_revert()
    for _ in range(12):  # new nodes take the removed ones' places
        dy.inputVector([7.0] * 4)
    got = rnn.initial_state().add_input(dy.inputVector(x)).output().npvalue()
    np.testing.assert_allclose(got, want, rtol=1e-6)


# ---- sizes (probe27)
@pytest.mark.parametrize("name", ALL)
def test_layers_that_cannot_fit_are_a_memory_error_at_once(name):
    # 2**31 layers used to be added one at a time until memory ran out (minutes).
    pc = dy.ParameterCollection()
    with pytest.raises(MemoryError, match=rf"{name}: 2147483648 layers of \d+ values each need .* GiB"):
        getattr(dy, name)(2**31, 3, 4, pc)


@pytest.mark.parametrize("name", ALL)
def test_builder_sizes_must_be_ints(name):
    # int(1.5) made one layer without a word
    with pytest.raises(TypeError, match=rf"{name}: argument 'layers' must be an int, got float 1.5"):
        getattr(dy, name)(1.5, 3, 4, dy.ParameterCollection())
    with pytest.raises(TypeError, match=rf"{name}: argument 'hidden_dim' must be an int, got NoneType"):
        getattr(dy, name)(1, 3, None, dy.ParameterCollection())
    assert getattr(dy, name)(np.int64(1), 3, 4, dy.ParameterCollection()).get_parameters()

"""Softmax builders against NumPy references: values, gradients, batching, sampling, save/load."""
import collections

import numpy as np
import pytest

import dynagraph as dy

WORDS = {"the": 0, "a": 1, "dog": 2, "cat": 3, "cow": 4, "run": 5}
CLUSTERS = "A\tthe\nA\ta\n\nB\tdog\t17\nB\tcat\nB\tcow\nC\trun\n"  # a blank line and a count column
GROUPS = [[0, 1], [2, 3, 4], [5]]


def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    return z - z.max() - np.log(np.exp(z - z.max()).sum())


def randomize(builder, seed=0):
    rng = np.random.default_rng(seed)
    values = []
    for p in builder.param_collection().parameters_list():
        v = rng.uniform(-1, 1, size=p.shape()).astype(np.float32)
        p.set_value(v)
        values.append(v.astype(np.float64))
    return values


@pytest.fixture
def cluster_file(tmp_path):
    path = tmp_path / "clusters.txt"
    path.write_text(CLUSTERS)
    return str(path)


def cfsm_reference(values, x, bias=True):
    """log p(w | x) for every word id, from the parameter values in DyNet's order."""
    step = 2 if bias else 1
    cl = values[0] @ x + (values[1] if bias else 0)
    log_pc = log_softmax(cl)
    out = np.zeros(6)
    slot = step
    for c, words in enumerate(GROUPS):
        if len(words) == 1:
            out[words[0]] = log_pc[c]
            continue
        sub = values[slot] @ x + (values[slot + 1] if bias else 0)
        slot += step
        out[words] = log_pc[c] + log_softmax(sub)
    return out


# ---- StandardSoftmaxBuilder
@pytest.mark.parametrize("bias", [True, False])
def test_standard_values(bias):
    m = dy.ParameterCollection()
    sm = dy.StandardSoftmaxBuilder(4, 5, m, bias=bias)
    shapes = [tuple(p.shape()) for p in sm.param_collection().parameters_list()]
    assert shapes == ([(5, 4), (5,)] if bias else [(5, 4)])
    vals = randomize(sm)
    x = np.array([0.5, -1.0, 2.0, 0.25])
    z = vals[0] @ x + (vals[1] if bias else 0)
    dy.renew_cg()
    e = dy.inputVector(x.tolist())
    np.testing.assert_allclose(sm.full_logits(e).npvalue(), z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sm.full_log_distribution(e).npvalue(), log_softmax(z), rtol=1e-5, atol=1e-6)
    for c in range(5):
        np.testing.assert_allclose(sm.neg_log_softmax(e, c).value(), -log_softmax(z)[c], rtol=1e-5)


def test_standard_initial_parameters():
    m = dy.ParameterCollection()
    sm = dy.StandardSoftmaxBuilder(4, 5, m)
    W, b = sm.param_collection().parameters_list()
    assert np.all(b.as_array() == 0)
    assert np.abs(W.as_array()).max() <= np.sqrt(6 / 9) + 1e-6  # Glorot
    assert sm.param_collection().name() == "/standard-softmax-builder/"


def test_standard_gradient_matches_numpy():
    m = dy.ParameterCollection()
    sm = dy.StandardSoftmaxBuilder(3, 4, m)
    W, b = randomize(sm)
    x = np.array([1.0, -0.5, 0.3])
    dy.renew_cg()
    loss = sm.neg_log_softmax(dy.inputVector(x.tolist()), 2)
    loss.backward()
    p = np.exp(log_softmax(W @ x + b))
    dz = p - np.eye(4)[2]
    grads = [q.grad_as_array() for q in sm.param_collection().parameters_list()]
    np.testing.assert_allclose(grads[0], np.outer(dz, x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads[1], dz, rtol=1e-4, atol=1e-6)


def test_standard_batch_and_update_false():
    m = dy.ParameterCollection()
    sm = dy.StandardSoftmaxBuilder(3, 4, m)
    W, b = randomize(sm)
    xs = np.random.default_rng(1).normal(size=(3, 2))
    dy.renew_cg()
    loss = sm.neg_log_softmax_batch(dy.inputTensor(xs, batched=True), [1, 3])
    assert loss.dim() == ((1,), 2)
    ref = [-log_softmax(W @ xs[:, k] + b)[c] for k, c in enumerate([1, 3])]
    np.testing.assert_allclose(loss.npvalue().ravel(), ref, rtol=1e-5)
    with pytest.raises(ValueError, match="same batch size, got 2 for rep and 3"):
        sm.neg_log_softmax_batch(dy.inputTensor(xs, batched=True), [1, 2, 3])
    # update=False: the same value, no gradient reaches the parameters
    dy.renew_cg()
    frozen = sm.neg_log_softmax(dy.inputVector(xs[:, 0].tolist()), 1, update=False)
    np.testing.assert_allclose(frozen.value(), ref[0], rtol=1e-5)
    frozen.backward(full=True)
    assert all(not np.any(q.grad_as_array()) for q in sm.param_collection().parameters_list())


def test_standard_sample_follows_the_distribution():
    dy.reset_random_seed(3)
    m = dy.ParameterCollection()
    sm = dy.StandardSoftmaxBuilder(2, 3, m)
    W, b = sm.param_collection().parameters_list()
    W.set_value(np.zeros((3, 2)))
    b.set_value(np.log([0.2, 0.5, 0.3]))
    dy.renew_cg()
    x = dy.inputVector([1.0, 1.0])
    counts = collections.Counter(sm.sample(x) for _ in range(3000))
    assert all(isinstance(k, int) for k in counts)
    np.testing.assert_allclose([counts[i] / 3000 for i in range(3)], [0.2, 0.5, 0.3], atol=0.04)
    with pytest.raises(ValueError, match="batched"):
        sm.sample(dy.inputTensor(np.ones((2, 2)), batched=True))


def test_standard_bad_class_and_shape():
    m = dy.ParameterCollection()
    sm = dy.StandardSoftmaxBuilder(3, 4, m)
    dy.renew_cg()
    with pytest.raises(IndexError):
        sm.neg_log_softmax(dy.inputVector([1, 2, 3]), 4).value()
    with pytest.raises(ValueError):
        sm.full_logits(dy.inputVector([1, 2]))
    with pytest.raises(ValueError):
        dy.StandardSoftmaxBuilder(0, 4, m)


# ---- ClassFactoredSoftmaxBuilder
@pytest.mark.parametrize("bias", [True, False])
def test_cfsm_parameters_in_dynet_order(cluster_file, bias):
    m = dy.ParameterCollection()
    sm = dy.ClassFactoredSoftmaxBuilder(4, cluster_file, WORDS, m, bias=bias)
    shapes = [tuple(p.shape()) for p in sm.param_collection().parameters_list()]
    expect = [(3, 4), (3,), (2, 4), (2,), (3, 4), (3,)]  # the one-word class "C" has no word layer
    assert shapes == (expect if bias else expect[::2])
    assert sm.param_collection().name() == "/class-factored-softmax-builder/"
    assert sm.cluster_words == GROUPS


@pytest.mark.parametrize("bias", [True, False])
def test_cfsm_values(cluster_file, bias):
    m = dy.ParameterCollection()
    sm = dy.ClassFactoredSoftmaxBuilder(4, cluster_file, WORDS, m, bias=bias)
    vals = randomize(sm, seed=5)
    x = np.array([0.3, -0.7, 1.1, 0.2])
    ref = cfsm_reference(vals, x, bias)
    dy.renew_cg()
    e = dy.inputVector(x.tolist())
    full = sm.full_log_distribution(e).npvalue()
    np.testing.assert_allclose(full, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.exp(full).sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(log_softmax(sm.full_logits(e).npvalue()), ref, rtol=1e-5, atol=1e-6)
    for w in range(6):
        np.testing.assert_allclose(sm.neg_log_softmax(e, w).value(), -ref[w], rtol=1e-5)
    cl = vals[0] @ x + (vals[1] if bias else 0)
    np.testing.assert_allclose(sm.class_logits(e).npvalue(), cl, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sm.class_log_distribution(e).npvalue(), log_softmax(cl), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sm.subclass_log_distribution(e, 1).npvalue(), ref[2:5] - log_softmax(cl)[1],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sm.subclass_log_distribution(e, 2).npvalue(), [0.0], atol=1e-7)
    with pytest.raises(IndexError):
        sm.subclass_logits(e, 3)
    with pytest.raises(IndexError):
        sm.neg_log_softmax(e, 6)


def test_cfsm_batch_equals_per_element(cluster_file):
    m = dy.ParameterCollection()
    sm = dy.ClassFactoredSoftmaxBuilder(4, cluster_file, WORDS, m)
    vals = randomize(sm, seed=2)
    xs = np.random.default_rng(4).normal(size=(4, 4))
    for words in ([0, 3, 5, 1], [2, 4, 3, 2], [5, 5, 5, 5]):  # mixed classes, one class, one-word class
        dy.renew_cg()
        loss = sm.neg_log_softmax_batch(dy.inputTensor(xs, batched=True), words)
        assert loss.dim() == ((1,), 4)
        ref = [-cfsm_reference(vals, xs[:, k])[w] for k, w in enumerate(words)]
        np.testing.assert_allclose(loss.npvalue().ravel(), ref, rtol=1e-5)
        total = dy.sum_batches(loss)
        total.backward()
        grads_batched = [p.grad_as_array().copy() for p in sm.param_collection().parameters_list()]
        dy.renew_cg()
        singles = dy.esum([sm.neg_log_softmax(dy.inputVector(xs[:, k].tolist()), w) for k, w in enumerate(words)])
        singles.backward()
        for g, p in zip(grads_batched, sm.param_collection().parameters_list()):  # gradients accumulate
            np.testing.assert_allclose(p.grad_as_array() - g, g, rtol=1e-4, atol=1e-5)
        dy.SimpleSGDTrainer(m, 0.0).update()  # clears the gradients


def test_cfsm_sample(cluster_file):
    dy.reset_random_seed(11)
    m = dy.ParameterCollection()
    sm = dy.ClassFactoredSoftmaxBuilder(3, cluster_file, WORDS, m)
    vals = randomize(sm, seed=9)
    x = np.array([0.5, 0.5, -0.5])
    dy.renew_cg()
    e = dy.inputVector(x.tolist())
    counts = collections.Counter(sm.sample(e) for _ in range(4000))
    np.testing.assert_allclose([counts[w] / 4000 for w in range(6)], np.exp(cfsm_reference(vals, x)), atol=0.035)


def test_cfsm_bad_files(tmp_path):
    m = dy.ParameterCollection()
    bad = tmp_path / "bad.txt"
    bad.write_text("A\tthe\nA\tzebra\n")
    with pytest.raises(ValueError, match="zebra"):
        dy.ClassFactoredSoftmaxBuilder(3, str(bad), {"the": 0}, m)
    bad.write_text("A\tthe\n")
    with pytest.raises(ValueError, match="no class"):
        dy.ClassFactoredSoftmaxBuilder(3, str(bad), {"the": 0, "a": 1}, m)
    bad.write_text("A\tthe\nB\tthe\n")
    with pytest.raises(ValueError, match="already listed"):
        dy.ClassFactoredSoftmaxBuilder(3, str(bad), {"the": 0}, m)
    bad.write_text("lonely\n")
    with pytest.raises(ValueError, match="class<TAB>word"):
        dy.ClassFactoredSoftmaxBuilder(3, str(bad), {"lonely": 0}, m)
    with pytest.raises(ValueError, match="unique ids"):
        dy.ClassFactoredSoftmaxBuilder(3, str(bad), {"a": 0, "b": 2}, m)
    with pytest.raises(OSError):
        dy.ClassFactoredSoftmaxBuilder(3, str(tmp_path / "missing.txt"), {"a": 0}, m)


def test_save_and_load(cluster_file, tmp_path):
    m = dy.ParameterCollection()
    std = dy.StandardSoftmaxBuilder(4, 5, m)
    cf = dy.ClassFactoredSoftmaxBuilder(4, cluster_file, WORDS, m)
    randomize(std, 1)
    randomize(cf, 2)
    dy.save(str(tmp_path / "sm"), [std, cf])
    m2 = dy.ParameterCollection()
    std2, cf2 = dy.load(str(tmp_path / "sm"), m2)
    assert isinstance(cf2, dy.ClassFactoredSoftmaxBuilder) and cf2.cluster_words == GROUPS
    dy.renew_cg()
    x = dy.inputVector([0.1, 0.2, -0.3, 0.4])
    for a, b in ((std, std2), (cf, cf2)):
        np.testing.assert_allclose(a.full_log_distribution(x).npvalue(), b.full_log_distribution(x).npvalue(),
                                   rtol=1e-6)
    loaded = list(dy.load_generator(str(tmp_path / "sm"), dy.ParameterCollection()))
    assert [type(o) for o in loaded] == [dy.StandardSoftmaxBuilder, dy.ClassFactoredSoftmaxBuilder]


def test_interface_is_abstract():
    base = dy.SoftmaxBuilder(dy.ParameterCollection())
    dy.renew_cg()
    with pytest.raises(NotImplementedError):
        base.neg_log_softmax(dy.inputVector([1.0]), 0)

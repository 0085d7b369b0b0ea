"""Softmax builders against DyNet 2.2 (dynet38): same parameter shapes and order;
with DyNet's parameter values copied in, same losses, distributions and gradients.

DyNet's ClassFactoredSoftmaxBuilder.full_logits / full_log_distribution mix
probabilities and log-probabilities (their exponentials are not p(w | x)), so
those two are checked against NumPy in test_softmax_builders.py instead.
"""
import numpy as np
import pytest

ref = pytest.importorskip("dynet")
import dynagraph as dg  # noqa: E402

pytestmark = pytest.mark.compare

_KEEP = []  # DyNet builders crash if their collection is freed first
WORDS = {"the": 0, "a": 1, "dog": 2, "cat": 3, "cow": 4, "run": 5}


def _copy_params(b_ref, b_dg, seed=0):
    rng = np.random.default_rng(seed)
    p_ref = b_ref.param_collection().parameters_list()
    p_dg = b_dg.param_collection().parameters_list()
    assert [p.shape() for p in p_ref] == [tuple(p.shape()) for p in p_dg]
    assert [p.name() for p in p_ref] == [p.name() for p in p_dg]
    for a, b in zip(p_ref, p_dg):
        v = rng.uniform(-1, 1, size=a.shape())
        a.set_value(v)
        b.set_value(v)


def _grads(builder):
    return [np.asarray(p.grad_as_array()) for p in builder.param_collection().parameters_list()]


def _pair(kind, tmp_path, bias):
    m_ref, m_dg = ref.ParameterCollection(), dg.ParameterCollection()
    if kind == "standard":
        b_ref, b_dg = ref.StandardSoftmaxBuilder(4, 5, m_ref, bias), dg.StandardSoftmaxBuilder(4, 5, m_dg, bias)
    else:
        path = tmp_path / "clusters.txt"
        path.write_text("A\tthe\nA\ta\nB\tdog\nB\tcat\nB\tcow\nC\trun\n")
        b_ref = ref.ClassFactoredSoftmaxBuilder(4, str(path), dict(WORDS), m_ref, bias)
        b_dg = dg.ClassFactoredSoftmaxBuilder(4, str(path), dict(WORDS), m_dg, bias)
    _KEEP.append((m_ref, b_ref))
    _copy_params(b_ref, b_dg)
    return b_ref, b_dg


@pytest.mark.parametrize("kind", ["standard", "class-factored"])
@pytest.mark.parametrize("bias", [True, False])
def test_losses_and_gradients(kind, bias, tmp_path):
    b_ref, b_dg = _pair(kind, tmp_path, bias)
    x = np.array([0.4, -0.3, 1.2, -0.8])
    n = 5 if kind == "standard" else 6
    for c in range(n):
        results = []
        for lib, b in ((ref, b_ref), (dg, b_dg)):
            lib.renew_cg()
            loss = b.neg_log_softmax(lib.inputTensor(x), c)
            value = loss.value()
            loss.backward()
            results.append((value, _grads(b)))
        np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
        for g_dg, g_ref in zip(results[1][1], results[0][1]):
            np.testing.assert_allclose(g_dg, g_ref, rtol=1e-4, atol=1e-6)
        ref.SimpleSGDTrainer(b_ref.param_collection(), 0.0).update()
        dg.SimpleSGDTrainer(b_dg.param_collection(), 0.0).update()


@pytest.mark.parametrize("kind", ["standard", "class-factored"])
def test_batched_loss(kind, tmp_path):
    b_ref, b_dg = _pair(kind, tmp_path, True)
    xs = np.random.default_rng(3).normal(size=(4, 3))
    words = [0, 3, 4]
    out = []
    for lib, b in ((ref, b_ref), (dg, b_dg)):
        lib.renew_cg()
        out.append(b.neg_log_softmax_batch(lib.inputTensor(xs, batched=True), words).npvalue().ravel())
    np.testing.assert_allclose(out[1], out[0], rtol=1e-5)


def test_standard_distributions(tmp_path):
    b_ref, b_dg = _pair("standard", tmp_path, True)
    x = [0.1, 0.7, -0.2, 0.5]
    for method in ("full_logits", "full_log_distribution"):
        ref.renew_cg()
        dg.renew_cg()
        np.testing.assert_allclose(getattr(b_dg, method)(dg.inputVector(x)).npvalue(),
                                   getattr(b_ref, method)(ref.inputVector(x)).npvalue(), rtol=1e-5, atol=1e-6)


def test_class_factored_pieces(tmp_path):
    b_ref, b_dg = _pair("class-factored", tmp_path, True)
    x = [0.1, 0.7, -0.2, 0.5]
    ref.renew_cg()
    dg.renew_cg()
    xr, xd = ref.inputVector(x), dg.inputVector(x)
    for method in ("class_logits", "class_log_distribution"):
        np.testing.assert_allclose(getattr(b_dg, method)(xd).npvalue(), getattr(b_ref, method)(xr).npvalue(),
                                   rtol=1e-5, atol=1e-6)
    for c in (0, 1):  # classes with a word layer
        for method in ("subclass_logits", "subclass_log_distribution"):
            np.testing.assert_allclose(getattr(b_dg, method)(xd, c).npvalue(),
                                       getattr(b_ref, method)(xr, c).npvalue(), rtol=1e-5, atol=1e-6)

"""Matrix products through OpenBLAS (the scipy-openblas32 wheel) and through Eigen
give the same values and gradients, on both sides of the size at which they switch."""
import os

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _blas, _core


@pytest.fixture(params=["openblas", "eigen"])
def backend(request):
    if request.param == "eigen":
        _core._unload_blas()
    else:
        _blas.load()
    yield _core.blas_info()
    _blas.load()


def test_the_wheel_is_loaded_by_default():
    assert dy.blas_info().startswith("openblas ")


def test_eigen_only_when_unloaded():
    _core._unload_blas()
    try:
        assert dy.blas_info() == "eigen" and dy.get_num_threads() == 1
    finally:
        _blas.load()


# (rows of W, cols of W, columns of x, batch): below, at and above the BLAS threshold,
# one column (GEMV), a batched input, and a batched weight (one product per element);
# 2-7 columns against a cache-sized matrix (one GEMV per column), 8 against it (GEMM);
# 2-12 against a larger one (gemm_skinny.h: partial row blocks, an odd column count,
# blocks of 4 columns and the rest; the products past its bounds go to GEMM).
SHAPES = [(3, 4, 2, 1), (40, 30, 20, 1), (64, 64, 16, 1), (200, 33, 1, 1), (37, 50, 9, 3),
          (128, 128, 3, 1), (128, 256, 4, 2), (128, 256, 7, 1), (128, 128, 8, 1), (300, 256, 4, 1),
          (301, 257, 3, 1), (300, 256, 2, 2), (520, 130, 10, 1), (1030, 70, 5, 1)]


@pytest.mark.parametrize("m,k,n,bd", SHAPES)
@pytest.mark.parametrize("batched_weight", [False, True])
def test_matmul_values_and_gradients_match_numpy(backend, m, k, n, bd, batched_weight):
    rng = np.random.default_rng(m * k + n)
    wb = bd if batched_weight else 1
    W = rng.standard_normal((m, k, wb)).astype(np.float32)
    X = rng.standard_normal((k, n, bd)).astype(np.float32)
    C = rng.standard_normal((m, n, bd)).astype(np.float32)
    dy.renew_cg()
    w = dy.inputTensor(W if batched_weight else W[:, :, 0], batched=batched_weight)
    x = dy.inputTensor(X if n > 1 else X[:, 0, :], batched=True)
    y = w * x
    loss = dy.sum_batches(dy.sum_elems(dy.cmult(y, dy.inputTensor(C if n > 1 else C[:, 0, :], batched=True))))
    loss.forward()
    loss.backward(full=True)
    want = np.einsum("mkb,knb->mnb", np.broadcast_to(W, (m, k, bd)), X)
    got = y.npvalue().reshape(m, n, bd)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
    dW = np.einsum("mnb,knb->mkb", C, X)
    dX = np.einsum("mkb,mnb->knb", np.broadcast_to(W, (m, k, bd)), C)
    got_dw = w.gradient().reshape(m, k, wb)
    np.testing.assert_allclose(got_dw, dW if batched_weight else dW.sum(2, keepdims=True), rtol=2e-4, atol=2e-3)
    np.testing.assert_allclose(x.gradient().reshape(k, n, bd), dX, rtol=2e-4, atol=2e-3)


def test_set_num_threads(backend):
    before = dy.get_num_threads()
    try:
        dy.set_num_threads(1)
        assert dy.get_num_threads() == 1
    finally:
        dy.set_num_threads(max(1, before))
    with pytest.raises(ValueError, match="must be >= 1"):
        dy.set_num_threads(0)


@pytest.mark.parametrize("uses", [1, 3])
def test_a_parameters_deferred_gradient_matches_numpy(backend, uses):
    """A weight's gradient terms are summed into one product at the end of backward."""
    rng = np.random.default_rng(uses)
    m, k, n = 48, 40, 12
    W = rng.standard_normal((m, k)).astype(np.float32)
    xs = [rng.standard_normal((k, n)).astype(np.float32) for _ in range(uses)]
    cs = [rng.standard_normal((m, n)).astype(np.float32) for _ in range(uses)]
    pc = dy.ParameterCollection()
    p = pc.add_parameters((m, k), init=dy.NumpyInitializer(W))
    dy.renew_cg()
    loss = dy.esum([dy.sum_elems(dy.cmult(dy.parameter(p) * dy.inputTensor(x), dy.inputTensor(c)))
                    for x, c in zip(xs, cs)])
    loss.backward()
    want = sum(c @ x.T for x, c in zip(xs, cs))
    np.testing.assert_allclose(p.grad_as_array(), want, rtol=2e-4, atol=2e-3)


@pytest.mark.parametrize("env,want", [
    ({}, "openblas 1"),                        # one thread unless told otherwise
    ({"OMP_NUM_THREADS": "2"}, "openblas 2"),  # OpenBLAS reads the usual variables itself
    ({"DYNAGRAPH_BLAS": "eigen"}, "eigen 1"),
])
def test_the_backend_and_threads_at_import(env, want, tmp_path):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(dy.__file__)))
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    code = "import dynagraph as dy; print(dy.blas_info().split()[0], dy.get_num_threads())"
    # Outside the source tree, so that the dynagraph under test is imported, not an unbuilt ./dynagraph.
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path,
                         env={**base, "PYTHONPATH": root, **env}).stdout.strip()
    assert out == want


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through Linux's /proc")
def test_loading_starts_no_idle_threads_and_more_threads_start_on_request(tmp_path):
    """OpenBLAS's pool is sized when the library loads: one thread unless asked, so no idle thread spins."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(dy.__file__)))
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    code = """if True:
        import os, numpy as np
        def threads(): return len(os.listdir("/proc/self/task"))
        before = threads()
        import dynagraph as dy
        after = threads()
        assert "OPENBLAS_NUM_THREADS" not in os.environ  # restored for the user's other libraries
        dy.set_num_threads(2)
        pc = dy.ParameterCollection(); W = pc.add_parameters((256, 256))
        dy.renew_cg(); (W * dy.inputTensor(np.ones((256, 256), np.float32))).npvalue()
        print(before, after, threads())
    """
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path,
                         env={**base, "PYTHONPATH": root}).stdout.split()
    before, after, asked = map(int, out)
    assert after == before
    assert asked == before + 1


# (m, n, k, trans_a): each kernel behind gemm() — the skinny ones (partial row blocks,
# several column panels, an odd column count, 1-4 column blocks), GEMV per column,
# GEMM — with beta 0 (C holds NaN: never read), 1 and 0.5.
GEMM_CASES = [(300, 3, 256, False), (1001, 4, 131, False), (301, 2, 257, True), (256, 11, 300, True),
              (128, 5, 128, False), (64, 9, 64, True), (33, 6, 2100, False)]


@pytest.mark.parametrize("m,n,k,trans_a", GEMM_CASES)
@pytest.mark.parametrize("beta,alpha", [(0.0, 1.0), (1.0, 1.0), (0.5, -2.0)])
def test_gemm_kernels_match_numpy(backend, m, n, k, trans_a, beta, alpha):
    rng = np.random.default_rng(m + n + k)
    A = np.asfortranarray(rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32))
    B = np.asfortranarray(rng.standard_normal((k, n)).astype(np.float32))
    C0 = rng.standard_normal((m, n)).astype(np.float32)
    C = np.asfortranarray(np.full((m, n), np.nan, np.float32) if beta == 0 else C0.copy())
    dy._core._gemm(C, A, trans_a, B, False, beta, alpha)
    want = alpha * ((A.T if trans_a else A).astype(np.float64) @ B) + (beta * C0 if beta else 0)
    np.testing.assert_allclose(C, want, rtol=1e-4, atol=1e-3)


def test_gemm_refuses_arrays_it_would_have_to_copy():
    A = np.asfortranarray(np.ones((4, 3), np.float32))
    B = np.asfortranarray(np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="float32"):
        dy._core._gemm(np.zeros((4, 2), np.float64, order="F"), A, False, B, False, 0.0, 1.0)
    with pytest.raises(ValueError, match="shapes do not agree: C 4x2, A 4x3, B 2x3"):
        dy._core._gemm(np.zeros((4, 2), np.float32, order="F"), A, False, np.asfortranarray(B.T), False, 0.0, 1.0)

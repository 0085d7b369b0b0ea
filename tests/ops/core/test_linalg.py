"""logdet as DyNet has it: log(det(x)), so a negative determinant has no real value
(NaN, as DyNet), while a positive one reached through negative pivots is finite.
Values against NumPy, the gradient inv(x)^T against finite differences."""
import numpy as np
import pytest

import dynagraph as dy


def logdet_and_grad(x):
    dy.renew_cg()
    e = dy.inputTensor(x.astype(np.float32))
    y = dy.logdet(e)
    value = y.scalar_value()
    y.backward(full=True)
    return value, e.gradient()


@pytest.mark.parametrize("x", [
    np.array([[0.0, 1.0], [1.0, 0.0]]),      # a row swap: det -1
    -np.eye(3),                              # three negative pivots: det -1
    np.array([[2.0, 1.0], [1.0, -3.0]]),     # det -7
], ids=["swap", "minus_identity", "indefinite"])
def test_negative_determinant_is_nan(x):
    assert np.linalg.det(x) < 0
    value, _ = logdet_and_grad(x)
    assert np.isnan(value)  # was log|det(x)|, a silent wrong answer (0 for the first two)


@pytest.mark.parametrize("x", [
    -np.eye(2),                                          # two negative pivots: det 1
    np.array([[0.0, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, -1.0]]),  # a swap and a negative pivot: det 6
    np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]),
], ids=["minus_identity_2", "swap_and_negative", "positive_definite"])
def test_positive_determinant_value_and_gradient(x):
    sign, logabs = np.linalg.slogdet(x)
    assert sign > 0
    value, grad = logdet_and_grad(x)
    np.testing.assert_allclose(value, logabs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, np.linalg.inv(x).T, rtol=1e-4, atol=1e-5)
    eps = 1e-3
    fd = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        fd[i] = (np.linalg.slogdet(x + d)[1] - np.linalg.slogdet(x - d)[1]) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-3)


def test_singular_matrix_without_row_swap_is_minus_infinity():
    value, _ = logdet_and_grad(np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert value == -np.inf

"""Expression arithmetic with NumPy operands: a NumPy real scalar or 0-d array is a
number, as a Python float is (``x * np.float32(0.5)`` was a TypeError from NumPy);
an array with axes is refused with a message saying how it enters the graph."""
import numpy as np
import pytest

import dynagraph as dy

BASE = np.array([1.0, 2.0, 4.0], dtype=np.float32)
SCALARS = [np.float32(2.5), np.float64(2.5), np.float16(2.5), np.int64(3), np.int8(-2), np.uint8(3),
           np.bool_(True), np.array(2.5), np.array(3, dtype=np.int32)]
OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power}


@pytest.mark.parametrize("s", SCALARS, ids=lambda s: f"{type(s).__name__}-{s.dtype}")
@pytest.mark.parametrize("op", sorted(OPS))
def test_numpy_scalars_on_either_side_are_numbers(s, op):
    dy.renew_cg()
    x = dy.inputVector(BASE)
    c = np.float32(s.item())
    for got, ref in ((eval(f"x {op} s"), OPS[op](BASE, c)), (eval(f"s {op} x"), OPS[op](c, BASE))):
        assert isinstance(got, dy.Expression)
        np.testing.assert_allclose(got.npvalue(), ref, rtol=1e-6)


def test_numpy_scalar_operands_have_gradients():
    pc = dy.ParameterCollection()
    p = pc.add_parameters((3,), init=dy.NumpyInitializer(BASE))
    dy.renew_cg()
    loss = dy.sum_elems(np.float32(3.0) * dy.parameter(p) - np.int64(1))
    loss.backward()
    np.testing.assert_allclose(p.grad_as_array(), [3.0, 3.0, 3.0])
    assert (p * np.float32(2.0)).npvalue().tolist() == [2.0, 4.0, 8.0]


@pytest.mark.parametrize("arr", [np.ones(3), np.ones((3, 1), dtype=np.float32), np.array([True, False, True])])
def test_arrays_with_axes_are_refused_naming_the_shape_and_the_fix(arr):
    dy.renew_cg()
    x = dy.inputVector(BASE)
    for make in (lambda: x + arr, lambda: arr * x, lambda: x ** arr):
        with pytest.raises(TypeError, match=rf"NumPy array of shape {re_shape(arr.shape)}.*dy\.inputTensor"):
            make()


def re_shape(shape) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("other", [np.complex64(1 + 2j), np.array("a"), "2", None])
def test_non_real_operands_stay_a_type_error(other):
    dy.renew_cg()
    x = dy.inputVector(BASE)
    with pytest.raises(TypeError):
        x * other

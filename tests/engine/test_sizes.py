"""64-bit element counts and range-checked shapes (issue 20, item 3).

Axes and batch sizes are 32-bit and checked where a shape is built; element
counts are 64-bit. Nothing here allocates a large tensor: shapes whose
element count passes 2^32 are only built (graph construction is lazy) or
refused before any allocation.
"""
import numpy as np
import pytest

import dynagraph as dy

BIG = 2 ** 32


@pytest.fixture(autouse=True)
def fresh_graph():
    dy.renew_cg()
    yield
    dy.renew_cg()


def test_a_shape_past_2_to_the_32_keeps_its_exact_size():
    # The issue: ones((65536, 65537)) was accepted with a 32-bit size of 65536.
    x = dy.ones((65536, 65537))
    assert x.dim() == ((65536, 65537), 1)
    s = dy.sum_elems(dy.ones((65536, 65536)))
    assert s.dim() == ((1,), 1)
    p = dy.pick(dy.ones((65536, 65536)), 65535, 1)
    assert p.dim() == ((65536,), 1)
    r = dy.reshape(dy.ones((65536, 65537)), (65537, 65536))
    assert r.dim() == ((65537, 65536), 1)
    with pytest.raises(ValueError, match="65536"):  # reshape compares 64-bit counts
        dy.reshape(dy.ones((65536, 65537)), (65536, 65536))


@pytest.mark.parametrize("shape", [(BIG + 3,), (3, BIG), (BIG * BIG,), (2 ** 70,)])
def test_an_axis_past_32_bits_is_refused_naming_the_shape(shape):
    # Past 32 bits Dim names the shape; past 64 bits the argument check names the axis first.
    with pytest.raises(OverflowError, match=r"shape .*axis length|argument 'dim\[0\]' = int \d+ is out of range"):
        dy.zeros(shape)


def test_a_batch_size_past_32_bits_is_refused():
    with pytest.raises(OverflowError, match=r"shape \(3,\) with batch size 4294967296"):
        dy.zeros((3,), batch_size=BIG)
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        dy.zeros((3,), batch_size=0)


def test_a_shape_past_2_to_the_60_values_is_refused():
    with pytest.raises(OverflowError, match=r"more than 2\^60 elements"):
        dy.zeros((2 ** 31, 2 ** 31, 2 ** 31))


def test_zero_and_negative_axes_are_value_errors():
    with pytest.raises(ValueError, match=r"must be >= 1, got 0 in shape \(3, 0\)"):
        dy.ones((3, 0))
    with pytest.raises(ValueError, match="must be >= 1, got -1"):
        dy.zeros((-1,))


def test_concatenating_past_32_bits_is_refused():
    # The issue: two (2**31,) vectors gave shape (0,).
    a = dy.zeros((2 ** 31,))
    with pytest.raises(OverflowError, match=r"concatenate: .*length 4294967296.*\{2147483648\}"):
        dy.concatenate([a, a])
    # Lengths whose sum fits still concatenate (construction only: 16 GiB to evaluate).
    c = dy.concatenate([dy.zeros((2 ** 31,)), dy.zeros((2 ** 31 - 1,))])
    assert c.dim() == ((BIG - 1,), 1)


def test_concatenating_batches_past_32_bits_is_refused():
    a = dy.zeros((1,), batch_size=2 ** 31)
    with pytest.raises(OverflowError, match="concatenate_to_batch: .*batch size 4294967296"):
        dy.concatenate_to_batch([a, a])


def test_an_op_not_audited_for_64_bit_offsets_refuses_a_huge_tensor():
    x = dy.ones((65536, 65537))
    with pytest.raises(OverflowError, match=r"transpose: tensors of 2\^32 or more values.*\{65536,65537\}"):
        dy.transpose(x)
    with pytest.raises(OverflowError, match="softmax"):
        dy.softmax(dy.ones((BIG - 1, 2)))
    # The audited ones build: element-wise, sums, picks.
    assert dy.sum_elems(dy.tanh(x) + x * 2.0).dim() == ((1,), 1)


def test_a_huge_argument_is_refused_even_when_the_result_is_small():
    # The graph remembers which nodes are huge, so an op whose result is small
    # still refuses a huge argument (dot_product is not audited for 64-bit offsets).
    x = dy.ones((65536, 65537))
    with pytest.raises(OverflowError, match=r"dot_product: tensors of 2\^32 or more values.*\{65536,65537\}"):
        dy.dot_product(x, x)
    y = dy.sum_elems(x)  # audited: small, and a later op takes it
    assert dy.dot_product(y, y).dim() == ((1,), 1)


def test_a_tensor_larger_than_memory_is_a_memory_error_before_allocating():
    x = dy.ones((2 ** 20, 2 ** 20))  # 4 TiB of floats
    with pytest.raises(MemoryError, match=r"cannot allocate 4398046511104 bytes .*for a tensor"):
        x.value()
    # The graph is still usable afterwards.
    dy.renew_cg()
    assert dy.sum_elems(dy.ones((3, 4))).value() == 12.0


def test_parameters_larger_than_memory_are_a_memory_error():
    pc = dy.ParameterCollection()
    with pytest.raises(MemoryError, match=r"add_parameters \{1048576,1048576\}"):
        pc.add_parameters((2 ** 20, 2 ** 20))
    with pytest.raises(MemoryError, match=r"add_lookup_parameters \{1048576,1048576\}"):
        pc.add_lookup_parameters((2 ** 20, 2 ** 20))
    with pytest.raises(OverflowError, match="axis length"):
        pc.add_lookup_parameters((BIG + 1, 4))
    assert pc.parameters_list() == [] and pc.lookup_parameters_list() == []


@pytest.mark.parametrize("index,axis", [(4, 1), (-1, 1), (2 ** 31, 1), (BIG + 1, 0)])
def test_pick_indices_are_range_checked(index, axis):
    x = dy.inputTensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    with pytest.raises(IndexError, match="pick"):
        dy.pick(x, index, axis)


def test_pick_range_and_select_indices_are_range_checked():
    x = dy.inputTensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    with pytest.raises(IndexError, match="pick_range"):
        dy.pick_range(x, 0, BIG + 2, 1)
    with pytest.raises(IndexError, match="select_cols"):
        dy.select_cols(x, [0, BIG])
    with pytest.raises(IndexError, match="pick_batch_elem"):
        dy.pick_batch_elem(x, BIG)


def test_the_64_bit_paths_still_compute_small_values_exactly():
    # The same kernels, at sizes that run here: values against NumPy.
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = dy.inputTensor(a)
    np.testing.assert_allclose(dy.pick(x, 2, 1).npvalue(), a[:, 2, :])
    np.testing.assert_allclose(dy.pick_range(x, 1, 3, 2).npvalue(), a[:, :, 1:3])
    np.testing.assert_allclose(dy.concatenate([x, x], 2).npvalue(), np.concatenate([a, a], 2))
    big_sum = dy.sum_elems(dy.ones((1 << 21,)) * 0.5)  # blocked sum path (more than 2^20 values)
    assert big_sum.value() == 2.0 ** 20
    b = dy.inputTensor(np.ones((4, 3), np.float32) * 3.0) + dy.inputTensor(np.arange(3, dtype=np.float32).reshape(1, 3))
    np.testing.assert_allclose(b.npvalue(), 3.0 + np.arange(3)[None, :].repeat(4, 0))

// Kernel bodies around the matrix products (csrc/ops/matmul.cc): the bias,
// transpose and dot_product; the products themselves go through the
// backend's sgemm (cuBLAS on a GPU).
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// affine_transform's bias: y (bd batch elements of `size` floats) starts as
// the bias repeated over columns (bias_size floats) and over the batch when
// the bias has batch 1.
struct BiasFill {
  const float* bias;
  float* y;
  uint32_t size, bias_size, bias_batches;
  DG_HD void operator()(uint32_t t) const {
    uint32_t b = t / size, r = t - b * size;
    y[t] = bias[(bias_batches == 1 ? 0 : b) * bias_size + r % bias_size];
  }
};

// transpose of each batch element: x is R x C, y is C x R. Element t of y
// and its element of x correspond one to one, so backward (dx += dy^T) is
// one thread per element of dy as well.
struct TransposeMap {
  uint32_t R, C;
  DG_HD uint32_t x_index(uint32_t t) const {
    const uint32_t per = R * C, b = t / per, r0 = t - b * per, i = r0 % C, j = r0 / C;
    return b * per + j + R * i;
  }
};
struct TransposeForward {
  const float* x;
  float* y;
  TransposeMap map;
  DG_HD void operator()(uint32_t t) const { y[t] = x[map.x_index(t)]; }
};
struct TransposeBackward {
  const float* dy;
  float* dx;
  TransposeMap map;
  DG_HD void operator()(uint32_t t) const { dx[map.x_index(t)] += dy[t]; }
};

// dot_product: y[b] = sum_e a[b, e] b[b, e], one block per batch element
// (arguments of batch 1 broadcast).
struct DotForward {
  const float* a;
  const float* b;
  float* y;
  uint32_t size, a_batches, b_batches;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t n = blk.block;
    const float* pa = a + (a_batches == 1 ? 0 : n) * size;
    const float* pb = b + (b_batches == 1 ? 0 : n) * size;
    float s = 0.f;
    for (uint32_t e = blk.thread; e < size; e += blk.block_dim) s += pa[e] * pb[e];
    s = block_reduce(blk, s, SumOp{});
    if (blk.thread == 0) y[n] = s;
  }
};
// dx += dy[b] * other[b], summed over y's batch when dx has batch 1.
struct DotBackward {
  const float* other;
  const float* dy;
  float* dx;
  uint32_t size, other_batches, dx_batches, y_batches;
  DG_HD void operator()(uint32_t j) const {
    const uint32_t xb = j / size, e = j - xb * size;
    const BatchRange br = grad_batches(xb, dx_batches, y_batches);
    float acc = 0.f;
    for (uint32_t n = br.lo; n < br.hi; ++n) acc += dy[n] * other[(other_batches == 1 ? 0 : n) * size + e];
    dx[j] += acc;
  }
};

}  // namespace dg::kern

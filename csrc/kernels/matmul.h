// Kernel bodies around the matrix products (csrc/ops/matmul.cc); the products
// themselves go through the backend's sgemm (cuBLAS on a GPU).
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

}  // namespace dg::kern

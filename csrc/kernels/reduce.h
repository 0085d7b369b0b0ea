// Kernel bodies of the reductions (csrc/ops/reduce.cc).
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// y[b] = sum of batch element b (one block per batch element).
struct SumElemsForward {
  const float* x;
  float* y;
  uint32_t size;  // elements per batch element
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const float* xb = x + static_cast<size_t>(blk.block) * size;
    float s = 0.f;
    for (uint32_t k = blk.thread; k < size; k += blk.block_dim) s += xb[k];
    s = block_reduce(blk, s, SumOp{});
    if (blk.thread == 0) y[blk.block] = s;
  }
};

// dx[e] += dy[batch of e]
struct SumElemsBackward {
  const float* dy;
  float* dx;
  uint32_t size;
  DG_HD void operator()(uint32_t e) const { dx[e] += dy[e / size]; }
};

// y[i] = sum over b of x[b * size + i]
struct SumBatchesForward {
  const float* x;
  float* y;
  uint32_t size, batches;
  DG_HD void operator()(uint32_t i) const {
    float s = 0.f;
    for (uint32_t b = 0; b < batches; ++b) s += x[b * size + i];
    y[i] = s;
  }
};

// dx[e] += dy[e mod size]
struct SumBatchesBackward {
  const float* dy;
  float* dx;
  uint32_t size;
  DG_HD void operator()(uint32_t e) const { dx[e] += dy[e % size]; }
};

}  // namespace dg::kern

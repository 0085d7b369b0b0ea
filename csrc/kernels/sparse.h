// Kernel bodies of the sparse normalisers (csrc/ops/sparse.cc): sparsemax and
// constrained_softmax, one block per batch element. sparsemax finds its
// threshold without sorting: candidate j's support is {i : x_i >= x_j}, and the
// support is the largest candidate support with 1 + k x_j > sum (O(n^2) work
// per vector, shared by the block's threads; ties give the same answer as the
// CPU's sorted scan, since equal values pass or fail the test together).
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// y = max(x - tau, 0) per batch element (x and y: rows floats each).
struct SparsemaxForward {
  const float* x;
  float* y;
  uint32_t rows;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const float* xb = x + static_cast<size_t>(blk.block) * rows;
    float best_k = 0.f, best_sum = 0.f;
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim) {
      float k = 0.f, s = 0.f;
      for (uint32_t i = 0; i < rows; ++i)
        if (xb[i] >= xb[j]) {
          k += 1.f;
          s += xb[i];
        }
      if (1.f + k * xb[j] > s && k > best_k) {
        best_k = k;
        best_sum = s;
      }
    }
    const float k = block_reduce(blk, best_k, MaxOp{});
    // The sum of the support of size k (every thread holding that k has the same one).
    const float s = block_reduce(blk, best_k == k ? best_sum : neg_inf(), MaxOp{});
    const float tau = (s - 1.f) / k;
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim)
      y[static_cast<size_t>(blk.block) * rows + j] = fmaxf(xb[j] - tau, 0.f);
  }
};

// On the support S: dx += dy - mean_S(dy).
struct SparsemaxBackward {
  const float* y;
  const float* dy;
  float* dx;
  uint32_t rows;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const size_t base = static_cast<size_t>(blk.block) * rows;
    float s = 0.f, k = 0.f;
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim)
      if (y[base + j] > 0.f) {
        s += dy[base + j];
        k += 1.f;
      }
    s = block_reduce(blk, s, SumOp{});
    k = block_reduce(blk, k, SumOp{});
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim)
      if (y[base + j] > 0.f) dx[base + j] += dy[base + j] - s / k;
  }
};

// constrained_softmax(x, u): grow the active set (entries fixed at their bound
// u) until no free entry exceeds its bound; active[] = 1 marks it. x and u
// have batch strides (0: batch 1).
struct ConstrainedSoftmaxForward {
  const float* x;
  const float* u;
  float* y;
  float* active;
  uint32_t rows, sx, su;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t b = blk.block;
    const float* xb = x + b * sx;
    const float* ub = u + b * su;
    float* p = y + static_cast<size_t>(b) * rows;
    float* act = active + static_cast<size_t>(b) * rows;
    float mx = neg_inf();
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim) {
      mx = fmaxf(mx, xb[j]);
      act[j] = 0.f;
    }
    mx = block_reduce(blk, mx, MaxOp{});
    for (bool grew = true; grew;) {
      float mass = 0.f, z = 0.f;
      for (uint32_t j = blk.thread; j < rows; j += blk.block_dim) {
        if (act[j] != 0.f) mass += ub[j];
        else z += expf(xb[j] - mx);
      }
      mass = 1.f - block_reduce(blk, mass, SumOp{});
      z = block_reduce(blk, z, SumOp{});
      float any = 0.f;
      for (uint32_t j = blk.thread; j < rows; j += blk.block_dim) {
        p[j] = act[j] != 0.f ? ub[j] : (z > 0.f ? mass * expf(xb[j] - mx) / z : 0.f);
        if (act[j] == 0.f && p[j] > ub[j]) {
          act[j] = 1.f;
          any = 1.f;
        }
      }
      grew = block_reduce(blk, any, MaxOp{}) != 0.f;
    }
  }
};

// r[b] = s / m with s = sum over free entries of p dy and m = 1 - sum over active entries of u.
struct ConstrainedSoftmaxRatio {
  const float* y;
  const float* dy;
  const float* active;
  const float* u;
  float* r;
  uint32_t rows, su;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t b = blk.block;
    const size_t base = static_cast<size_t>(b) * rows;
    float s = 0.f, used = 0.f;
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim) {
      if (active[base + j] != 0.f) used += u[b * su + j];
      else s += y[base + j] * dy[base + j];
    }
    s = block_reduce(blk, s, SumOp{});
    const float m = 1.f - block_reduce(blk, used, SumOp{});
    if (blk.thread == 0) r[b] = m > 0.f ? s / m : 0.f;
  }
};

// x (which = 0): free entries get p (dy - r); u (which = 1): active entries get dy - r.
// A batch-1 argument adds the whole batch's gradient in its own thread.
struct ConstrainedSoftmaxBackward {
  const float* y;
  const float* dy;
  const float* active;
  const float* r;
  float* dx;
  uint32_t rows, batches, which;
  bool dx_batched;
  DG_HD void operator()(uint32_t e) const {
    const uint32_t b0 = dx_batched ? e / rows : 0, b1 = dx_batched ? b0 + 1 : batches, j = e - b0 * rows;
    float g = 0.f;
    for (uint32_t b = b0; b < b1; ++b) {
      const size_t k = static_cast<size_t>(b) * rows + j;
      if (which == 0 && active[k] == 0.f) g += y[k] * (dy[k] - r[b]);
      if (which == 1 && active[k] != 0.f) g += dy[k] - r[b];
    }
    dx[e] += g;
  }
};

}  // namespace dg::kern

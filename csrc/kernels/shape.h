// Kernel bodies of pick and concatenate (csrc/ops/shape.cc).
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// A tensor seen around axis a: inner (axes before a) x len (axis a) x outer.
struct AxisSplit {
  uint32_t inner, len, outer;
};

// pick: y = x[..., idx, ...] along the axis; one index for all batch
// elements or one per batch element (naux == y's batch).
struct PickForward {
  const float* x;
  const int32_t* idx;
  float* y;
  AxisSplit ax;
  uint32_t x_batches, naux;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t ys = ax.inner * ax.outer, xs = ax.inner * ax.len * ax.outer;
    uint32_t b = t / ys, r = t - b * ys, i = r % ax.inner, o = r / ax.inner;
    uint32_t k = static_cast<uint32_t>(idx[naux == 1 ? 0 : b]);
    y[t] = x[(x_batches == 1 ? 0 : b) * xs + (o * ax.len + k) * ax.inner + i];
  }
};

// dx[j] += the dy elements picked from x's element j: one thread per element
// of dx, looping over y's batch when dx has batch 1 (so no two threads add
// into one element).
struct PickBackward {
  const float* dy;
  const int32_t* idx;
  float* dx;
  AxisSplit ax;
  uint32_t x_batches, y_batches, naux;
  DG_HD void operator()(uint32_t j) const {
    const uint32_t ys = ax.inner * ax.outer, xs = ax.inner * ax.len * ax.outer;
    uint32_t xb = j / xs, r = j - xb * xs, i = r % ax.inner, k = (r / ax.inner) % ax.len;
    uint32_t o = r / (ax.inner * ax.len);
    uint32_t b0 = x_batches == 1 ? 0 : xb, b1 = x_batches == 1 ? y_batches : xb + 1;
    float acc = 0.f;
    for (uint32_t b = b0; b < b1; ++b)
      if (static_cast<uint32_t>(idx[naux == 1 ? 0 : b]) == k) acc += dy[b * ys + o * ax.inner + i];
    dx[j] += acc;
  }
};

// pick_range: positions [start, start + count) of the axis. Each element of
// y comes from one element of x, so backward (dx += dy scattered back) is
// one thread per element of dy with no two threads on one element of dx.
struct RangeMap {
  AxisSplit ax;  // of x
  uint32_t start, count;
  DG_HD uint32_t x_index(uint32_t t) const {
    const uint32_t ys = ax.inner * count * ax.outer, xs = ax.inner * ax.len * ax.outer;
    uint32_t b = t / ys, r = t - b * ys, i = r % ax.inner, k = (r / ax.inner) % count, o = r / (ax.inner * count);
    return b * xs + (o * ax.len + start + k) * ax.inner + i;
  }
};
struct RangeForward {
  const float* x;
  float* y;
  RangeMap map;
  DG_HD void operator()(uint32_t t) const { y[t] = x[map.x_index(t)]; }
};
struct RangeBackward {
  const float* dy;
  float* dx;
  RangeMap map;
  DG_HD void operator()(uint32_t t) const { dx[map.x_index(t)] += dy[t]; }
};

// One argument of concatenate copied into its slot of y: y's batch element b
// holds `outer` blocks of `block` floats; the argument fills `m` floats at
// `offset` in each.
struct ConcatForward {
  const float* x;
  float* y;
  uint32_t m, block, offset, outer, x_batches;
  DG_HD void operator()(uint32_t t) const {
    uint32_t per_batch = outer * m, b = t / per_batch, r = t - b * per_batch, o = r / m, c = r - o * m;
    y[b * outer * block + o * block + offset + c] = x[(x_batches == 1 ? 0 : b) * per_batch + o * m + c];
  }
};

// dx += dy's slot for this argument (summed over y's batch when dx has batch 1).
struct ConcatBackward {
  const float* dy;
  float* dx;
  uint32_t m, block, offset, outer, x_batches, y_batches;
  DG_HD void operator()(uint32_t j) const {
    uint32_t per_batch = outer * m, xb = j / per_batch, r = j - xb * per_batch, o = r / m, c = r - o * m;
    uint32_t b0 = x_batches == 1 ? 0 : xb, b1 = x_batches == 1 ? y_batches : xb + 1;
    float acc = 0.f;
    for (uint32_t b = b0; b < b1; ++b) acc += dy[b * outer * block + o * block + offset + c];
    dx[j] += acc;
  }
};

}  // namespace dg::kern

// Kernel bodies of the selections of csrc/ops/shape.cc beyond pick and
// concatenate: select_rows / select_cols, pick_batch_elems and
// strided_select. Index lists may repeat an index, so each backward runs one
// thread per element of dx and sums what was taken from it (no two threads
// add into one element, no atomics).
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// select_rows: y (m x cols) = x rows idx (x is R x cols; the batch counts as columns).
struct SelectRowsForward {
  const float* x;
  const int32_t* idx;
  float* y;
  uint32_t R, m;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t c = t / m, k = t - c * m;
    y[t] = x[c * R + static_cast<uint32_t>(idx[k])];
  }
};
struct SelectRowsBackward {
  const float* dy;
  const int32_t* idx;
  float* dx;
  uint32_t R, m;
  DG_HD void operator()(uint32_t j) const {
    const uint32_t c = j / R, r = j - c * R;
    float acc = 0.f;
    for (uint32_t k = 0; k < m; ++k)
      if (static_cast<uint32_t>(idx[k]) == r) acc += dy[c * m + k];
    dx[j] += acc;
  }
};

// select_cols: y (R x m, per batch element) = x columns idx (x is R x C).
struct SelectColsForward {
  const float* x;
  const int32_t* idx;
  float* y;
  uint32_t R, C, m;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t per = R * m, b = t / per, r0 = t - b * per, k = r0 / R, r = r0 - k * R;
    y[t] = x[b * R * C + static_cast<uint32_t>(idx[k]) * R + r];
  }
};
struct SelectColsBackward {
  const float* dy;
  const int32_t* idx;
  float* dx;
  uint32_t R, C, m;
  DG_HD void operator()(uint32_t j) const {
    const uint32_t per = R * C, b = j / per, r0 = j - b * per, c = r0 / R, r = r0 - c * R;
    float acc = 0.f;
    for (uint32_t k = 0; k < m; ++k)
      if (static_cast<uint32_t>(idx[k]) == c) acc += dy[b * R * m + k * R + r];
    dx[j] += acc;
  }
};

// pick_batch_elems: y's batch element b = x's batch element idx[b].
struct PickBatchesForward {
  const float* x;
  const int32_t* idx;
  float* y;
  uint32_t size;  // per batch element
  DG_HD void operator()(uint32_t t) const {
    const uint32_t b = t / size, e = t - b * size;
    y[t] = x[static_cast<uint32_t>(idx[b]) * size + e];
  }
};
struct PickBatchesBackward {
  const float* dy;
  const int32_t* idx;
  float* dx;
  uint32_t size, n;  // n: how many batch elements were picked
  DG_HD void operator()(uint32_t j) const {
    const uint32_t xb = j / size, e = j - xb * size;
    float acc = 0.f;
    for (uint32_t b = 0; b < n; ++b)
      if (static_cast<uint32_t>(idx[b]) == xb) acc += dy[b * size + e];
    dx[j] += acc;
  }
};

// strided_select: axis a (0..3, 4 = the batch) takes count[a] positions from
// from[a] in steps of stride[a]; xstride[a] is the axis's stride in x. Each
// element of y comes from a distinct element of x, so backward is one
// thread per element of dy.
struct StridedMap {
  uint32_t from[5], stride[5], count[5], xstride[5];
  DG_HD uint32_t x_index(uint32_t t) const {
    uint32_t idx = 0;
    for (int a = 0; a < 5; ++a) {
      const uint32_t c = t % count[a];
      t /= count[a];
      idx += (from[a] + c * stride[a]) * xstride[a];
    }
    return idx;
  }
};
struct StridedForward {
  const float* x;
  float* y;
  StridedMap map;
  DG_HD void operator()(uint32_t t) const { y[t] = x[map.x_index(t)]; }
};
struct StridedBackward {
  const float* dy;
  float* dx;
  StridedMap map;
  DG_HD void operator()(uint32_t t) const { dx[map.x_index(t)] += dy[t]; }
};

}  // namespace dg::kern

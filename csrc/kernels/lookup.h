// Kernel bodies of lookups from a table resident on the device (csrc/device/inputs_ops.h):
// rows gathered into the node's value, gradient rows scatter-added into the table's gradient.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// y[b * row_size + j] = table[idx[b] * row_size + j]
struct GatherRows {
  const float* table;
  float* y;
  const int32_t* idx;
  uint32_t row_size;
  DG_HD void operator()(uint32_t i) const {
    y[i] = table[static_cast<size_t>(idx[i / row_size]) * row_size + i % row_size];
  }
};

// grad[idx[b] * row_size + j] += dy[b * row_size + j]; an index repeated in
// one batch adds each of its rows (atomically: the threads of two batch
// elements may hit the same row at once on a GPU).
struct ScatterAddRows {
  const float* dy;
  float* grad;
  const int32_t* idx;
  uint32_t row_size;
  DG_HD void operator()(uint32_t i) const {
    atomic_add(grad + static_cast<size_t>(idx[i / row_size]) * row_size + i % row_size, dy[i]);
  }
};

}  // namespace dg::kern

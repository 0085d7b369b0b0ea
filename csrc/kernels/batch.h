// Kernel bodies of the autobatching executor on a device (csrc/graph/autobatch_device.cc):
// a group's arguments gathered into one batch, and a gathered argument's
// gradient added back to its members, each one launch for the whole group
// (the slices' addresses are a device array, so N slices are not N copies).
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// dst[b * size + e] = src[b][e] for the group's N slices of `size` floats.
struct GatherSlices {
  const float* const* src;
  float* dst;
  uint32_t size;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t b = t / size;
    dst[t] = src[b][t - b * size];
  }
};

// dst[b][e] += src[b * size + e]; a null dst[b] (a member whose argument takes
// no gradient) is skipped. Two members may share an argument: atomic adds.
struct ScatterAddSlices {
  const float* src;
  float* const* dst;
  uint32_t size;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t b = t / size;
    if (dst[b]) atomic_add(dst[b] + (t - b * size), src[t]);
  }
};

}  // namespace dg::kern

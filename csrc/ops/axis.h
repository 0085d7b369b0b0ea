// Axis helpers shared by the reduce and softmax/loss families: a tensor seen
// along one axis, shapes with axes removed, and index checks.
#pragma once
#include <string>

#include "ops/common.h"

namespace dg {

// One batch element seen as inner x n x outer (column-major) around axis `ax`:
// element (i, k, o) sits at i + inner * (k + n * o); with the axis removed, at i + inner * o.
struct AxisView {
  unsigned inner = 1, n = 1, outer = 1;
  AxisView(const Dim& d, unsigned ax) {
    for (unsigned a = 0; a < d.nd; ++a) {
      if (a < ax) inner *= d.d[a];
      else if (a == ax) n = d.d[a];
      else outer *= d.d[a];
    }
  }
};

// `d` without the axes whose bits are set in `mask` (at least one axis is kept).
inline Dim drop_axes(const Dim& d, unsigned mask) {
  Dim r;
  r.bd = d.bd;
  for (unsigned a = 0; a < d.nd; ++a)
    if (!(mask >> a & 1u)) r.d[r.nd++] = d.d[a];
  if (r.nd == 0) r.d[r.nd++] = 1;
  return r;
}

// Calls f(in, out) for every element of one batch element of shape `xd`, where
// `out` is its position in the result with the axes in `mask` summed away.
template <class F>
inline void for_each_reduced(const Dim& xd, unsigned mask, F f) {
  unsigned n[kMaxDims], so[kMaxDims], stride = 1;
  for (unsigned a = 0; a < kMaxDims; ++a) {
    n[a] = xd[a];
    if (mask >> a & 1u) {
      so[a] = 0;
    } else {
      so[a] = stride;
      stride *= n[a];
    }
  }
  unsigned in = 0;
  for (unsigned i3 = 0; i3 < n[3]; ++i3)
    for (unsigned i2 = 0; i2 < n[2]; ++i2)
      for (unsigned i1 = 0; i1 < n[1]; ++i1) {
        unsigned base = i3 * so[3] + i2 * so[2] + i1 * so[1];
        for (unsigned i0 = 0; i0 < n[0]; ++i0) f(in++, base + i0 * so[0]);
      }
}

[[noreturn]] inline void index_error(const char* op, long idx, unsigned bound, const std::string& what = "index") {
  throw IndexError(std::string(op) + ": " + what + " " + std::to_string(idx) + " out of range for dimension " +
                   std::to_string(bound) + " (valid: 0.." + std::to_string(static_cast<long>(bound) - 1) + ")");
}

// Checks that axis `ax` exists in `x` (for single-axis ops).
inline void check_axis(const char* op, int ax, const Dim* xs, unsigned nargs) {
  if (ax < 0 || static_cast<unsigned>(ax) >= xs[0].nd)
    shape_error(op, "axis " + std::to_string(ax) + " out of range for a tensor with " + std::to_string(xs[0].nd) +
                        " axes", xs, nargs);
}

}  // namespace dg

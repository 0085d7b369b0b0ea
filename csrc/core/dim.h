// Dim: a tensor shape of up to kMaxDims axes plus a minibatch count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"

namespace dg {

constexpr unsigned kMaxDims = 4;
// Axes and batch counts are 32-bit; element counts (products of them) are
// size_t. A shape may hold at most kMaxElements values, so byte counts
// (4 per value) and offsets into it never overflow 64 bits.
constexpr uint64_t kMaxAxis = UINT32_MAX;
constexpr uint64_t kMaxElements = uint64_t(1) << 60;

struct Dim {
  uint32_t d[kMaxDims] = {1, 1, 1, 1};
  uint32_t nd = 0;  // number of axes; 0 never occurs after construction
  uint32_t bd = 1;  // batch elements

  Dim() = default;
  Dim(std::initializer_list<unsigned> ds, unsigned batch = 1) : bd(batch) {
    if (ds.size() > kMaxDims) throw ValueError("dynagraph supports at most 4 axes per tensor");
    for (unsigned x : ds) d[nd++] = x;
  }
  // Range-checks every axis and the batch (1..kMaxAxis) and the element count:
  // ValueError below 1, OverflowError above.
  static Dim from_vector(const std::vector<long>& ds, long batch = 1);

  unsigned rows() const { return d[0]; }
  unsigned cols() const { return nd > 1 ? d[1] : 1; }
  // Elements in one batch element.
  size_t batch_size() const {
    size_t s = 1;
    for (unsigned i = 0; i < nd; ++i) s *= d[i];
    return s;
  }
  size_t size() const { return batch_size() * bd; }
  // Raises OverflowError (naming `op` and the shape) when the element count
  // exceeds kMaxElements; for shapes an op computes from its arguments.
  void check_size(const char* op) const;
  unsigned operator[](unsigned i) const { return i < nd ? d[i] : 1; }
  unsigned ndims() const { return nd; }
  // Same shape ignoring the batch count.
  bool single_equal(const Dim& o) const {
    unsigned n = nd > o.nd ? nd : o.nd;
    for (unsigned i = 0; i < n; ++i)
      if ((*this)[i] != o[i]) return false;
    return true;
  }
  bool operator==(const Dim& o) const { return bd == o.bd && single_equal(o); }
  bool operator!=(const Dim& o) const { return !(*this == o); }
  Dim single() const {
    Dim r = *this;
    r.bd = 1;
    return r;
  }
  // Drop trailing axes of length 1 (keeps at least one axis).
  Dim squeezed() const {
    Dim r = *this;
    while (r.nd > 1 && r.d[r.nd - 1] == 1) --r.nd;
    return r;
  }
  std::string str() const;
};

}  // namespace dg

// Dim: a tensor shape of up to kMaxDims axes plus a minibatch count.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"

namespace dg {

constexpr unsigned kMaxDims = 4;

struct Dim {
  uint32_t d[kMaxDims] = {1, 1, 1, 1};
  uint32_t nd = 0;  // number of axes; 0 never occurs after construction
  uint32_t bd = 1;  // batch elements

  Dim() = default;
  Dim(std::initializer_list<unsigned> ds, unsigned batch = 1) : bd(batch) {
    if (ds.size() > kMaxDims) throw ValueError("dynagraph supports at most 4 axes per tensor");
    for (unsigned x : ds) d[nd++] = x;
  }
  static Dim from_vector(const std::vector<long>& ds, long batch = 1);

  unsigned rows() const { return d[0]; }
  unsigned cols() const { return nd > 1 ? d[1] : 1; }
  // Elements in one batch element.
  unsigned batch_size() const {
    unsigned s = 1;
    for (unsigned i = 0; i < nd; ++i) s *= d[i];
    return s;
  }
  unsigned size() const { return batch_size() * bd; }
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

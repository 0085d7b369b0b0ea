#include "core/dim.h"

namespace dg {

Dim Dim::from_vector(const std::vector<long>& ds, long batch) {
  if (ds.empty()) throw ValueError("a shape needs at least one axis");
  if (ds.size() > kMaxDims)
    throw ValueError("shape has " + std::to_string(ds.size()) + " axes; dynagraph supports at most 4");
  if (batch < 1) throw ValueError("batch size must be >= 1, got " + std::to_string(batch));
  Dim r;
  for (long x : ds) {
    if (x < 1) throw ValueError("every axis of a shape must be >= 1, got " + std::to_string(x));
    r.d[r.nd++] = static_cast<uint32_t>(x);
  }
  r.bd = static_cast<uint32_t>(batch);
  return r;
}

std::string Dim::str() const {
  std::string s = "{";
  for (unsigned i = 0; i < nd; ++i) {
    if (i) s += ",";
    s += std::to_string(d[i]);
  }
  if (bd > 1) s += "X" + std::to_string(bd);
  return s + "}";
}

}  // namespace dg

#include "core/dim.h"

namespace dg {

namespace {
std::string shape_str(const std::vector<long>& ds, long batch) {
  std::string s = "(";
  for (size_t i = 0; i < ds.size(); ++i) s += (i ? ", " : "") + std::to_string(ds[i]);
  s += ds.size() == 1 ? ",)" : ")";
  if (batch != 1) s += " with batch size " + std::to_string(batch);
  return s;
}
}  // namespace

Dim Dim::from_vector(const std::vector<long>& ds, long batch) {
  if (ds.empty()) throw ValueError("a shape needs at least one axis");
  if (ds.size() > kMaxDims)
    throw ValueError("shape " + shape_str(ds, batch) + " has " + std::to_string(ds.size()) +
                     " axes; dynagraph supports at most 4");
  if (batch < 1) throw ValueError("batch size must be >= 1, got " + std::to_string(batch));
  if (static_cast<unsigned long>(batch) > kMaxAxis)
    throw OverflowError("shape " + shape_str(ds, batch) + ": batch size " + std::to_string(batch) +
                        " exceeds the largest supported, " + std::to_string(kMaxAxis));
  Dim r;
  uint64_t total = static_cast<uint64_t>(batch);
  for (long x : ds) {
    if (x < 1)
      throw ValueError("every axis of a shape must be >= 1, got " + std::to_string(x) + " in shape " +
                       shape_str(ds, batch));
    if (static_cast<unsigned long>(x) > kMaxAxis)
      throw OverflowError("shape " + shape_str(ds, batch) + ": axis length " + std::to_string(x) +
                          " exceeds the largest supported, " + std::to_string(kMaxAxis));
    // Both factors are < 2^32, so the product cannot wrap before the check.
    if (total > kMaxElements / static_cast<uint64_t>(x))
      throw OverflowError("shape " + shape_str(ds, batch) + " has more than 2^60 elements");
    total *= static_cast<uint64_t>(x);
    r.d[r.nd++] = static_cast<uint32_t>(x);
  }
  r.bd = static_cast<uint32_t>(batch);
  return r;
}

void Dim::check_size(const char* op) const {
  if (bd == 0) throw OverflowError(std::string(op) + ": the batch size of the result overflowed");
  uint64_t total = bd;
  for (unsigned i = 0; i < nd; ++i) {
    if (d[i] == 0 || total > kMaxElements / d[i])
      throw OverflowError(std::string(op) + ": result shape " + str() + " has more than 2^60 elements");
    total *= d[i];
  }
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

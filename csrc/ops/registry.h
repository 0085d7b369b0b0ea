// OpImpl: what every op supplies, and the table that finds it by OpId.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "ops/node.h"
#include "ops/op_context.h"

namespace dg {

// An op's facts (from op_table.def) and its three functions (from its family's file).
struct OpImpl {
  const char* name;
  const char* family;  // csrc/ops/<family>.cc
  int arity;           // -1: variadic
  uint32_t diff_mask;  // bit i: argument i is differentiable
  BatchKind batch;     // how the autobatcher may group it
  uint32_t devices;    // DG_DEV_* bits: the devices with a kernel for it
  // Output shape from argument shapes; throws ValueError naming the op and shapes.
  Dim (*dim_forward)(const OpContext& ctx, const Node& n, const Dim* xs);
  // y = f(xs). y.v is freshly allocated (or pre-set by the op, see inputs.cc), or placed by
  // the caller (a piece of a group's block: alloc() keeps it).
  void (*forward)(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y);
  // dx_i += dE/dx_i given dy = dE/dy. Accumulates, never overwrites.
  void (*backward)(OpContext& ctx, const Node& n, const Tensor* xs, const Tensor& y,
                   const Tensor& dy, unsigned i, Tensor& dxi);
};

// Each family file defines `const OpImpl dg::impl_<name>` for its ops.
#define DG_OP(name, family, arity, diff, batch, devices, functions) extern const OpImpl impl_##name;
#include "ops/op_table.def"
#undef DG_OP

// Indexed by OpId (registry.cc).
extern const OpImpl* const kOpImpls[];
// The implementation of `op`: inline, since every node added and run asks for it.
inline const OpImpl& op_impl(OpId op) { return *kOpImpls[static_cast<unsigned>(op)]; }

// True when `path` (a __FILE__) is csrc/ops/<family>.cc.
constexpr bool is_family_file(const char* path, const char* family) {
  size_t n = 0, f = 0;
  while (path[n]) ++n;
  while (family[f]) ++f;
  const char suffix[] = ".cc";
  if (n < f + 3) return false;
  for (size_t k = 0; k < 3; ++k)
    if (path[n - 3 + k] != suffix[k]) return false;
  for (size_t k = 0; k < f; ++k)
    if (path[n - 3 - f + k] != family[k]) return false;
  return n == f + 3 || path[n - 4 - f] == '/';
}

// Defines op NAME's table entry; it must live in the file of the op's family.
#define DG_DEFINE_OP(NAME, DIMF, FWD, BWD)                                                          \
  static_assert(is_family_file(__FILE__, kFamily_##NAME),                                           \
                #NAME ": define it in csrc/ops/<its family>.cc, as op_table.def says");             \
  const OpImpl impl_##NAME = {#NAME,          kFamily_##NAME, kArity_##NAME, kDiff_##NAME, kBatch_##NAME, \
                              kDevices_##NAME, DIMF,           FWD,           BWD};

#define DG_OP(name, family, arity, diff, batch, devices, functions) \
  constexpr const char* kFamily_##name = #family;                   \
  constexpr int kArity_##name = arity;                              \
  constexpr uint32_t kDiff_##name = diff;                           \
  constexpr BatchKind kBatch_##name = BatchKind::batch;             \
  constexpr uint32_t kDevices_##name = devices;
#include "ops/op_table.def"
#undef DG_OP

}  // namespace dg

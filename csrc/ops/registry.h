// OpImpl: what every op supplies, and the table that finds it by OpId.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "ops/node.h"
#include "ops/op_context.h"

namespace dg {

struct OpImpl {
  const char* name;
  int arity;           // -1: variadic
  uint32_t diff_mask;  // bit i: argument i is differentiable
  // Output shape from argument shapes; throws ValueError naming the op and shapes.
  Dim (*dim_forward)(const OpContext& ctx, const Node& n, const Dim* xs);
  // y = f(xs). y.v is freshly allocated (or pre-set by the op, see inputs.cc).
  void (*forward)(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y);
  // dx_i += dE/dx_i given dy = dE/dy. Accumulates, never overwrites.
  void (*backward)(OpContext& ctx, const Node& n, const Tensor* xs, const Tensor& y,
                   const Tensor& dy, unsigned i, Tensor& dxi);
};

// The implementation of `op`.
const OpImpl& op_impl(OpId op);

// Each family file defines `const OpImpl dg::impl_<name>` for its ops.
#define DG_OP(name, arity, diff) extern const OpImpl impl_##name;
#include "ops/op_table.def"
#undef DG_OP

// Declares the three functions of op `name` and its table entry.
#define DG_DEFINE_OP(NAME, DIMF, FWD, BWD)                                              \
  const OpImpl impl_##NAME = {#NAME, kArity_##NAME, kDiff_##NAME, DIMF, FWD, BWD};

#define DG_OP(name, arity, diff)         \
  constexpr int kArity_##name = arity;   \
  constexpr uint32_t kDiff_##name = diff;
#include "ops/op_table.def"
#undef DG_OP

}  // namespace dg

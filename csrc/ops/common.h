// Helpers shared by the op families: allocation, shape errors, broadcasting.
#pragma once
#include <string>

#include "core/gemm.h"
#include "ops/op_context.h"
#include "ops/registry.h"

namespace dg {

// y's memory: where the caller placed it already (a batched group's output laid out
// for the group that reads it, graph/autobatch.cc; a piece of a group's block,
// graph/autobatch_threads.cc), else fresh from the pool.
inline void alloc(OpContext& ctx, Tensor& y) {
  if (!y.v) y.v = ctx.fx_pool.allocate_floats(y.d.size());
}

// Scratch memory that lives until renew_cg() (kept from forward to backward).
inline float* scratch(OpContext& ctx, size_t n) { return ctx.scratch_pool.allocate_floats(n); }

[[noreturn]] inline void shape_error(const char* op, const std::string& what, const Dim* xs,
                                     unsigned n) {
  std::string s = std::string(op) + ": " + what + "; argument shapes:";
  for (unsigned k = 0; k < n; ++k) s += (k ? ", " : " ") + xs[k].str();
  throw ValueError(s);
}

// Batch count of a result combining arguments of batch 1 and batch B.
inline unsigned joint_batch(const char* op, const Dim* xs, unsigned n) {
  unsigned b = 1;
  for (unsigned k = 0; k < n; ++k) {
    if (xs[k].bd == 1) continue;
    if (b != 1 && xs[k].bd != b) shape_error(op, "batch sizes differ", xs, n);
    b = xs[k].bd;
  }
  return b;
}

// dx += dy summed down to dx's shape: over the batch when dx has batch 1 and
// over any axis where dx has length 1 and dy does not (NumPy broadcasting).
void sum_to(const Tensor& dy, Tensor& dx, float scale = 1.f);

// dA (m x k, column-major) += u (m) * v (k)^T as a plain vectorised loop.
// Eigen sends a run-time sized depth-1 product to its packed GEMM (~2x the
// instructions at 32x32) and re-checks alignment per column of an outer product.
void rank1_acc(float* dA, const float* u, const float* v, unsigned m, unsigned k);

// Broadcast-compatible result shape for element-wise binary ops: axes must be
// equal or 1 on one side; batches equal or 1.
Dim broadcast_dim(const char* op, const Dim* xs);

// True when the element-wise op needs the general (strided) broadcasting path.
inline bool needs_broadcast(const Dim& a, const Dim& y) { return !a.single_equal(y); }

// Element index into `x` for element `k` (within one batch element) of `y`,
// where x broadcasts to y.
size_t broadcast_index(const Dim& x, const Dim& y, size_t k);

}  // namespace dg

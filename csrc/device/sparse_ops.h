// Device ops of sparsemax and constrained_softmax (csrc/ops/sparse.cc).
#pragma once
#include "device/common.h"
#include "kernels/sparse.h"

namespace dg::dev {

template <class B>
struct SparseOps {
  static void sparsemax_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch_blocks(y.d.bd, kern::SparsemaxForward{xs[0].v, y.v, y.d.rows()});
  }
  static void sparsemax_bwd(DeviceCtx&, const Node&, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
                            Tensor& dx) {
    B::launch_blocks(y.d.bd, kern::SparsemaxBackward{y.v, dy.v, dx.v, y.d.rows()});
  }
  static uint32_t stride(const Tensor& t) { return t.d.bd == 1 ? 0u : t.d.rows(); }
  // The active set (1 = at its bound) is kept in n.mem for backward.
  static void csoftmax_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    n.mem = ctx.scratch->allocate_floats(y.d.size());
    B::launch_blocks(y.d.bd, kern::ConstrainedSoftmaxForward{xs[0].v, xs[1].v, y.v, n.mem, y.d.rows(),
                                                             stride(xs[0]), stride(xs[1])});
  }
  static void csoftmax_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                           unsigned i, Tensor& dx) {
    float* r = ctx.scratch->allocate_floats(y.d.bd);
    B::launch_blocks(y.d.bd, kern::ConstrainedSoftmaxRatio{y.v, dy.v, n.mem, xs[1].v, r, y.d.rows(), stride(xs[1])});
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::ConstrainedSoftmaxBackward{y.v, dy.v, n.mem, r, dx.v, y.d.rows(), y.d.bd, i, dx.d.bd == y.d.bd});
  }
};

template <class B>
void register_sparse(DeviceOpTable& t) {
  using O = SparseOps<B>;
  t.set(OpId::sparsemax, O::sparsemax_fwd, O::sparsemax_bwd);
  t.set(OpId::constrained_softmax, O::csoftmax_fwd, O::csoftmax_bwd);
}

}  // namespace dg::dev

// Device ops of layer_norm and weight_norm (csrc/ops/norm.cc). Gain, bias and
// the weight's gain may have batch 1 (shared; their gradients sum over the batch).
#pragma once
#include "device/common.h"
#include "kernels/norm.h"

namespace dg::dev {

template <class B>
struct NormOps {
  static kern::BatchArg arg(const Tensor& t) {
    return {t.v, t.d.bd == 1 ? 0u : static_cast<uint32_t>(t.d.batch_size())};
  }
  // layer_norm: the per-batch mean and sd are kept in n.mem from forward to backward
  static void layer_norm_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const uint32_t len = static_cast<uint32_t>(y.d.batch_size());
    n.mem = ctx.scratch->allocate_floats(2 * y.d.bd);
    B::launch_blocks(y.d.bd, kern::MeanSd{arg(xs[0]), n.mem, len});
    B::launch(static_cast<uint32_t>(y.d.size()),
              kern::LayerNormForward{arg(xs[0]), arg(xs[1]), arg(xs[2]), n.mem, y.v, len});
  }
  static void layer_norm_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                             unsigned i, Tensor& dx) {
    const uint32_t len = static_cast<uint32_t>(y.d.batch_size());
    float* sums = nullptr;
    if (i == 0) {
      sums = ctx.scratch->allocate_floats(2 * y.d.bd);
      B::launch_blocks(y.d.bd, kern::LayerNormSums{arg(xs[0]), arg(xs[1]), dy.v, n.mem, sums, len});
    }
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::LayerNormBackward{arg(xs[0]), arg(xs[1]), dy.v, n.mem, sums, dx.v, len, y.d.bd, i,
                                      dx.d.bd == y.d.bd});
  }
  // weight_norm: the per-batch norms of w are kept in n.mem
  static void weight_norm_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const uint32_t len = static_cast<uint32_t>(y.d.batch_size());
    n.mem = ctx.scratch->allocate_floats(y.d.bd);
    B::launch_blocks(y.d.bd, kern::NormOrProjection{arg(xs[0]), nullptr, n.mem, len});
    B::launch(static_cast<uint32_t>(y.d.size()), kern::WeightNormForward{arg(xs[0]), arg(xs[1]), n.mem, y.v, len});
  }
  static void weight_norm_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                              unsigned i, Tensor& dx) {
    const uint32_t len = static_cast<uint32_t>(y.d.batch_size());
    float* proj = ctx.scratch->allocate_floats(y.d.bd);
    B::launch_blocks(y.d.bd, kern::NormOrProjection{arg(xs[0]), dy.v, proj, len});
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::WeightNormBackward{arg(xs[0]), arg(xs[1]), dy.v, n.mem, proj, dx.v, len, y.d.bd, i,
                                       dx.d.bd == y.d.bd});
  }
};

template <class B>
void register_norm(DeviceOpTable& t) {
  using O = NormOps<B>;
  t.set(OpId::layer_norm, O::layer_norm_fwd, O::layer_norm_bwd);
  t.set(OpId::weight_norm, O::weight_norm_fwd, O::weight_norm_bwd);
}

}  // namespace dg::dev

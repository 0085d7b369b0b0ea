// Device ops of the losses and norms (csrc/ops/softmax_loss.cc): hinge,
// hinge_dim, squared_distance, l1_distance, huber_distance, binary_log_loss,
// pairwise_rank_loss, squared_norm, l2_norm, poisson_loss.
#pragma once
#include <cmath>

#include "device/common.h"
#include "device/softmax_reduce_ops.h"
#include "kernels/losses.h"

namespace dg::dev {

template <class B>
struct LossOps {
  // hinge: one line per batch element; hinge_dim: the lines along axis i0, indices shared or per batch element.
  static kern::HingeLines hinge_lines(DeviceCtx& ctx, const Node& n, const Dim& x) {
    if (n.op == OpId::hinge) return {kern::Lines{1, x.rows(), 1}, ints_on_device<B>(ctx, n), 1, 1};
    const kern::Lines L = lines_of(x, n.i0);
    const uint32_t lines = x.d[1 - n.i0];
    return {L, ints_on_device<B>(ctx, n), lines, n.naux == lines ? 0u : lines};
  }
  static void hinge_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch_blocks(static_cast<uint32_t>(y.d.size()),
                     kern::HingeForward{xs[0].v, y.v, hinge_lines(ctx, n, xs[0].d), n.f0});
  }
  static void hinge_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned,
                        Tensor& dx) {
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::HingeBackward{xs[0].v, dy.v, dx.v, hinge_lines(ctx, n, xs[0].d), n.f0});
  }

  static kern::PairArgs pair_args(const Tensor* xs) {
    auto stride = [](const Tensor& t) { return t.d.bd == 1 ? 0u : static_cast<uint32_t>(t.d.batch_size()); };
    return {xs[0].v, xs[1].v, stride(xs[0]), stride(xs[1])};
  }
  template <kern::PairLoss K>
  static void pair_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch_blocks(y.d.bd, kern::PairLossForward{pair_args(xs), y.v, static_cast<uint32_t>(xs[0].d.batch_size()),
                                                   K, n.f0});
  }
  template <kern::PairLoss K>
  static void pair_bwd(DeviceCtx&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                       Tensor& dx) {
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::PairLossBackward{pair_args(xs), dy.v, dx.v, static_cast<uint32_t>(xs[0].d.batch_size()), y.d.bd,
                                     i, dx.d.bd == y.d.bd, K, n.f0});
  }

  static void rank_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(static_cast<uint32_t>(y.d.size()),
              kern::RankForward{pair_args(xs), y.v, static_cast<uint32_t>(y.d.batch_size()), n.f0});
  }
  static void rank_bwd(DeviceCtx&, const Node&, const Tensor*, const Tensor& y, const Tensor& dy, unsigned i,
                       Tensor& dx) {
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::RankBackward{y.v, dy.v, dx.v, static_cast<uint32_t>(y.d.batch_size()), y.d.bd,
                                 dx.d.bd == y.d.bd, i == 0 ? -1.f : 1.f});
  }

  // squared_norm and l2_norm
  static void norm_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch_blocks(y.d.bd, kern::SquaredNormForward{xs[0].v, y.v, static_cast<uint32_t>(xs[0].d.batch_size()),
                                                      n.op == OpId::l2_norm});
  }
  static void norm_bwd(DeviceCtx&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                       Tensor& dx) {
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::NormBackward{xs[0].v, y.v, dy.v, dx.v, static_cast<uint32_t>(dx.d.batch_size()),
                                 n.op == OpId::l2_norm});
  }

  static void poisson_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.bd, kern::PoissonForward{xs[0].v, y.v, n.f0, std::lgamma(n.f0 + 1.f)});
  }
  static void poisson_bwd(DeviceCtx&, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned,
                          Tensor& dx) {
    B::launch(dx.d.bd, kern::PoissonBackward{xs[0].v, dy.v, dx.v, n.f0});
  }
};

template <class B>
void register_losses(DeviceOpTable& t) {
  using O = LossOps<B>;
  using K = kern::PairLoss;
  t.set(OpId::hinge, O::hinge_fwd, O::hinge_bwd);
  t.set(OpId::hinge_dim, O::hinge_fwd, O::hinge_bwd);
  t.set(OpId::squared_distance, O::template pair_fwd<K::squared>, O::template pair_bwd<K::squared>);
  t.set(OpId::l1_distance, O::template pair_fwd<K::l1>, O::template pair_bwd<K::l1>);
  t.set(OpId::huber_distance, O::template pair_fwd<K::huber>, O::template pair_bwd<K::huber>);
  t.set(OpId::binary_log_loss, O::template pair_fwd<K::binary_log>, O::template pair_bwd<K::binary_log>);
  t.set(OpId::pairwise_rank_loss, O::rank_fwd, O::rank_bwd);
  t.set(OpId::squared_norm, O::norm_fwd, O::norm_bwd);
  t.set(OpId::l2_norm, O::norm_fwd, O::norm_bwd);
  t.set(OpId::poisson_loss, O::poisson_fwd, O::poisson_bwd);
}

}  // namespace dg::dev

// Device ops of softmax, log_softmax, pickneglogsoftmax (csrc/ops/softmax_loss.cc)
// and of sum_elems, sum_batches (csrc/ops/reduce.cc).
#pragma once
#include <vector>

#include "device/common.h"
#include "kernels/reduce.h"
#include "kernels/softmax_loss.h"

namespace dg::dev {

// Lines of `d` along axis `ax`, over all batch elements.
inline kern::Lines lines_of(const Dim& d, unsigned ax) {
  kern::Lines L{1, 1, 1};
  for (unsigned a = 0; a < d.nd; ++a) {
    if (a < ax) L.inner *= d.d[a];
    else if (a == ax) L.n = d.d[a];
    else L.outer *= d.d[a];
  }
  return L;
}
inline uint32_t line_count(const Dim& d, const kern::Lines& L) { return L.inner * L.outer * d.bd; }

template <class B>
struct SoftmaxReduceOps {
  static void softmax_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    kern::Lines L = lines_of(y.d, n.i0);
    B::launch_blocks(line_count(y.d, L), kern::SoftmaxForward{xs[0].v, y.v, L});
  }
  static void softmax_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
                          Tensor& dx) {
    kern::Lines L = lines_of(y.d, n.i0);
    B::launch_blocks(line_count(y.d, L), kern::SoftmaxBackward{y.v, dy.v, dx.v, L});
  }
  static void log_softmax_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    if (n.naux) {  // a restriction list (x is a vector per batch element): a 0/1 row mask on the device
      const uint32_t rows = y.d.rows();
      std::vector<int32_t> allowed(rows, 0);
      for (unsigned k = 0; k < n.naux; ++k) allowed[ctx.ints[n.aux0 + k]] = 1;
      auto* mask = static_cast<int32_t*>(ctx.scratch->allocate(sizeof(int32_t) * rows));
      B::to_device(mask, allowed.data(), sizeof(int32_t) * rows);
      B::launch_blocks(y.d.bd, kern::RestrictedLogSoftmaxForward{xs[0].v, mask, y.v, rows});
      return;
    }
    kern::Lines L = lines_of(y.d, 0);
    B::launch_blocks(line_count(y.d, L), kern::LogSoftmaxForward{xs[0].v, y.v, L});
  }
  static void log_softmax_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
                              Tensor& dx) {
    if (n.naux) {
      B::launch_blocks(y.d.bd, kern::RestrictedLogSoftmaxBackward{y.v, dy.v, dx.v, y.d.rows()});
      return;
    }
    kern::Lines L = lines_of(y.d, 0);
    B::launch_blocks(line_count(y.d, L), kern::LogSoftmaxBackward{y.v, dy.v, dx.v, L});
  }
  static void pnls_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    n.mem = ctx.scratch->allocate_floats(y.d.bd);  // log Z per batch element, for backward
    B::launch_blocks(y.d.bd, kern::PickNegLogSoftmaxForward{xs[0].v, ints_on_device<B>(ctx, n), y.v, n.mem,
                                                            xs[0].d.rows()});
  }
  static void pnls_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned,
                       Tensor& dx) {
    B::launch(dx.d.size(), kern::PickNegLogSoftmaxBackward{xs[0].v, ints_on_device<B>(ctx, n), n.mem, dy.v, dx.v,
                                                           xs[0].d.rows()});
  }
  static void sum_elems_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch_blocks(y.d.bd, kern::SumElemsForward{xs[0].v, y.v, static_cast<unsigned>(xs[0].d.batch_size())});
  }
  static void sum_elems_bwd(DeviceCtx&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                            Tensor& dx) {
    B::launch(dx.d.size(), kern::SumElemsBackward{dy.v, dx.v, static_cast<unsigned>(dx.d.batch_size())});
  }
  static void sum_batches_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::SumBatchesForward{xs[0].v, y.v, static_cast<unsigned>(y.d.size()), xs[0].d.bd});
  }
  static void sum_batches_bwd(DeviceCtx&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                              Tensor& dx) {
    B::launch(dx.d.size(), kern::SumBatchesBackward{dy.v, dx.v, static_cast<unsigned>(dy.d.size())});
  }
};

template <class B>
void register_softmax_reduce(DeviceOpTable& t) {
  using O = SoftmaxReduceOps<B>;
  t.set(OpId::softmax, O::softmax_fwd, O::softmax_bwd);
  t.set(OpId::log_softmax, O::log_softmax_fwd, O::log_softmax_bwd);
  t.set(OpId::pickneglogsoftmax, O::pnls_fwd, O::pnls_bwd);
  t.set(OpId::sum_elems, O::sum_elems_fwd, O::sum_elems_bwd);
  t.set(OpId::sum_batches, O::sum_batches_fwd, O::sum_batches_bwd);
}

}  // namespace dg::dev

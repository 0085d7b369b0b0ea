// Device ops of the reductions along axes (csrc/ops/reduce.cc: sum_dim,
// moment_dim, std_dim, max_dim, min_dim, cumsum, argmax) and of logsumexp,
// logsumexp_dim (csrc/ops/softmax_loss.cc).
#pragma once
#include <vector>

#include "device/common.h"
#include "device/softmax_reduce_ops.h"
#include "kernels/reduce_axis.h"

namespace dg::dev {

// The axes of the node's int list (and the batch when y has one element
// where x has several) as the kernels' AxisSet.
inline kern::AxisSet axis_set(const DeviceCtx& ctx, const Node& n, const Dim& x, const Dim& y) {
  kern::AxisSet s;
  const kern::Shape xs = shape_of(x);
  for (int a = 0; a < 4; ++a) s.d[a] = xs.d[a];
  s.mask = 0;
  for (unsigned k = 0; k < n.naux; ++k) s.mask |= 1u << ctx.ints[n.aux0 + k];
  s.xbs = static_cast<uint32_t>(x.batch_size());
  s.ybs = static_cast<uint32_t>(y.batch_size());
  s.count = static_cast<uint32_t>(x.size() / y.size());
  s.all_batches = y.bd == 1;
  return s;
}

// The arguments' pointers and batch strides copied to the device (scratch memory).
template <class B>
kern::BatchedArgs batched_args_on_device(DeviceCtx& ctx, const Node& n, const Tensor* xs) {
  std::vector<const float*> ptr(n.nargs);
  std::vector<uint32_t> stride(n.nargs);
  for (unsigned k = 0; k < n.nargs; ++k) {
    ptr[k] = xs[k].v;
    stride[k] = xs[k].d.bd == 1 ? 0u : static_cast<uint32_t>(xs[k].d.batch_size());
  }
  auto* p = static_cast<const float**>(ctx.scratch->allocate(sizeof(float*) * n.nargs));
  auto* s = static_cast<uint32_t*>(ctx.scratch->allocate(sizeof(uint32_t) * n.nargs));
  B::to_device(p, ptr.data(), sizeof(float*) * n.nargs);
  B::to_device(s, stride.data(), sizeof(uint32_t) * n.nargs);
  return kern::BatchedArgs{p, s, n.nargs};
}

template <class B>
struct ReduceAxisOps {
  static float moment_scale(const Node& n, const kern::AxisSet& s) {
    if (n.op == OpId::sum_dim) return 1.f;
    return 1.f / (n.f1 > 0.f ? n.f1 : static_cast<float>(s.count));
  }
  static int moment_order(const Node& n) { return n.op == OpId::sum_dim ? 1 : static_cast<int>(n.f0); }

  // sum_dim and moment_dim
  static void moment_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const kern::AxisSet s = axis_set(ctx, n, xs[0].d, y.d);
    B::launch_blocks(static_cast<uint32_t>(y.d.size()),
                     kern::MomentForward{xs[0].v, y.v, s, moment_order(n), moment_scale(n, s)});
  }
  static void moment_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                         Tensor& dx) {
    const kern::AxisSet s = axis_set(ctx, n, xs[0].d, y.d);
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::MomentBackward{xs[0].v, dy.v, dx.v, s, moment_order(n), moment_scale(n, s)});
  }
  static void std_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const kern::AxisSet s = axis_set(ctx, n, xs[0].d, y.d);
    n.mem = ctx.scratch->allocate_floats(y.d.size());  // the means, for backward
    B::launch_blocks(static_cast<uint32_t>(y.d.size()),
                     kern::StdForward{xs[0].v, y.v, n.mem, s, 1.f / static_cast<float>(s.count)});
  }
  static void std_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                      Tensor& dx) {
    const kern::AxisSet s = axis_set(ctx, n, xs[0].d, y.d);
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::StdBackward{xs[0].v, y.v, n.mem, dy.v, dx.v, s, 1.f / static_cast<float>(s.count)});
  }
  // max_dim, min_dim along axis i0
  static void extremum_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const kern::Lines L = lines_of(xs[0].d, n.i0);
    B::launch_blocks(line_count(xs[0].d, L), kern::ExtremumForward{xs[0].v, y.v, L, n.op == OpId::max_dim});
  }
  static void extremum_bwd(DeviceCtx&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                           Tensor& dx) {
    const kern::Lines L = lines_of(xs[0].d, n.i0);
    B::launch(line_count(xs[0].d, L), kern::ExtremumBackward{xs[0].v, y.v, dy.v, dx.v, L});
  }
  // cumsum along axis i0 (an axis past the last has length 1)
  static void cumsum_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const kern::Lines L = lines_of(y.d, n.i0);
    B::launch(line_count(y.d, L), kern::CumsumForward{xs[0].v, y.v, L});
  }
  static void cumsum_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
                         Tensor& dx) {
    const kern::Lines L = lines_of(y.d, n.i0);
    B::launch(line_count(y.d, L), kern::CumsumBackward{dy.v, dx.v, L});
  }
  // argmax: f0 = 1 passes the gradient straight through, 0 stops it
  static void argmax_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch_blocks(y.d.bd, kern::ArgmaxForward{xs[0].v, y.v, y.d.rows()});
  }
  static void argmax_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                         Tensor& dx) {
    if (n.f0 != 0.f) axpy<B>(dy.v, dx.v, dx.d.size());
  }
  // logsumexp of several expressions, element-wise
  static void logsumexp_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const kern::BatchedArgs args = batched_args_on_device<B>(ctx, n, xs);
    B::launch(static_cast<uint32_t>(y.d.size()),
              kern::LogSumExpForward{args, y.v, static_cast<uint32_t>(y.d.batch_size())});
  }
  static void logsumexp_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                            Tensor& dx) {
    B::launch(static_cast<uint32_t>(dx.d.size()),
              kern::LogSumExpBackward{xs[i].v, y.v, dy.v, dx.v, static_cast<uint32_t>(y.d.batch_size()), y.d.bd,
                                      dx.d.bd == y.d.bd});
  }
  static void logsumexp_dim_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const kern::Lines L = lines_of(xs[0].d, n.i0);
    B::launch_blocks(line_count(xs[0].d, L), kern::LogSumExpDimForward{xs[0].v, y.v, L});
  }
  static void logsumexp_dim_bwd(DeviceCtx&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                                unsigned, Tensor& dx) {
    const kern::Lines L = lines_of(xs[0].d, n.i0);
    B::launch(static_cast<uint32_t>(dx.d.size()), kern::LogSumExpDimBackward{xs[0].v, y.v, dy.v, dx.v, L});
  }
};

template <class B>
void register_reduce_axis(DeviceOpTable& t) {
  using O = ReduceAxisOps<B>;
  t.set(OpId::sum_dim, O::moment_fwd, O::moment_bwd);
  t.set(OpId::moment_dim, O::moment_fwd, O::moment_bwd);
  t.set(OpId::std_dim, O::std_fwd, O::std_bwd);
  t.set(OpId::max_dim, O::extremum_fwd, O::extremum_bwd);
  t.set(OpId::min_dim, O::extremum_fwd, O::extremum_bwd);
  t.set(OpId::cumsum, O::cumsum_fwd, O::cumsum_bwd);
  t.set(OpId::argmax, O::argmax_fwd, O::argmax_bwd);
  t.set(OpId::logsumexp, O::logsumexp_fwd, O::logsumexp_bwd);
  t.set(OpId::logsumexp_dim, O::logsumexp_dim_fwd, O::logsumexp_dim_bwd);
}

}  // namespace dg::dev

// Device ops of pick, reshape, concatenate (csrc/ops/shape.cc) and dropout
// (csrc/ops/noise.cc).
#pragma once
#include "device/common.h"
#include "kernels/noise.h"
#include "kernels/shape.h"

namespace dg::dev {

inline kern::AxisSplit split_at(const Dim& d, unsigned a) {
  kern::AxisSplit s{1, d[a], 1};
  for (unsigned i = 0; i < d.nd; ++i) {
    if (i < a) s.inner *= d.d[i];
    else if (i > a) s.outer *= d.d[i];
  }
  return s;
}

template <class B>
struct ShapeNoiseOps {
  static void pick_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::PickForward{xs[0].v, ints_on_device<B>(ctx, n), y.v, split_at(xs[0].d, n.i0),
                                            xs[0].d.bd, n.naux});
  }
  static void pick_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                       Tensor& dx) {
    B::launch(dx.d.size(), kern::PickBackward{dy.v, ints_on_device<B>(ctx, n), dx.v, split_at(dx.d, n.i0), dx.d.bd,
                                              dy.d.bd, n.naux});
  }
  static kern::RangeMap range_of(const DeviceCtx& ctx, const Node& n, const Dim& x) {
    const int32_t* p = ctx.ints + n.aux0;  // start, end, axis
    return kern::RangeMap{split_at(x, p[2]), static_cast<uint32_t>(p[0]), static_cast<uint32_t>(p[1] - p[0])};
  }
  static void pick_range_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::RangeForward{xs[0].v, y.v, range_of(ctx, n, xs[0].d)});
  }
  static void pick_range_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                             Tensor& dx) {
    B::launch(dy.d.size(), kern::RangeBackward{dy.v, dx.v, range_of(ctx, n, dx.d)});
  }
  static void reshape_fwd(DeviceCtx&, const Node&, const Tensor* xs, Tensor& y) { y.v = xs[0].v; }
  static void identity_bwd(DeviceCtx&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                           Tensor& dx) {
    axpy<B>(dy.v, dx.v, dx.d.size());
  }
  static void concatenate_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    if (n.nargs == 1 && xs[0].d.bd == y.d.bd) {
      y.v = xs[0].v;
      return;
    }
    alloc(ctx, y);
    const kern::AxisSplit s = split_at(y.d, n.i0);
    const uint32_t block = s.inner * s.len;
    uint32_t offset = 0;
    for (unsigned k = 0; k < n.nargs; ++k) {
      const uint32_t m = s.inner * xs[k].d[n.i0];
      B::launch(m * s.outer * y.d.bd, kern::ConcatForward{xs[k].v, y.v, m, block, offset, s.outer, xs[k].d.bd});
      offset += m;
    }
  }
  static void concatenate_bwd(DeviceCtx&, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy,
                              unsigned i, Tensor& dx) {
    const kern::AxisSplit s = split_at(dy.d, n.i0);
    const uint32_t block = s.inner * s.len, m = s.inner * dx.d[n.i0];
    uint32_t offset = 0;
    for (unsigned k = 0; k < i; ++k) offset += s.inner * xs[k].d[n.i0];
    B::launch(dx.d.size(), kern::ConcatBackward{dy.v, dx.v, m, block, offset, s.outer, dx.d.bd, dy.d.bd});
  }
  // Inverted dropout; p = 0 is the identity (the value aliases the argument).
  static void dropout_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    const float p = n.f0;
    if (p == 0.f) {
      y.v = xs[0].v;
      return;
    }
    alloc(ctx, y);
    const uint32_t size = y.d.size();
    n.mem = ctx.scratch->allocate_floats(size);
    const double keep = 1.0 - static_cast<double>(p);
    const uint32_t threshold = keep >= 1.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(keep * 4294967296.0);
    B::launch(size, kern::DropoutForward{xs[0].v, y.v, n.mem, ctx.seed, *ctx.counter, threshold, 1.f / (1.f - p)});
    *ctx.counter += size;
  }
  static void dropout_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                          Tensor& dx) {
    if (n.f0 == 0.f) axpy<B>(dy.v, dx.v, dx.d.size());
    else B::launch(dx.d.size(), kern::MaskBackward{dy.v, n.mem, dx.v});
  }
};

template <class B>
void register_shape_noise(DeviceOpTable& t) {
  using O = ShapeNoiseOps<B>;
  t.set(OpId::pick, O::pick_fwd, O::pick_bwd);
  t.set(OpId::pick_range, O::pick_range_fwd, O::pick_range_bwd);
  t.set(OpId::reshape, O::reshape_fwd, O::identity_bwd);
  t.set(OpId::concatenate, O::concatenate_fwd, O::concatenate_bwd);
  t.set(OpId::dropout, O::dropout_fwd, O::dropout_bwd);
}

}  // namespace dg::dev

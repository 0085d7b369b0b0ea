// Device ops of element-wise arithmetic (csrc/ops/arith.cc: binary with
// broadcasting, scalar forms, n-ary sum and max) and the unary functions
// (csrc/ops/elementwise.cc).
#pragma once
#include <vector>

#include "device/common.h"
#include "kernels/arith.h"
#include "kernels/elementwise.h"

namespace dg::dev {

template <class B>
struct ArithOps {
  template <class Op>
  static void binary_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::BinaryForward<Op>{xs[0].v, xs[1].v, y.v, shape_of(xs[0].d), shape_of(xs[1].d),
                                                  shape_of(y.d)});
  }
  template <class Op>
  static void binary_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                         Tensor& dx) {
    const kern::Shape sa = shape_of(xs[0].d), sb = shape_of(xs[1].d), sy = shape_of(y.d);
    if (i == 0) B::launch(dx.d.size(), kern::BinaryBackward<Op, 0>{xs[0].v, xs[1].v, y.v, dy.v, dx.v, sa, sb, sy});
    else B::launch(dx.d.size(), kern::BinaryBackward<Op, 1>{xs[0].v, xs[1].v, y.v, dy.v, dx.v, sa, sb, sy});
  }
  template <class F>
  static void unary_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::UnaryForward<F>{xs[0].v, y.v, n.f0});
  }
  template <class F>
  static void unary_bwd(DeviceCtx&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                        Tensor& dx) {
    B::launch(dx.d.size(), kern::UnaryBackward<F>{xs[0].v, y.v, dy.v, dx.v, n.f0});
  }
  // n-ary sum: arguments of one shape, batches of 1 broadcast.
  static void sum_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    fill<B>(y.v, y.d.size(), 0.f);
    for (unsigned k = 0; k < n.nargs; ++k)
      B::launch(y.d.size(), kern::AddBroadcast{xs[k].v, y.v, shape_of(xs[k].d), shape_of(y.d)});
  }
  // The argument list of an n-ary op copied to the device (scratch memory).
  static kern::ArgList args_on_device(DeviceCtx& ctx, const Node& n, const Tensor* xs) {
    std::vector<const float*> ptrs(n.nargs);
    std::vector<uint32_t> batches(n.nargs);
    for (unsigned k = 0; k < n.nargs; ++k) {
      ptrs[k] = xs[k].v;
      batches[k] = xs[k].d.bd;
    }
    auto* p = static_cast<const float**>(ctx.scratch->allocate(sizeof(float*) * n.nargs));
    auto* b = static_cast<uint32_t*>(ctx.scratch->allocate(sizeof(uint32_t) * n.nargs));
    B::to_device(p, ptrs.data(), sizeof(float*) * n.nargs);
    B::to_device(b, batches.data(), sizeof(uint32_t) * n.nargs);
    return kern::ArgList{p, b, n.nargs};
  }
  static void max_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::MaxForward{args_on_device(ctx, n, xs), y.v, static_cast<uint32_t>(y.d.batch_size())});
  }
  static void max_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                      Tensor& dx) {
    B::launch(dx.d.size(), kern::MaxBackward{args_on_device(ctx, n, xs), y.v, dy.v, dx.v, i,
                                             static_cast<uint32_t>(y.d.batch_size()), y.d.bd});
  }
  static void sum_bwd(DeviceCtx&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned, Tensor& dx) {
    B::launch(dx.d.size(), kern::SumTo{dy.v, dx.v, shape_of(dx.d), shape_of(dy.d), 1.f});
  }
};

template <class B>
void register_arith(DeviceOpTable& t) {
  using O = ArithOps<B>;
  t.set(OpId::add, O::template binary_fwd<kern::Add>, O::template binary_bwd<kern::Add>);
  t.set(OpId::sub, O::template binary_fwd<kern::Sub>, O::template binary_bwd<kern::Sub>);
  t.set(OpId::cmult, O::template binary_fwd<kern::CMult>, O::template binary_bwd<kern::CMult>);
  t.set(OpId::cdiv, O::template binary_fwd<kern::CDiv>, O::template binary_bwd<kern::CDiv>);
  t.set(OpId::bmin, O::template binary_fwd<kern::BMin>, O::template binary_bwd<kern::BMin>);
  t.set(OpId::bmax, O::template binary_fwd<kern::BMax>, O::template binary_bwd<kern::BMax>);
  t.set(OpId::pow, O::template binary_fwd<kern::Pow>, O::template binary_bwd<kern::Pow>);
  t.set(OpId::sum, O::sum_fwd, O::sum_bwd);
  t.set(OpId::max, O::max_fwd, O::max_bwd);
#define DG_DEVICE_UNARY(OP, F) t.set(OpId::OP, O::template unary_fwd<kern::F>, O::template unary_bwd<kern::F>);
  DG_DEVICE_UNARY(negate, Negate)
  DG_DEVICE_UNARY(add_scalar, AddScalar)
  DG_DEVICE_UNARY(mul_scalar, MulScalar)
  DG_DEVICE_UNARY(scalar_sub, ScalarSub)
  DG_DEVICE_UNARY(scalar_div, ScalarDiv)
  DG_DEVICE_UNARY(tanh, Tanh)
  DG_DEVICE_UNARY(logistic, Logistic)
  DG_DEVICE_UNARY(log_sigmoid, LogSigmoid)
  DG_DEVICE_UNARY(rectify, Rectify)
  DG_DEVICE_UNARY(elu, Elu)
  DG_DEVICE_UNARY(softsign, Softsign)
  DG_DEVICE_UNARY(exp, Exp)
  DG_DEVICE_UNARY(log, Log)
  DG_DEVICE_UNARY(sqrt, Sqrt)
  DG_DEVICE_UNARY(square, Square)
  DG_DEVICE_UNARY(cube, Cube)
  DG_DEVICE_UNARY(abs, Abs)
  DG_DEVICE_UNARY(sin, Sin)
  DG_DEVICE_UNARY(cos, Cos)
  DG_DEVICE_UNARY(selu, Selu)
  DG_DEVICE_UNARY(silu, Silu)
  DG_DEVICE_UNARY(erf, Erf)
  DG_DEVICE_UNARY(lgamma, Lgamma)
  DG_DEVICE_UNARY(tan, Tan)
  DG_DEVICE_UNARY(asin, Asin)
  DG_DEVICE_UNARY(acos, Acos)
  DG_DEVICE_UNARY(atan, Atan)
  DG_DEVICE_UNARY(sinh, Sinh)
  DG_DEVICE_UNARY(cosh, Cosh)
  DG_DEVICE_UNARY(asinh, Asinh)
  DG_DEVICE_UNARY(acosh, Acosh)
  DG_DEVICE_UNARY(atanh, Atanh)
  DG_DEVICE_UNARY(floor, Floor)
  DG_DEVICE_UNARY(ceil, Ceil)
  DG_DEVICE_UNARY(round, Round)
  DG_DEVICE_UNARY(nobackprop, NoBackprop)
  DG_DEVICE_UNARY(flip_gradient, FlipGradient)
  DG_DEVICE_UNARY(scale_gradient, ScaleGradient)
#undef DG_DEVICE_UNARY
}

}  // namespace dg::dev

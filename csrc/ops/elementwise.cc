// Unary element-wise functions. Each line gives the forward value in terms of
// x and the derivative dy/dx in terms of x and y (whichever is cheaper).
#include <cmath>

#include "kernels/elementwise.h"
#include "ops/common.h"
#include "ops/gate_formulas.h"

namespace dg {
namespace {

Dim same_dim(const OpContext&, const Node&, const Dim* xs) { return xs[0]; }

using kern::kSeluAlpha;
using kern::kSeluLambda;
using kern::kTwoOverSqrtPi;
using kern::digamma;  // shared with the device kernels (kernels/elementwise.h)

#define DG_UNARY(NAME, FWD_EXPR, DERIV_EXPR)                                                  \
  void NAME##_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {          \
    alloc(ctx, y);                                                                              \
    auto x = xs[0].arr();                                                                     \
    (void)n;                                                                                  \
    y.arr() = FWD_EXPR;                                                                       \
  }                                                                                           \
  void NAME##_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y,        \
                  const Tensor& dy, unsigned, Tensor& dx) {                                   \
    auto x = xs[0].arr();                                                                     \
    auto yv = y.arr();                                                                        \
    (void)x; (void)yv; (void)n;                                                               \
    dx.arr() += dy.arr() * (DERIV_EXPR);                                                      \
  }

DG_UNARY(tanh, gate::tanh_value(x), gate::tanh_slope(yv))
DG_UNARY(logistic, gate::logistic_value(x), gate::logistic_slope(yv))
// log(sigmoid(x)) = -softplus(-x), computed without overflow.
DG_UNARY(log_sigmoid, x.min(0.f) - (-x.abs()).exp().log1p(), 1.f - yv.exp())
DG_UNARY(rectify, gate::rectify_value(x), gate::rectify_slope(yv))
DG_UNARY(elu, (x > 0.f).select(x, n.f0 * (x.exp() - 1.f)), (x > 0.f).select(1.f + 0.f * x, yv + n.f0))
DG_UNARY(selu, kSeluLambda * (x > 0.f).select(x, kSeluAlpha * (x.exp() - 1.f)),
         (x > 0.f).select(kSeluLambda + 0.f * x, yv + kSeluLambda * kSeluAlpha))
DG_UNARY(silu, x * (0.5f * (0.5f * n.f0 * x).tanh() + 0.5f),
         (0.5f * (0.5f * n.f0 * x).tanh() + 0.5f) *
             (1.f + n.f0 * x * (1.f - (0.5f * (0.5f * n.f0 * x).tanh() + 0.5f))))
DG_UNARY(softsign, x / (1.f + x.abs()), 1.f / (1.f + x.abs()).square())
DG_UNARY(exp, x.exp(), yv)
DG_UNARY(log, x.log(), 1.f / x)
DG_UNARY(sqrt, x.sqrt(), 0.5f / yv)
DG_UNARY(square, x.square(), 2.f * x)
DG_UNARY(cube, x.cube(), 3.f * x.square())
DG_UNARY(abs, x.abs(), x.sign())
DG_UNARY(erf, x.unaryExpr([](float v) { return std::erf(v); }), kTwoOverSqrtPi * (-x.square()).exp())
DG_UNARY(lgamma, x.unaryExpr([](float v) { return std::lgamma(v); }),
         x.unaryExpr([](float v) { return digamma(v); }))
DG_UNARY(sin, x.sin(), x.cos())
DG_UNARY(cos, x.cos(), -x.sin())
DG_UNARY(tan, x.tan(), 1.f + yv.square())
DG_UNARY(asin, x.asin(), (1.f - x.square()).rsqrt())
DG_UNARY(acos, x.acos(), -(1.f - x.square()).rsqrt())
DG_UNARY(atan, x.atan(), 1.f / (1.f + x.square()))
DG_UNARY(sinh, x.sinh(), x.cosh())
DG_UNARY(cosh, x.cosh(), x.sinh())
DG_UNARY(asinh, x.unaryExpr([](float v) { return std::asinh(v); }), (x.square() + 1.f).rsqrt())
DG_UNARY(acosh, x.unaryExpr([](float v) { return std::acosh(v); }), (x.square() - 1.f).rsqrt())
DG_UNARY(atanh, x.unaryExpr([](float v) { return std::atanh(v); }), 1.f / (1.f - x.square()))
// Piecewise-constant functions: zero gradient, or 1 (straight-through) when f0 = 1.
DG_UNARY(floor, x.floor(), n.f0 + 0.f * x)
DG_UNARY(ceil, x.ceil(), n.f0 + 0.f * x)
DG_UNARY(round, x.round(), n.f0 + 0.f * x)
// Gradient control: identity forward; f0 scales the gradient.
DG_UNARY(nobackprop, x, 0.f * x)
DG_UNARY(flip_gradient, x, -1.f + 0.f * x)
DG_UNARY(scale_gradient, x, n.f0 + 0.f * x)
#undef DG_UNARY

}  // namespace

#define DG_REGISTER_UNARY(NAME) DG_DEFINE_OP(NAME, same_dim, NAME##_fwd, NAME##_bwd)
DG_REGISTER_UNARY(tanh)
DG_REGISTER_UNARY(logistic)
DG_REGISTER_UNARY(log_sigmoid)
DG_REGISTER_UNARY(rectify)
DG_REGISTER_UNARY(elu)
DG_REGISTER_UNARY(selu)
DG_REGISTER_UNARY(silu)
DG_REGISTER_UNARY(softsign)
DG_REGISTER_UNARY(exp)
DG_REGISTER_UNARY(log)
DG_REGISTER_UNARY(sqrt)
DG_REGISTER_UNARY(square)
DG_REGISTER_UNARY(cube)
DG_REGISTER_UNARY(abs)
DG_REGISTER_UNARY(erf)
DG_REGISTER_UNARY(lgamma)
DG_REGISTER_UNARY(sin)
DG_REGISTER_UNARY(cos)
DG_REGISTER_UNARY(tan)
DG_REGISTER_UNARY(asin)
DG_REGISTER_UNARY(acos)
DG_REGISTER_UNARY(atan)
DG_REGISTER_UNARY(sinh)
DG_REGISTER_UNARY(cosh)
DG_REGISTER_UNARY(asinh)
DG_REGISTER_UNARY(acosh)
DG_REGISTER_UNARY(atanh)
DG_REGISTER_UNARY(floor)
DG_REGISTER_UNARY(ceil)
DG_REGISTER_UNARY(round)
DG_REGISTER_UNARY(nobackprop)
DG_REGISTER_UNARY(flip_gradient)
DG_REGISTER_UNARY(scale_gradient)
#undef DG_REGISTER_UNARY

}  // namespace dg

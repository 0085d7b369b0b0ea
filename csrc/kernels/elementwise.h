// Kernel bodies of unary element-wise functions (csrc/ops/elementwise.cc and
// the scalar forms of csrc/ops/arith.cc). Each function is a struct with
// f(x, c) (the value; c is the op's scalar attribute) and df(x, y, c) (dy/dx
// from x or y, whichever is cheaper), plugged into one forward and one
// backward kernel.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

#define DG_KERNEL_UNARY(NAME, F_EXPR, DF_EXPR)                                   \
  struct NAME {                                                                  \
    DG_HD static float f(float x, float c) { (void)c; return F_EXPR; }           \
    DG_HD static float df(float x, float y, float c) {                           \
      (void)x; (void)y; (void)c; return DF_EXPR;                                 \
    }                                                                            \
  };

DG_KERNEL_UNARY(Tanh, tanhf(x), 1.f - y * y)
DG_KERNEL_UNARY(Logistic, 0.5f * tanhf(0.5f * x) + 0.5f, y * (1.f - y))
DG_KERNEL_UNARY(LogSigmoid, fminf(x, 0.f) - log1pf(expf(-fabsf(x))), 1.f - expf(y))
DG_KERNEL_UNARY(Rectify, x > 0.f ? x : 0.f, x > 0.f ? 1.f : 0.f)
DG_KERNEL_UNARY(Elu, x > 0.f ? x : c * (expf(x) - 1.f), x > 0.f ? 1.f : y + c)
DG_KERNEL_UNARY(Softsign, x / (1.f + fabsf(x)), 1.f / ((1.f + fabsf(x)) * (1.f + fabsf(x))))
DG_KERNEL_UNARY(Exp, expf(x), y)
DG_KERNEL_UNARY(Log, logf(x), 1.f / x)
DG_KERNEL_UNARY(Sqrt, sqrtf(x), 0.5f / y)
DG_KERNEL_UNARY(Square, x * x, 2.f * x)
DG_KERNEL_UNARY(Cube, x * x * x, 3.f * x * x)
DG_KERNEL_UNARY(Abs, fabsf(x), x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f))
DG_KERNEL_UNARY(Sin, sinf(x), cosf(x))
DG_KERNEL_UNARY(Cos, cosf(x), -sinf(x))
// Scalar forms: c is the scalar.
DG_KERNEL_UNARY(Negate, -x, -1.f)
DG_KERNEL_UNARY(AddScalar, x + c, 1.f)
DG_KERNEL_UNARY(MulScalar, x * c, c)
DG_KERNEL_UNARY(ScalarSub, c - x, -1.f)
DG_KERNEL_UNARY(ScalarDiv, c / x, -y / x)
// Gradient control: identity forward; the gradient is scaled by 0, -1 or c.
DG_KERNEL_UNARY(NoBackprop, x, 0.f)
DG_KERNEL_UNARY(FlipGradient, x, -1.f)
DG_KERNEL_UNARY(ScaleGradient, x, c)
#undef DG_KERNEL_UNARY

// y[i] = F::f(x[i])
template <class F>
struct UnaryForward {
  const float* x;
  float* y;
  float c;
  DG_HD void operator()(uint32_t i) const { y[i] = F::f(x[i], c); }
};

// dx[i] += dy[i] * F::df(x[i], y[i])
template <class F>
struct UnaryBackward {
  const float* x;
  const float* y;
  const float* dy;
  float* dx;
  float c;
  DG_HD void operator()(uint32_t i) const { dx[i] += dy[i] * F::df(x[i], y[i], c); }
};

// y[i] = value (constants, zeroing, the backward seed).
struct Fill {
  float* y;
  float value;
  DG_HD void operator()(uint32_t i) const { y[i] = value; }
};

// y[i] += s * x[i]
struct Axpy {
  const float* x;
  float* y;
  float s;
  DG_HD void operator()(uint32_t i) const { y[i] += s * x[i]; }
};

}  // namespace dg::kern

// Kernel bodies of unary element-wise functions (csrc/ops/elementwise.cc and
// the scalar forms of csrc/ops/arith.cc). Each function is a struct with
// f(x, c) (the value; c is the op's scalar attribute) and df(x, y, c) (dy/dx
// from x or y, whichever is cheaper), plugged into one forward and one
// backward kernel.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

constexpr float kSeluLambda = 1.0507009873554804934193349852946f;
constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;
constexpr float kTwoOverSqrtPi = 1.1283791670955126f;

// d/dx lgamma(x) for x > 0: the recurrence shifts x above 6, then the
// asymptotic series (about 1e-6 accurate). The CPU op uses it too.
DG_HD inline float digamma(float x) {
  float r = 0.f;
  while (x < 6.f) {
    r -= 1.f / x;
    x += 1.f;
  }
  const float f = 1.f / (x * x);
  return r + logf(x) - 0.5f / x -
         f * (1.f / 12 - f * (1.f / 120 - f * (1.f / 252 - f * (1.f / 240 - f / 132))));
}

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
DG_KERNEL_UNARY(Selu, x > 0.f ? kSeluLambda * x : kSeluLambda * kSeluAlpha * (expf(x) - 1.f),
                x > 0.f ? kSeluLambda : y + kSeluLambda * kSeluAlpha)
// silu(x) = x sigmoid(c x), c = beta.
DG_KERNEL_UNARY(Silu, x * (0.5f * tanhf(0.5f * c * x) + 0.5f),
                (0.5f * tanhf(0.5f * c * x) + 0.5f) * (1.f + c * x * (0.5f - 0.5f * tanhf(0.5f * c * x))))
DG_KERNEL_UNARY(Erf, erff(x), kTwoOverSqrtPi * expf(-x * x))
DG_KERNEL_UNARY(Lgamma, lgammaf(x), digamma(x))
DG_KERNEL_UNARY(Tan, tanf(x), 1.f + y * y)
DG_KERNEL_UNARY(Asin, asinf(x), 1.f / sqrtf(1.f - x * x))
DG_KERNEL_UNARY(Acos, acosf(x), -1.f / sqrtf(1.f - x * x))
DG_KERNEL_UNARY(Atan, atanf(x), 1.f / (1.f + x * x))
DG_KERNEL_UNARY(Sinh, sinhf(x), coshf(x))
DG_KERNEL_UNARY(Cosh, coshf(x), sinhf(x))
DG_KERNEL_UNARY(Asinh, asinhf(x), 1.f / sqrtf(x * x + 1.f))
DG_KERNEL_UNARY(Acosh, acoshf(x), 1.f / sqrtf(x * x - 1.f))
DG_KERNEL_UNARY(Atanh, atanhf(x), 1.f / (1.f - x * x))
// Piecewise constant: the gradient is c (0, or 1 for straight-through).
DG_KERNEL_UNARY(Floor, floorf(x), c)
DG_KERNEL_UNARY(Ceil, ceilf(x), c)
DG_KERNEL_UNARY(Round, roundf(x), c)
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

// Kernel bodies of the trainers' element-wise updates (csrc/params/trainers.cc),
// one thread per parameter element. `scale` is the gradient clipping factor.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// w -= lr * scale * g
struct SgdUpdate {
  float* w;
  const float* g;
  float lr, scale;
  DG_HD void operator()(uint32_t i) const { w[i] -= lr * scale * g[i]; }
};

// Adam, with the bias-corrected step size lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t).
struct AdamUpdate {
  float* w;
  const float* g;
  float* m;
  float* v;
  float lr_t, scale, beta1, beta2, eps;
  DG_HD void operator()(uint32_t i) const {
    float gi = scale * g[i];
    m[i] = beta1 * m[i] + (1.f - beta1) * gi;
    v[i] = beta2 * v[i] + (1.f - beta2) * gi * gi;
    w[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps);
  }
};

}  // namespace dg::kern

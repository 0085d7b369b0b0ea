// Kernel bodies of the trainers' updates (the host rules: csrc/params/trainers.cc),
// one thread per updated element, on the parameter's resident device memory.
//
// An update visits n elements: all of a parameter, or only the touched rows
// of a lookup table (rows != nullptr: element i is row rows[i / row_size],
// column i % row_size). A rule's state slots are slot-major over the whole
// parameter: slot k of element e is s[k * stride + e], as on the host.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// Each rule updates one element w with its (clipping-scaled) gradient g and its state slots.
struct SgdRule {
  float lr;
  DG_HD void operator()(float& w, float g, float*, size_t) const { w -= lr * g; }
};
struct MomentumRule {
  float lr, mom;
  DG_HD void operator()(float& w, float g, float* s, size_t) const {
    s[0] = mom * s[0] - lr * g;
    w += s[0];
  }
};
struct AdagradRule {
  float lr, eps;
  DG_HD void operator()(float& w, float g, float* s, size_t) const {
    s[0] += g * g;
    w -= lr * g / sqrtf(s[0] + eps);
  }
};
struct AdadeltaRule {  // no learning rate, as DyNet's
  float eps, rho;
  DG_HD void operator()(float& w, float g, float* s, size_t stride) const {
    float& hg = s[0];
    float& hd = s[stride];
    hg = rho * hg + (1.f - rho) * g * g;
    const float d = -g * sqrtf(hd + eps) / sqrtf(hg + eps);
    hd = rho * hd + (1.f - rho) * d * d;
    w += d;
  }
};
struct RmsPropRule {
  float lr, eps, rho;
  DG_HD void operator()(float& w, float g, float* s, size_t) const {
    s[0] = rho * s[0] + (1.f - rho) * g * g;
    w -= lr * g / sqrtf(s[0] + eps);
  }
};
// Adam (and AMSGrad's running maximum of v in a third slot), with the
// bias-corrected step size lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t).
struct AdamRule {
  float lr_t, beta1, beta2, eps;
  bool ams;
  DG_HD void operator()(float& w, float g, float* s, size_t stride) const {
    float& m = s[0];
    float& v = s[stride];
    m = beta1 * m + (1.f - beta1) * g;
    v = beta2 * v + (1.f - beta2) * g * g;
    float denom = v;
    if (ams) {
      float& vhat = s[2 * stride];
      vhat = vhat > v ? vhat : v;
      denom = vhat;
    }
    w -= lr_t * m / (sqrtf(denom) + eps);
  }
};

// The element of a (possibly row-restricted) update visited by thread i.
DG_HD inline size_t update_element(uint32_t i, const uint32_t* rows, uint32_t row_size) {
  return rows ? static_cast<size_t>(rows[i / row_size]) * row_size + i % row_size : i;
}

template <class Rule>
struct Update {
  Rule rule;
  float* w;
  const float* g;
  float* s;       // state slots (nullptr for SGD)
  size_t stride;  // elements of the whole parameter
  float scale;    // gradient clipping factor
  const uint32_t* rows;
  uint32_t row_size;
  DG_HD void operator()(uint32_t i) const {
    const size_t e = update_element(i, rows, row_size);
    rule(w[e], scale * g[e], s ? s + e : nullptr, stride);
  }
};

// w[e] = value (zeroing a gradient: NaN rows included) or w[e] *= factor (weight decay).
struct FillRows {
  float* w;
  float value;
  const uint32_t* rows;
  uint32_t row_size;
  DG_HD void operator()(uint32_t i) const { w[update_element(i, rows, row_size)] = value; }
};
struct ScaleRows {
  float* w;
  float factor;
  const uint32_t* rows;
  uint32_t row_size;
  DG_HD void operator()(uint32_t i) const { w[update_element(i, rows, row_size)] *= factor; }
};

// Partial sums of g[e]^2 over the visited elements, one per block (the host
// adds the partials in double): the gradient norm for clipping.
struct SquaredNormPartial {
  const float* g;
  float* partial;
  uint32_t n;
  const uint32_t* rows;
  uint32_t row_size;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    float acc = 0.f;
    for (uint32_t i = blk.block * blk.block_dim + blk.thread; i < n; i += blk.block_dim * blk.grid_dim) {
      const float x = g[update_element(i, rows, row_size)];
      acc += x * x;
    }
    acc = block_reduce(blk, acc, SumOp{});
    if (blk.thread == 0) partial[blk.block] = acc;
  }
};

}  // namespace dg::kern

// Kernel bodies of layer_norm and weight_norm (csrc/ops/norm.cc). Per batch
// element statistics (mean and sd, norms, projections) are block-cooperative,
// one block per batch element of the result, kept in a small array; the
// element-wise passes read them. Arguments of batch 1 have batch stride 0;
// their gradients add the whole batch's in one thread per element.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

constexpr float kLayerNormEps = 1e-8f;  // DyNet divides by (sd + 1e-8)

// One argument as the norms read it: element r of batch element b.
struct BatchArg {
  const float* p;
  uint32_t stride;  // 0 for batch 1
  DG_HD float at(uint32_t b, uint32_t r) const { return p[b * stride + r]; }
};

// stats[2b], stats[2b+1] = mean and sd (population) of x's batch element b.
struct MeanSd {
  BatchArg x;
  float* stats;
  uint32_t n;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t b = blk.block;
    float s = 0.f;
    for (uint32_t r = blk.thread; r < n; r += blk.block_dim) s += x.at(b, r);
    const float mu = block_reduce(blk, s, SumOp{}) / n;
    s = 0.f;
    for (uint32_t r = blk.thread; r < n; r += blk.block_dim) {
      float c = x.at(b, r) - mu;
      s += c * c;
    }
    s = block_reduce(blk, s, SumOp{});
    if (blk.thread == 0) {
      stats[2 * b] = mu;
      stats[2 * b + 1] = sqrtf(s / n);
    }
  }
};

// y = g * (x - mean) / (sd + eps) + bias
struct LayerNormForward {
  BatchArg x, g, bias;
  const float* stats;
  float* y;
  uint32_t n;
  DG_HD void operator()(uint32_t e) const {
    uint32_t b = e / n, r = e - b * n;
    y[e] = g.at(b, r) * (x.at(b, r) - stats[2 * b]) / (stats[2 * b + 1] + kLayerNormEps) + bias.at(b, r);
  }
};

// sums[2b] = mean of gy, sums[2b+1] = sum of gy * (x - mean), with gy = dy * g.
struct LayerNormSums {
  BatchArg x, g;
  const float* dy;
  const float* stats;
  float* sums;
  uint32_t n;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t b = blk.block;
    float s = 0.f, t = 0.f;
    for (uint32_t r = blk.thread; r < n; r += blk.block_dim) {
      float gy = dy[b * n + r] * g.at(b, r);
      s += gy;
      t += gy * (x.at(b, r) - stats[2 * b]);
    }
    s = block_reduce(blk, s, SumOp{});
    t = block_reduce(blk, t, SumOp{});
    if (blk.thread == 0) {
      sums[2 * b] = s / n;
      sums[2 * b + 1] = t;
    }
  }
};

// The gradient of argument `which` (0 x, 1 g, 2 bias) at element r of batch element b.
struct LayerNormBackward {
  BatchArg x, g;
  const float* dy;
  const float* stats;
  const float* sums;  // LayerNormSums (which = 0 only)
  float* dx;
  uint32_t n, batches, which;
  bool dx_batched;
  DG_HD float grad(uint32_t b, uint32_t r) const {
    const float d = dy[b * n + r];
    if (which == 2) return d;
    const float mu = stats[2 * b], sd = stats[2 * b + 1], D = sd + kLayerNormEps, xc = x.at(b, r) - mu;
    if (which == 1) return d * xc / D;
    float v = (d * g.at(b, r) - sums[2 * b]) / D;
    if (sd > 0.f) v -= sums[2 * b + 1] / (D * D * n * sd) * xc;
    return v;
  }
  DG_HD void operator()(uint32_t e) const {
    const uint32_t b0 = dx_batched ? e / n : 0, b1 = dx_batched ? b0 + 1 : batches, r = e - b0 * n;
    float s = 0.f;
    for (uint32_t b = b0; b < b1; ++b) s += grad(b, r);
    dx[e] += s;
  }
};

// out[b] = ||w_b|| (dot = nullptr), or out[b] = dot_b . w_b / ||w_b||.
struct NormOrProjection {
  BatchArg w;
  const float* dot;
  float* out;
  uint32_t n;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t b = blk.block;
    float s = 0.f, t = 0.f;
    for (uint32_t r = blk.thread; r < n; r += blk.block_dim) {
      float v = w.at(b, r);
      s += v * v;
      if (dot) t += dot[b * n + r] * v;
    }
    s = sqrtf(block_reduce(blk, s, SumOp{}));
    if (dot) t = block_reduce(blk, t, SumOp{});
    if (blk.thread == 0) out[b] = dot ? t / s : s;
  }
};

// weight_norm: y = g_b * w / ||w||
struct WeightNormForward {
  BatchArg w, g;  // g: one element per batch element (stride 1) or shared (0)
  const float* norm;
  float* y;
  uint32_t n;
  DG_HD void operator()(uint32_t e) const {
    uint32_t b = e / n, r = e - b * n;
    y[e] = g.at(b, 0) / norm[b] * w.at(b, r);
  }
};

// weight_norm's gradients: w (which = 0): g/||w|| (dy - proj/||w|| w); g (which = 1): proj.
struct WeightNormBackward {
  BatchArg w, g;
  const float* dy;
  const float* norm;
  const float* proj;
  float* dx;
  uint32_t n, batches, which;
  bool dx_batched;
  DG_HD void operator()(uint32_t e) const {
    const uint32_t len = which == 0 ? n : 1;
    const uint32_t b0 = dx_batched ? e / len : 0, b1 = dx_batched ? b0 + 1 : batches, r = e - b0 * len;
    float s = 0.f;
    for (uint32_t b = b0; b < b1; ++b) {
      if (which == 1) s += proj[b];
      else s += g.at(b, 0) / norm[b] * (dy[b * n + r] - proj[b] / norm[b] * w.at(b, r));
    }
    dx[e] += s;
  }
};

}  // namespace dg::kern

// Kernel bodies of the losses and norms (csrc/ops/softmax_loss.cc): hinge,
// hinge_dim, the pair losses (squared_distance, l1_distance, huber_distance,
// binary_log_loss), pairwise_rank_loss, squared_norm, l2_norm, poisson_loss.
// Sums per batch element are block-cooperative (one block per batch element
// or line); backward passes are element-wise over the argument, and an
// argument of batch 1 against a batched result adds the whole batch's
// gradient in its own thread (no two threads write one element).
#pragma once
#include "kernels/common.h"
#include "kernels/reduce_axis.h"

namespace dg::kern {

// Hinge along lines: hinge(x, v, m) = sum_{j != v} max(0, x_j - x_v + m) per
// line (hinge: the vector of each batch element; hinge_dim: columns for axis
// 0, rows for axis 1); the correct index of line l of batch element b is
// idx[l + b * idx_stride].
struct HingeLines {
  Lines L;
  const int32_t* idx;
  uint32_t lines, idx_stride;
  DG_HD uint32_t correct(uint32_t line) const {  // x's element holding the correct score of a line
    uint32_t b = line / lines, l = line - b * lines;
    return L.base(line) + static_cast<uint32_t>(idx[l + b * idx_stride]) * L.inner;
  }
};
struct HingeForward {
  const float* x;
  float* y;
  HingeLines H;
  float margin;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t base = H.L.base(blk.block), c = H.correct(blk.block);
    float s = 0.f;
    for (uint32_t k = blk.thread; k < H.L.n; k += blk.block_dim) {
      uint32_t e = base + k * H.L.inner;
      if (e != c) s += fmaxf(0.f, x[e] - x[c] + margin);
    }
    s = block_reduce(blk, s, SumOp{});
    if (blk.thread == 0) y[blk.block] = s;
  }
};

// Both hinges' backward, element-wise over x: an active wrong score gets +dy,
// the correct score -dy for each active wrong score of its line.
struct HingeBackward {
  const float* x;
  const float* dy;
  float* dx;
  HingeLines H;
  float margin;
  DG_HD void operator()(uint32_t e) const {
    const uint32_t line = line_of(H.L, e), c = H.correct(line);
    if (e != c) {
      if (x[e] - x[c] + margin > 0.f) dx[e] += dy[line];
      return;
    }
    const uint32_t base = H.L.base(line);
    uint32_t active = 0;
    for (uint32_t k = 0; k < H.L.n; ++k) {
      uint32_t f = base + k * H.L.inner;
      if (f != c && x[f] - x[c] + margin > 0.f) ++active;
    }
    dx[e] -= dy[line] * static_cast<float>(active);
  }
};

// The pair losses: per-element value and derivative with respect to a (which = 0) or c (which = 1).
enum class PairLoss : uint32_t { squared, l1, huber, binary_log };

DG_HD inline float sign_of(float v) { return v > 0.f ? 1.f : (v < 0.f ? -1.f : 0.f); }
DG_HD inline float clamp_tiny(float v) { return fmaxf(v, 1.17549435e-38f); }  // smallest normal float

DG_HD inline float pair_value(PairLoss k, float a, float c, float C) {
  const float d = a - c;
  switch (k) {
    case PairLoss::squared: return d * d;
    case PairLoss::l1: return fabsf(d);
    case PairLoss::huber: return fabsf(d) <= C ? 0.5f * d * d : C * fabsf(d) - 0.5f * C * C;
    default: return -(c * logf(clamp_tiny(a)) + (1.f - c) * logf(clamp_tiny(1.f - a)));
  }
}
DG_HD inline float pair_grad(PairLoss k, uint32_t which, float a, float c, float C) {
  const float d = which == 0 ? a - c : c - a;
  switch (k) {
    case PairLoss::squared: return 2.f * d;
    case PairLoss::l1: return sign_of(d);
    case PairLoss::huber: return fabsf(d) <= C ? d : C * sign_of(d);
    default:
      return which == 0 ? (1.f - c) / clamp_tiny(1.f - a) - c / clamp_tiny(a)
                        : logf(clamp_tiny(1.f - a)) - logf(clamp_tiny(a));
  }
}

// Two arguments with batch strides (0: batch 1, shared by the batch).
struct PairArgs {
  const float* a;
  const float* c;
  uint32_t sa, sc;
};

// y[b] = sum over the elements of batch element b of pair_value.
struct PairLossForward {
  PairArgs p;
  float* y;
  uint32_t bs;
  PairLoss kind;
  float C;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t b = blk.block;
    float s = 0.f;
    for (uint32_t r = blk.thread; r < bs; r += blk.block_dim)
      s += pair_value(kind, p.a[b * p.sa + r], p.c[b * p.sc + r], C);
    s = block_reduce(blk, s, SumOp{});
    if (blk.thread == 0) y[blk.block] = s;
  }
};

// dx (argument `which`) += dy[b] * pair_grad, summed over the batch for a batch-1 argument.
struct PairLossBackward {
  PairArgs p;
  const float* dy;
  float* dx;
  uint32_t bs, batches, which;
  bool dx_batched;
  PairLoss kind;
  float C;
  DG_HD void operator()(uint32_t e) const {
    const uint32_t b0 = dx_batched ? e / bs : 0, b1 = dx_batched ? b0 + 1 : batches, r = e - b0 * bs;
    float s = 0.f;
    for (uint32_t b = b0; b < b1; ++b) s += dy[b] * pair_grad(kind, which, p.a[b * p.sa + r], p.c[b * p.sc + r], C);
    dx[e] += s;
  }
};

// pairwise_rank_loss: y = max(0, m - a + c), element-wise.
struct RankForward {
  PairArgs p;
  float* y;
  uint32_t bs;
  float margin;
  DG_HD void operator()(uint32_t e) const {
    uint32_t b = e / bs, r = e - b * bs;
    y[e] = fmaxf(0.f, margin - p.a[b * p.sa + r] + p.c[b * p.sc + r]);
  }
};
// dx += sign * dy where y > 0 (sign -1 for a, +1 for c)
struct RankBackward {
  const float* y;
  const float* dy;
  float* dx;
  uint32_t bs, batches;
  bool dx_batched;
  float sign;
  DG_HD void operator()(uint32_t e) const {
    const uint32_t b0 = dx_batched ? e / bs : 0, b1 = dx_batched ? b0 + 1 : batches, r = e - b0 * bs;
    float s = 0.f;
    for (uint32_t b = b0; b < b1; ++b)
      if (y[b * bs + r] > 0.f) s += dy[b * bs + r];
    dx[e] += sign * s;
  }
};

// y[b] = sum of squares of batch element b; sqrt of it for l2_norm.
struct SquaredNormForward {
  const float* x;
  float* y;
  uint32_t bs;
  bool take_sqrt;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const float* xb = x + static_cast<size_t>(blk.block) * bs;
    float s = 0.f;
    for (uint32_t r = blk.thread; r < bs; r += blk.block_dim) s += xb[r] * xb[r];
    s = block_reduce(blk, s, SumOp{});
    if (blk.thread == 0) y[blk.block] = take_sqrt ? sqrtf(s) : s;
  }
};
// squared_norm: dx += 2 dy x; l2_norm: dx += dy x / y (nothing where y = 0).
struct NormBackward {
  const float* x;
  const float* y;
  const float* dy;
  float* dx;
  uint32_t bs;
  bool l2;
  DG_HD void operator()(uint32_t e) const {
    uint32_t b = e / bs;
    if (!l2) dx[e] += 2.f * dy[b] * x[e];
    else if (y[b] > 0.f) dx[e] += dy[b] / y[b] * x[e];
  }
};

// poisson_loss: y = exp(ll) - x ll + lgamma(x + 1), the constant computed on the host.
struct PoissonForward {
  const float* ll;
  float* y;
  float target, constant;
  DG_HD void operator()(uint32_t b) const { y[b] = expf(ll[b]) - target * ll[b] + constant; }
};
struct PoissonBackward {
  const float* ll;
  const float* dy;
  float* dx;
  float target;
  DG_HD void operator()(uint32_t b) const { dx[b] += dy[b] * (expf(ll[b]) - target); }
};

}  // namespace dg::kern

// Kernel bodies of softmax, log_softmax and pickneglogsoftmax
// (csrc/ops/softmax_loss.cc). Block-cooperative: one block per line (a
// column, or a line along the softmax axis); the block's threads stride
// over the line and combine partial maxima and sums with block_reduce.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// Lines of a tensor along one axis: element k of line l is at
// base(l) + k * inner, with lines enumerated over (inner, outer, batch).
struct Lines {
  uint32_t inner, n, outer;
  DG_HD uint32_t base(uint32_t l) const {
    uint32_t per_batch = inner * outer, b = l / per_batch, r = l - b * per_batch;
    uint32_t i = r % inner, o = r / inner;
    return b * inner * n * outer + i + inner * n * o;
  }
};

template <class Block>
DG_HD float line_max(Block& blk, const float* x, const Lines& L, uint32_t base) {
  float m = neg_inf();
  for (uint32_t k = blk.thread; k < L.n; k += blk.block_dim) m = fmaxf(m, x[base + k * L.inner]);
  return block_reduce(blk, m, MaxOp{});
}

// sum_k f(e_k) over the flat indices e_k of one line, combined over the block.
template <class Block, class F>
DG_HD float line_sum(Block& blk, const Lines& L, uint32_t base, F f) {
  float s = 0.f;
  for (uint32_t k = blk.thread; k < L.n; k += blk.block_dim) s += f(base + k * L.inner);
  return block_reduce(blk, s, SumOp{});
}

// log sum_k exp(x_k) over one line, stable; -inf for a line that is all -inf
// (exp(x - max) would be NaN there). Every thread of the block sees the same
// maximum, so they all return early together. softmax, log_softmax and
// pickneglogsoftmax of such a line are NaN either way (-inf - -inf).
template <class Block>
DG_HD float line_logsumexp(Block& blk, const float* x, const Lines& L, uint32_t base) {
  float m = line_max(blk, x, L, base);
  if (m == neg_inf()) return m;
  return m + logf(line_sum(blk, L, base, [&](uint32_t e) { return expf(x[e] - m); }));
}

struct SoftmaxForward {
  const float* x;
  float* y;
  Lines L;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t base = L.base(blk.block);
    float m = line_max(blk, x, L, base), s = 0.f;
    for (uint32_t k = blk.thread; k < L.n; k += blk.block_dim) {
      float e = expf(x[base + k * L.inner] - m);
      y[base + k * L.inner] = e;
      s += e;
    }
    s = block_reduce(blk, s, SumOp{});
    for (uint32_t k = blk.thread; k < L.n; k += blk.block_dim) y[base + k * L.inner] /= s;
  }
};

// dx += y * (dy - sum(dy * y))
struct SoftmaxBackward {
  const float* y;
  const float* dy;
  float* dx;
  Lines L;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t base = L.base(blk.block);
    const float s = line_sum(blk, L, base, [&](uint32_t e) { return dy[e] * y[e]; });
    for (uint32_t k = blk.thread; k < L.n; k += blk.block_dim) {
      uint32_t e = base + k * L.inner;
      dx[e] += y[e] * (dy[e] - s);
    }
  }
};

// y = x - logsumexp(x), per column.
struct LogSoftmaxForward {
  const float* x;
  float* y;
  Lines L;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t base = L.base(blk.block);
    float lz = line_logsumexp(blk, x, L, base);
    for (uint32_t k = blk.thread; k < L.n; k += blk.block_dim) y[base + k * L.inner] = x[base + k * L.inner] - lz;
  }
};

// dx += dy - exp(y) * sum(dy)
struct LogSoftmaxBackward {
  const float* y;
  const float* dy;
  float* dx;
  Lines L;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t base = L.base(blk.block);
    const float s = line_sum(blk, L, base, [&](uint32_t e) { return dy[e]; });
    for (uint32_t k = blk.thread; k < L.n; k += blk.block_dim) {
      uint32_t e = base + k * L.inner;
      dx[e] += dy[e] - expf(y[e]) * s;
    }
  }
};

// log_softmax with a restriction list: per batch element (a vector of `rows`),
// only the entries with allowed[j] != 0 take part; the others are -inf.
struct RestrictedLogSoftmaxForward {
  const float* x;
  const int32_t* allowed;
  float* y;
  uint32_t rows;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t base = blk.block * rows;
    float m = neg_inf();
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim)
      if (allowed[j]) m = fmaxf(m, x[base + j]);
    m = block_reduce(blk, m, MaxOp{});
    float s = 0.f;
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim)
      if (allowed[j]) s += expf(x[base + j] - m);
    const float lz = m + logf(block_reduce(blk, s, SumOp{}));
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim)
      y[base + j] = allowed[j] ? x[base + j] - lz : neg_inf();
  }
};

// dx += dy - exp(y) * sum(dy) over the allowed entries (those with y > -inf).
struct RestrictedLogSoftmaxBackward {
  const float* y;
  const float* dy;
  float* dx;
  uint32_t rows;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t base = blk.block * rows;
    float s = 0.f;
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim)
      if (y[base + j] != neg_inf()) s += dy[base + j];
    s = block_reduce(blk, s, SumOp{});
    for (uint32_t j = blk.thread; j < rows; j += blk.block_dim)
      if (y[base + j] != neg_inf()) dx[base + j] += dy[base + j] - expf(y[base + j]) * s;
  }
};

// y[b] = logsumexp(x[:, b]) - x[idx[b], b]; logz[b] kept for backward.
struct PickNegLogSoftmaxForward {
  const float* x;
  const int32_t* idx;
  float* y;
  float* logz;
  uint32_t rows;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t b = blk.block, base = b * rows;
    float lz = line_logsumexp(blk, x, Lines{1, rows, 1}, base);
    if (blk.thread == 0) {
      logz[b] = lz;
      y[b] = lz - x[base + idx[b]];
    }
  }
};

// dx[:, b] += dy[b] * (softmax(x[:, b]) - onehot(idx[b]))
struct PickNegLogSoftmaxBackward {
  const float* x;
  const int32_t* idx;
  const float* logz;
  const float* dy;
  float* dx;
  uint32_t rows;
  DG_HD void operator()(uint32_t e) const {
    uint32_t b = e / rows, r = e - b * rows;
    float g = dy[b] * expf(x[e] - logz[b]);
    if (static_cast<int32_t>(r) == idx[b]) g -= dy[b];
    dx[e] += g;
  }
};

}  // namespace dg::kern

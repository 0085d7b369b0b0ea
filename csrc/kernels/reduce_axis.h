// Kernel bodies of the reductions along axes (csrc/ops/reduce.cc: sum_dim,
// moment_dim, std_dim, max_dim, min_dim, cumsum, argmax) and of logsumexp and
// logsumexp_dim (csrc/ops/softmax_loss.cc). Forward reductions are
// block-cooperative, one block per result element; backward passes are
// element-wise over the argument, so no two threads add into one element.
#pragma once
#include "kernels/common.h"
#include "kernels/softmax_loss.h"

namespace dg::kern {

struct MinOp {
  DG_HD float operator()(float a, float b) const { return a < b ? a : b; }
};

// A set of reduced axes of x (bits of `mask`), optionally with the batch
// (all_batches: the result has one batch element). Result element o collects
// `count` elements of x; x_index(o, j) is the j-th of them, y_index(i) the
// result element that x's element i goes to.
struct AxisSet {
  uint32_t d[4];
  uint32_t mask, xbs, ybs, count;
  bool all_batches;
  DG_HD uint32_t x_index(uint32_t o, uint32_t j) const {
    uint32_t b = o / ybs, r = o - b * ybs, idx = 0, stride = 1;
    for (int a = 0; a < 4; ++a) {
      uint32_t c;
      if (mask >> a & 1u) {
        c = j % d[a];
        j /= d[a];
      } else {
        c = r % d[a];
        r /= d[a];
      }
      idx += c * stride;
      stride *= d[a];
    }
    if (all_batches) b = j;  // what is left of j counts the batch elements
    return idx + b * xbs;
  }
  DG_HD uint32_t y_index(uint32_t i) const {
    uint32_t b = i / xbs, r = i - b * xbs, o = 0, stride = 1;
    for (int a = 0; a < 4; ++a) {
      uint32_t c = r % d[a];
      r /= d[a];
      if (!(mask >> a & 1u)) {
        o += c * stride;
        stride *= d[a];
      }
    }
    return all_batches ? o : o + b * ybs;
  }
};

DG_HD inline float powi(float x, int r) {
  float p = 1.f;
  for (int k = 0; k < r; ++k) p *= x;
  return p;
}

// y[o] = scale * sum of x^r over the elements reduced into o (sum_dim: r = 1, scale = 1).
struct MomentForward {
  const float* x;
  float* y;
  AxisSet s;
  int r;
  float scale;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    float acc = 0.f;
    for (uint32_t j = blk.thread; j < s.count; j += blk.block_dim) acc += powi(x[s.x_index(blk.block, j)], r);
    acc = block_reduce(blk, acc, SumOp{});
    if (blk.thread == 0) y[blk.block] = scale * acc;
  }
};

// dx[i] += scale * r * dy[o] * x[i]^(r-1)
struct MomentBackward {
  const float* x;
  const float* dy;
  float* dx;
  AxisSet s;
  int r;
  float scale;
  DG_HD void operator()(uint32_t i) const { dx[i] += scale * r * dy[s.y_index(i)] * powi(x[i], r - 1); }
};

// y[o] = sqrt(mean of (x - mu)^2); mu[o] kept for backward.
struct StdForward {
  const float* x;
  float* y;
  float* mu;
  AxisSet s;
  float inv;  // 1 / count
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t o = blk.block;
    float acc = 0.f;
    for (uint32_t j = blk.thread; j < s.count; j += blk.block_dim) acc += x[s.x_index(o, j)];
    const float m = block_reduce(blk, acc, SumOp{}) * inv;
    acc = 0.f;
    for (uint32_t j = blk.thread; j < s.count; j += blk.block_dim) {
      float c = x[s.x_index(o, j)] - m;
      acc += c * c;
    }
    acc = block_reduce(blk, acc, SumOp{});
    if (blk.thread == 0) {
      mu[o] = m;
      y[o] = sqrtf(acc * inv);
    }
  }
};

// dx[i] += dy[o] * (x[i] - mu[o]) / (count * y[o]), nothing where y[o] = 0
struct StdBackward {
  const float* x;
  const float* y;
  const float* mu;
  const float* dy;
  float* dx;
  AxisSet s;
  float inv;
  DG_HD void operator()(uint32_t i) const {
    uint32_t o = s.y_index(i);
    if (y[o] > 0.f) dx[i] += dy[o] * inv * (x[i] - mu[o]) / y[o];
  }
};

// Line l (of Lines over x) for x's flat element e.
DG_HD inline uint32_t line_of(const Lines& L, uint32_t e) {
  uint32_t per = L.inner * L.n * L.outer, b = e / per, r = e - b * per;
  uint32_t i = r % L.inner, o = r / L.inner / L.n;
  return b * L.inner * L.outer + i + L.inner * o;
}

// y[l] = max (or min) of line l.
struct ExtremumForward {
  const float* x;
  float* y;
  Lines L;
  bool is_max;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t base = L.base(blk.block);
    float m = x[base];
    for (uint32_t k = blk.thread; k < L.n; k += blk.block_dim) {
      float v = x[base + k * L.inner];
      m = is_max ? fmaxf(m, v) : fminf(m, v);
    }
    m = is_max ? block_reduce(blk, m, MaxOp{}) : block_reduce(blk, m, MinOp{});
    if (blk.thread == 0) y[blk.block] = m;
  }
};

// The gradient of line l goes to its first element equal to the extremum (one thread per line).
struct ExtremumBackward {
  const float* x;
  const float* y;
  const float* dy;
  float* dx;
  Lines L;
  DG_HD void operator()(uint32_t l) const {
    const uint32_t base = L.base(l);
    uint32_t k = 0;
    while (k + 1 < L.n && x[base + k * L.inner] != y[l]) ++k;
    dx[base + k * L.inner] += dy[l];
  }
};

// Running sum along each line (one thread per line), and its reverse for backward.
struct CumsumForward {
  const float* x;
  float* y;
  Lines L;
  DG_HD void operator()(uint32_t l) const {
    const uint32_t base = L.base(l);
    float s = 0.f;
    for (uint32_t k = 0; k < L.n; ++k) y[base + k * L.inner] = s += x[base + k * L.inner];
  }
};
struct CumsumBackward {
  const float* dy;
  float* dx;
  Lines L;
  DG_HD void operator()(uint32_t l) const {
    const uint32_t base = L.base(l);
    float s = 0.f;
    for (uint32_t k = L.n; k-- > 0;) dx[base + k * L.inner] += s += dy[base + k * L.inner];
  }
};

// y[:, b] = one-hot of the first maximum of x[:, b] (one block per batch element).
struct ArgmaxForward {
  const float* x;
  float* y;
  uint32_t rows;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const uint32_t base = blk.block * rows;
    float m = neg_inf();
    for (uint32_t k = blk.thread; k < rows; k += blk.block_dim) m = fmaxf(m, x[base + k]);
    m = block_reduce(blk, m, MaxOp{});
    float first = static_cast<float>(rows);  // indices are exact in a float below 2^24
    for (uint32_t k = blk.thread; k < rows; k += blk.block_dim)
      if (x[base + k] == m) first = fminf(first, static_cast<float>(k));
    first = block_reduce(blk, first, MinOp{});
    for (uint32_t k = blk.thread; k < rows; k += blk.block_dim)
      y[base + k] = static_cast<float>(k) == first ? 1.f : 0.f;
  }
};

// The arguments of an n-ary op as kernels see them: a device array of n
// pointers and, for each, its batch stride (0 for a batch-1 argument, which
// every batch element of the result reads).
struct BatchedArgs {
  const float* const* ptr;
  const uint32_t* stride;
  uint32_t n;
};

// y = log sum_k exp(x_k), element-wise over the arguments.
struct LogSumExpForward {
  BatchedArgs xs;
  float* y;
  uint32_t bs;  // elements per batch element
  DG_HD void operator()(uint32_t e) const {
    uint32_t b = e / bs, r = e - b * bs;
    float m = neg_inf();
    for (uint32_t k = 0; k < xs.n; ++k) m = fmaxf(m, xs.ptr[k][b * xs.stride[k] + r]);
    if (m == neg_inf()) {
      y[e] = m;
      return;
    }
    float s = 0.f;
    for (uint32_t k = 0; k < xs.n; ++k) s += expf(xs.ptr[k][b * xs.stride[k] + r] - m);
    y[e] = m + logf(s);
  }
};

// dx += dy * exp(x - y); a batch-1 x (batches > 1 while x has one) sums over the batch.
struct LogSumExpBackward {
  const float* x;
  const float* y;
  const float* dy;
  float* dx;
  uint32_t bs, batches;
  bool x_batched;
  DG_HD void operator()(uint32_t e) const {
    if (x_batched) {
      dx[e] += dy[e] * expf(x[e] - y[e]);
      return;
    }
    float s = 0.f;
    for (uint32_t b = 0; b < batches; ++b) s += dy[b * bs + e] * expf(x[e] - y[b * bs + e]);
    dx[e] += s;
  }
};

// y[l] = logsumexp of line l (-inf for a line of -inf).
struct LogSumExpDimForward {
  const float* x;
  float* y;
  Lines L;
  template <class Block>
  DG_HD void operator()(Block& blk) const {
    const float lz = line_logsumexp(blk, x, L, L.base(blk.block));
    if (blk.thread == 0) y[blk.block] = lz;
  }
};

// dx[e] += dy[l] * exp(x[e] - y[l])
struct LogSumExpDimBackward {
  const float* x;
  const float* y;
  const float* dy;
  float* dx;
  Lines L;
  DG_HD void operator()(uint32_t e) const {
    uint32_t l = line_of(L, e);
    dx[e] += dy[l] * expf(x[e] - y[l]);
  }
};

}  // namespace dg::kern

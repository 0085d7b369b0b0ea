// Kernel bodies of the sequence ops (csrc/ops/conv1d.cc): filter1d_narrow,
// kmax_pooling, fold_rows, kmh_ngram, circ_conv and circ_corr. One thread per
// element of the output (forward) or of the gradient (backward), which
// gathers what reaches it, so backward needs no atomics; an argument of batch
// 1 broadcast over a batched result gathers over the whole batch.
#pragma once
#include "kernels/common.h"
#include "kernels/reduce_axis.h"  // Lines, line_of

namespace dg::kern {

// filter1d_narrow: x (d, n), f (d, w, m), y (m, n-w+1). Window j of x (its
// columns j..j+w-1) is the d*w floats from x + d*j, so y[k, j] is the dot
// product of that run with filter k. *_stride: 0 for an argument of batch 1.
struct Filter1dGeom {
  uint32_t d, n, w, m;
  DG_HD uint32_t out_cols() const { return n - w + 1; }
};
struct Filter1dForward {
  const float* x;
  const float* f;
  float* y;
  Filter1dGeom g;
  uint32_t x_stride, f_stride;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t ys = g.m * g.out_cols(), b = t / ys, r = t - b * ys, k = r % g.m, j = r / g.m;
    const float* win = x + b * x_stride + g.d * j;
    const float* fk = f + b * f_stride + g.d * g.w * k;
    float s = 0.f;
    for (uint32_t e = 0; e < g.d * g.w; ++e) s += win[e] * fk[e];
    y[t] = s;
  }
};
// df[e, k] += sum_j window_j[e] dy[k, j]  (e: the d*w index inside a window)
struct Filter1dBackwardF {
  const float* x;
  const float* dy;
  float* df;
  Filter1dGeom g;
  uint32_t x_stride, df_batches, y_batches;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t dw = g.d * g.w, fs = dw * g.m, fb = t / fs, r = t - fb * fs, e = r % dw, k = r / dw;
    const uint32_t oc = g.out_cols();
    const BatchRange br = grad_batches(fb, df_batches, y_batches);
    float acc = 0.f;
    for (uint32_t b = br.lo; b < br.hi; ++b)
      for (uint32_t j = 0; j < oc; ++j) acc += x[b * x_stride + g.d * j + e] * dy[b * g.m * oc + k + g.m * j];
    df[t] += acc;
  }
};
// dx[r, c] += sum over the windows j = c - s (s < w) that hold it and the filters k of f[r, s, k] dy[k, j]
struct Filter1dBackwardX {
  const float* f;
  const float* dy;
  float* dx;
  Filter1dGeom g;
  uint32_t f_stride, dx_batches, y_batches;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t xs = g.d * g.n, xb = t / xs, r = t - xb * xs, row = r % g.d, c = r / g.d;
    const uint32_t oc = g.out_cols();
    const BatchRange br = grad_batches(xb, dx_batches, y_batches);
    float acc = 0.f;
    for (uint32_t b = br.lo; b < br.hi; ++b)
      for (uint32_t s = 0; s < g.w && s <= c; ++s) {
        const uint32_t j = c - s;
        if (j >= oc) continue;
        for (uint32_t k = 0; k < g.m; ++k)
          acc += f[b * f_stride + row + g.d * (s + g.w * k)] * dy[b * g.m * oc + k + g.m * j];
      }
    dx[t] += acc;
  }
};

// kmax_pooling: one thread per line of x (kern::Lines, as softmax's) keeps the
// k largest entries in their original order (largest first, the earlier of
// equal values) in the same line of y (whose axis has length k), and their
// positions along the axis for backward. Quadratic in the axis length: the
// lines are short (sentence lengths) and need no sort on a device.
struct KMaxForward {
  const float* x;
  float* y;
  int32_t* pos;
  Lines L;
  uint32_t k;
  DG_HD void operator()(uint32_t l) const {
    const float* line = x + L.base(l);
    const uint32_t y0 = Lines{L.inner, k, L.outer}.base(l);
    uint32_t slot = 0;
    for (uint32_t t = 0; t < L.n && slot < k; ++t) {
      const float v = line[t * L.inner];
      uint32_t rank = 0;
      for (uint32_t u = 0; u < L.n && rank < k; ++u) {
        const float w = line[u * L.inner];
        rank += (w > v || (w == v && u < t)) ? 1u : 0u;
      }
      if (rank < k) {
        y[y0 + L.inner * slot] = v;
        pos[y0 + L.inner * slot] = static_cast<int32_t>(t);
        ++slot;
      }
    }
  }
};
// dx[chosen position] += dy: the positions of a line are distinct, so one thread per y element.
struct KMaxBackward {
  const float* dy;
  const int32_t* pos;
  float* dx;
  Lines L;  // x's
  uint32_t k;
  DG_HD void operator()(uint32_t t) const {
    dx[L.base(line_of(Lines{L.inner, k, L.outer}, t)) + L.inner * pos[t]] += dy[t];
  }
};

// fold_rows: y[t] sums the k consecutive rows k*t .. k*t+k-1 of x (every column of x is k times a column of y).
struct FoldRowsForward {
  const float* x;
  float* y;
  uint32_t k;
  DG_HD void operator()(uint32_t t) const {
    float s = 0.f;
    for (uint32_t i = 0; i < k; ++i) s += x[static_cast<size_t>(t) * k + i];
    y[t] = s;
  }
};
struct FoldRowsBackward {
  const float* dy;
  float* dx;
  uint32_t k;
  DG_HD void operator()(uint32_t t) const { dx[t] += dy[t / k]; }
};

// kmh_ngram: x (d, n), y (d, n-m+1), y[:, j] = x[:, j] + ... + x[:, j+m-1].
struct NgramForward {
  const float* x;
  float* y;
  uint32_t d, n, m;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t oc = n - m + 1, ys = d * oc, b = t / ys, r = t - b * ys;
    const float* col = x + static_cast<size_t>(b) * d * n + r;  // row r % d of column r / d
    float s = 0.f;
    for (uint32_t c = 0; c < m; ++c) s += col[d * c];
    y[t] = s;
  }
};
struct NgramBackward {
  const float* dy;
  float* dx;
  uint32_t d, n, m;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t oc = n - m + 1, xs = d * n, b = t / xs, r = t - b * xs, row = r % d, c = r / d;
    float acc = 0.f;
    for (uint32_t s = 0; s < m && s <= c; ++s)
      if (c - s < oc) acc += dy[static_cast<size_t>(b) * d * oc + row + d * (c - s)];
    dx[t] += acc;
  }
};

// circ_conv (Conv = true): y_k = sum_i u_i v_{(k-i) mod n}; circ_corr: y_k = sum_i u_i v_{(i+k) mod n}.
template <bool Conv>
struct Circular {
  uint32_t n;
  DG_HD uint32_t v_index(uint32_t k, uint32_t i) const { return Conv ? (k + n - i) % n : (i + k) % n; }
  DG_HD uint32_t u_index(uint32_t k, uint32_t j) const { return Conv ? (k + n - j) % n : (j + n - k) % n; }
};
template <bool Conv>
struct CircForward {
  const float* u;
  const float* v;
  float* y;
  Circular<Conv> c;
  uint32_t u_stride, v_stride;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t b = t / c.n, k = t - b * c.n;
    const float *ub = u + b * u_stride, *vb = v + b * v_stride;
    float s = 0.f;
    for (uint32_t i = 0; i < c.n; ++i) s += ub[i] * vb[c.v_index(k, i)];
    y[t] = s;
  }
};
// Arg 0: du_i += sum_k dy_k v_{j(k, i)};  Arg 1: dv_j += sum_k dy_k u_{i(k, j)}.
template <bool Conv, int Arg>
struct CircBackward {
  const float* other;  // v for Arg 0, u for Arg 1
  const float* dy;
  float* dx;
  Circular<Conv> c;
  uint32_t other_stride, dx_batches, y_batches;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t xb = t / c.n, e = t - xb * c.n;
    const BatchRange br = grad_batches(xb, dx_batches, y_batches);
    float acc = 0.f;
    for (uint32_t b = br.lo; b < br.hi; ++b)
      for (uint32_t k = 0; k < c.n; ++k)
        acc += dy[b * c.n + k] * other[b * other_stride + (Arg == 0 ? c.v_index(k, e) : c.u_index(k, e))];
    dx[t] += acc;
  }
};

}  // namespace dg::kern

// Kernel bodies of conv2d and maxpooling2d (csrc/ops/conv.cc) and the
// geometry both devices share. Feature maps are (H, W, C) column-major with
// the batch outermost; filters (fh, fw, C, Co).
//
// On a device a convolution is im2col (one thread per element of the P x K
// receptive-field matrix of every batch element) + one strided-batched GEMM,
// as on the CPU; backward is dcols = dY F^T (GEMM) gathered back into dx
// (col2im, one thread per element of dx: no atomics) and dF += cols^T dY.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// One window sweep: input H x W x C, window kh x kw, strides sh, sw, output
// YH x YW, padding pt (top) / pl (left) under TensorFlow's VALID / SAME rule.
struct ConvGeom {
  uint32_t H, W, C, kh, kw, sh, sw, YH, YW, pt, pl;
  DG_HD uint32_t P() const { return YH * YW; }
  DG_HD uint32_t K() const { return kh * kw * C; }
  DG_HD uint32_t in_size() const { return H * W * C; }
};

// (output length, low padding) of one axis; VALID needs k <= in (callers check).
inline void conv_axis(uint32_t in, uint32_t k, uint32_t stride, bool valid, uint32_t& out, uint32_t& pad_lo) {
  pad_lo = 0;
  if (valid) {
    out = (in - k + 1 + stride - 1) / stride;
    return;
  }
  out = (in + stride - 1) / stride;
  const long pad = static_cast<long>(out - 1) * stride + k - in;
  pad_lo = pad > 0 ? static_cast<uint32_t>(pad / 2) : 0;
}

inline ConvGeom conv_geom(uint32_t H, uint32_t W, uint32_t C, uint32_t kh, uint32_t kw, uint32_t sh, uint32_t sw,
                          bool valid) {
  ConvGeom g{H, W, C, kh, kw, sh, sw, 0, 0, 0, 0};
  conv_axis(H, kh, sh, valid, g.YH, g.pt);
  conv_axis(W, kw, sw, valid, g.YW, g.pl);
  return g;
}

// cols[b] (P x K, column-major): column (i, j, c) holds input pixel
// (p*sh + i - pt, q*sw + j - pl, c) for output position (p, q), 0 in the padding.
// x_stride is 0 when x has batch 1 (a batched filter broadcasts it).
struct Im2Col {
  const float* x;
  float* cols;
  ConvGeom g;
  uint32_t x_stride;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t P = g.P(), PK = P * g.K(), b = t / PK, r = t - b * PK;
    const uint32_t col = r / P, pos = r - col * P;
    const uint32_t p = pos % g.YH, q = pos / g.YH;
    const uint32_t i = col % g.kh, j = (col / g.kh) % g.kw, c = col / (g.kh * g.kw);
    const long h = static_cast<long>(p) * g.sh + i - g.pt, w = static_cast<long>(q) * g.sw + j - g.pl;
    const bool inside = h >= 0 && h < static_cast<long>(g.H) && w >= 0 && w < static_cast<long>(g.W);
    cols[t] = inside ? x[b * x_stride + h + static_cast<long>(g.H) * (w + static_cast<long>(g.W) * c)] : 0.f;
  }
};

// dx += col2im(dcols): each element of dx gathers the cells of dcols that
// im2col copied it to, over the batch elements it reached.
struct Col2ImAdd {
  const float* dcols;
  float* dx;
  ConvGeom g;
  uint32_t dx_batches, y_batches;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t xs = g.in_size(), xb = t / xs, r = t - xb * xs;
    const uint32_t h = r % g.H, w = (r / g.H) % g.W, c = r / (g.H * g.W);
    const uint32_t P = g.P(), PK = P * g.K();
    const BatchRange br = grad_batches(xb, dx_batches, y_batches);
    float acc = 0.f;
    for (uint32_t b = br.lo; b < br.hi; ++b)
      for (uint32_t j = 0; j < g.kw; ++j) {
        const long wq = static_cast<long>(w) + g.pl - j;  // = q * sw
        if (wq < 0 || wq % g.sw != 0 || wq / g.sw >= static_cast<long>(g.YW)) continue;
        const uint32_t q = static_cast<uint32_t>(wq / g.sw);
        for (uint32_t i = 0; i < g.kh; ++i) {
          const long hp = static_cast<long>(h) + g.pt - i;  // = p * sh
          if (hp < 0 || hp % g.sh != 0 || hp / g.sh >= static_cast<long>(g.YH)) continue;
          const uint32_t p = static_cast<uint32_t>(hp / g.sh);
          acc += dcols[b * PK + p + g.YH * q + P * (i + g.kh * (j + g.kw * c))];
        }
      }
    dx[t] += acc;
  }
};

// maxpooling2d: y[t] is the maximum of output t's window; at[t] its position
// in the batch element (the first maximum in column-major window order, as
// the CPU's backward finds it), or -1 for a window with no element.
struct MaxPoolForward {
  const float* x;
  float* y;
  int32_t* at;
  ConvGeom g;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t ys = g.P() * g.C, b = t / ys, r = t - b * ys;
    const uint32_t p = r % g.YH, q = (r / g.YH) % g.YW, c = r / g.P();
    const float* xb = x + static_cast<size_t>(b) * g.in_size();
    float best = neg_inf();
    int32_t arg = -1;
    for (uint32_t j = 0; j < g.kw; ++j) {
      const long w = static_cast<long>(q) * g.sw + j - g.pl;
      if (w < 0 || w >= static_cast<long>(g.W)) continue;
      for (uint32_t i = 0; i < g.kh; ++i) {
        const long h = static_cast<long>(p) * g.sh + i - g.pt;
        if (h < 0 || h >= static_cast<long>(g.H)) continue;
        const int32_t k = static_cast<int32_t>(h + static_cast<long>(g.H) * (w + static_cast<long>(g.W) * c));
        if (xb[k] > best || (arg < 0 && xb[k] == best)) {
          best = xb[k];
          arg = k;
        }
      }
    }
    y[t] = best;
    at[t] = arg;
  }
};
// dx[at[t]] += dy[t]: overlapping windows may route to the same element.
struct MaxPoolBackward {
  const float* dy;
  const int32_t* at;
  float* dx;
  uint32_t y_size, x_size;  // per batch element
  DG_HD void operator()(uint32_t t) const {
    if (at[t] >= 0) atomic_add(dx + static_cast<size_t>(t / y_size) * x_size + at[t], dy[t]);
  }
};

}  // namespace dg::kern

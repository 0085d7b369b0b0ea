// 2-D convolution and max pooling in DyNet's layout: feature maps are
// (H, W, C) column-major with the batch outermost; filters are (fh, fw, C, Co).
// Convolution is TensorFlow-style cross-correlation with VALID or SAME padding.
//
// On the CPU a convolution is im2col + GEMM: each batch element's receptive
// fields are unrolled into a P x K matrix (P = output positions, K = fh*fw*C,
// column-major so that column k = (i, j, c) holds input pixel (p*sh+i, q*sw+j, c)
// for every output position), and the output (P x Co, which is exactly the
// (YH, YW, Co) layout) is that matrix times the filters seen as K x Co.
// Backward is two GEMMs: dF += cols^T dY, and dcols = dY F^T scattered back
// into dx (col2im).
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/conv.h"
#include "ops/common.h"

namespace dg {
namespace {

// The window geometry (output size, SAME padding) is shared with the device kernels.
using Geom = kern::ConvGeom;
Geom make_geom(const Dim& x, unsigned kh, unsigned kw, unsigned sh, unsigned sw, bool valid) {
  return kern::conv_geom(x[0], x[1], x[2], kh, kw, sh, sw, valid);
}

// Output rows p in [lo, hi) read input row p*s + i - pad inside [0, n).
inline void valid_range(unsigned n, unsigned out, unsigned s, unsigned i, unsigned pad, unsigned& lo,
                        unsigned& hi) {
  lo = i >= pad ? 0 : (pad - i + s - 1) / s;
  long top = static_cast<long>(n) + pad - i;  // p*s < top
  unsigned h = top <= 0 ? 0 : static_cast<unsigned>((top + s - 1) / s);
  hi = std::min(out, h);
  if (lo > hi) lo = hi;
}

// cols (P x K, column-major) from one batch element x (H, W, C).
void im2col(const Geom& g, const float* x, float* cols) {
  const unsigned P = g.P();
  for (unsigned c = 0; c < g.C; ++c)
    for (unsigned j = 0; j < g.kw; ++j)
      for (unsigned i = 0; i < g.kh; ++i) {
        float* col = cols + size_t(P) * (i + g.kh * (j + g.kw * c));
        unsigned lo, hi;
        valid_range(g.H, g.YH, g.sh, i, g.pt, lo, hi);
        for (unsigned q = 0; q < g.YW; ++q) {
          float* out = col + size_t(q) * g.YH;
          long w = static_cast<long>(q) * g.sw + j - g.pl;
          if (w < 0 || w >= static_cast<long>(g.W) || lo == hi) {
            std::fill(out, out + g.YH, 0.f);
            continue;
          }
          const float* xc = x + size_t(g.H) * (w + size_t(g.W) * c) + (static_cast<long>(lo) * g.sh + i - g.pt);
          std::fill(out, out + lo, 0.f);
          if (g.sh == 1) {
            std::memcpy(out + lo, xc, sizeof(float) * (hi - lo));
          } else {
            for (unsigned p = lo; p < hi; ++p) out[p] = xc[size_t(p - lo) * g.sh];
          }
          std::fill(out + hi, out + g.YH, 0.f);
        }
      }
}

// dx += col2im(dcols): the adjoint of im2col.
void col2im_add(const Geom& g, const float* cols, float* dx) {
  const unsigned P = g.P();
  for (unsigned c = 0; c < g.C; ++c)
    for (unsigned j = 0; j < g.kw; ++j)
      for (unsigned i = 0; i < g.kh; ++i) {
        const float* col = cols + size_t(P) * (i + g.kh * (j + g.kw * c));
        unsigned lo, hi;
        valid_range(g.H, g.YH, g.sh, i, g.pt, lo, hi);
        if (lo == hi) continue;
        for (unsigned q = 0; q < g.YW; ++q) {
          long w = static_cast<long>(q) * g.sw + j - g.pl;
          if (w < 0 || w >= static_cast<long>(g.W)) continue;
          const float* in = col + size_t(q) * g.YH;
          float* xc = dx + size_t(g.H) * (w + size_t(g.W) * c) + (static_cast<long>(lo) * g.sh + i - g.pt);
          if (g.sh == 1) {
            VecMap(xc, hi - lo) += VecMap(const_cast<float*>(in + lo), hi - lo);
          } else {
            for (unsigned p = lo; p < hi; ++p) xc[size_t(p - lo) * g.sh] += in[p];
          }
        }
      }
}

thread_local std::vector<float> cols_buf, dcols_buf;

// ---- conv2d(x, f[, b]); i0, i1 = strides; f0 = 1 for VALID, 0 for SAME.
Dim conv_dim(const OpContext&, const Node& n, const Dim* xs) {
  const char* op = n.nargs == 3 ? "conv2d_bias" : "conv2d";
  const Dim &x = xs[0], &f = xs[1];
  if (x.nd < 2 || x.nd > 3) shape_error(op, "input must be (H, W, C_in) feature maps", xs, n.nargs);
  if (f.nd < 2 || f.nd > 4) shape_error(op, "filter must be (fh, fw, C_in, C_out)", xs, n.nargs);
  if (f[2] != x[2]) shape_error(op, "input channels of x and filter differ", xs, n.nargs);
  if (n.i0 < 1 || n.i1 < 1)
    shape_error(op, "strides must be >= 1, got [" + std::to_string(n.i0) + ", " + std::to_string(n.i1) + "]", xs,
                n.nargs);
  bool valid = n.f0 != 0.f;
  if (valid && (f[0] > x[0] || f[1] > x[1]))
    shape_error(op, "VALID convolution needs a filter no larger than the feature map", xs, n.nargs);
  if (n.nargs == 3 && (xs[2].batch_size() != f[3] || xs[2].rows() != f[3]))
    shape_error(op, "bias must be a vector of C_out elements", xs, n.nargs);
  Geom g = make_geom(x, f[0], f[1], n.i0, n.i1, valid);
  return Dim({g.YH, g.YW, f[3]}, joint_batch(op, xs, n.nargs));
}

void conv_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const Tensor &x = xs[0], &f = xs[1];
  Geom g = make_geom(x.d, f.d[0], f.d[1], n.i0, n.i1, n.f0 != 0.f);
  const unsigned P = g.P(), K = g.K(), Co = f.d[3];
  cols_buf.resize(size_t(P) * K);
  MatMap cols(cols_buf.data(), P, K);
  for (unsigned b = 0; b < y.d.bd; ++b) {
    im2col(g, x.batch_ptr(b), cols_buf.data());
    MatMap yb(y.v + size_t(b) * P * Co, P, Co);
    gemm(yb.data(), cols.data(), false, f.batch_ptr(b), false, P, Co, K, 0.f);
    if (n.nargs == 3) yb.rowwise() += VecMap(xs[2].batch_ptr(b), Co).transpose();
  }
}

void conv_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
              Tensor& dx) {
  const Tensor &x = xs[0], &f = xs[1];
  Geom g = make_geom(x.d, f.d[0], f.d[1], n.i0, n.i1, n.f0 != 0.f);
  const unsigned P = g.P(), K = g.K(), Co = f.d[3];
  for (unsigned b = 0; b < y.d.bd; ++b) {
    MatMap dyb(dy.v + size_t(b) * P * Co, P, Co);
    if (i == 0) {  // dx += col2im(dY F^T)
      dcols_buf.resize(size_t(P) * K);
      MatMap dcols(dcols_buf.data(), P, K);
      gemm(dcols.data(), dyb.data(), false, f.batch_ptr(b), true, P, K, Co, 0.f);
      col2im_add(g, dcols_buf.data(), dx.batch_ptr(b));
    } else if (i == 1) {  // dF += cols^T dY
      cols_buf.resize(size_t(P) * K);
      im2col(g, x.batch_ptr(b), cols_buf.data());
      gemm(dx.batch_ptr(b), cols_buf.data(), true, dyb.data(), false, K, Co, P);
    } else {  // db += column sums of dY
      VecMap(dx.batch_ptr(b), Co) += dyb.colwise().sum().transpose();
    }
  }
}

// ---- maxpooling2d(x, ksize, stride): i0 = kh | kw << 16, i1 = sh | sw << 16, f0 = VALID.
// Forward keeps only the maxima (a tight max loop); backward finds each window's
// first maximum again (in column-major window order) and routes the gradient there.
inline unsigned lo16(int v) { return static_cast<unsigned>(v) & 0xFFFFu; }
inline unsigned hi16(int v) { return static_cast<unsigned>(v) >> 16; }

Geom pool_geom(const Dim& x, const Node& n) {
  return make_geom(x, lo16(n.i0), hi16(n.i0), lo16(n.i1), hi16(n.i1), n.f0 != 0.f);
}

Dim pool_dim(const OpContext&, const Node& n, const Dim* xs) {
  const Dim& x = xs[0];
  if (x.nd < 2 || x.nd > 3) shape_error("maxpooling2d", "input must be (H, W, C) feature maps", xs, 1);
  unsigned kh = lo16(n.i0), kw = hi16(n.i0), sh = lo16(n.i1), sw = hi16(n.i1);
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1)
    shape_error("maxpooling2d", "window sizes and strides must be >= 1", xs, 1);
  if (n.f0 != 0.f && (kh > x[0] || kw > x[1]))
    shape_error("maxpooling2d", "VALID pooling needs a window no larger than the feature map (window " +
                                    std::to_string(kh) + "x" + std::to_string(kw) + ")", xs, 1);
  Geom g = pool_geom(x, n);
  return Dim({g.YH, g.YW, g.C}, x.bd);
}

// For each window row i, the output rows [lo[i], hi[i]) whose window row i lies inside the map.
struct PoolRows {
  std::vector<unsigned> lo, hi;
  explicit PoolRows(const Geom& g) : lo(g.kh), hi(g.kh) {
    for (unsigned i = 0; i < g.kh; ++i) valid_range(g.H, g.YH, g.sh, i, g.pt, lo[i], hi[i]);
  }
};
// The input columns [w_lo, w_hi) of output column q's windows.
inline void window_cols(const Geom& g, unsigned q, long& w_lo, long& w_hi) {
  long w0 = static_cast<long>(q) * g.sw - g.pl;
  w_lo = std::max(0L, w0);
  w_hi = std::min<long>(g.W, w0 + g.kw);
}

void pool_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  Geom g = pool_geom(xs[0].d, n);
  PoolRows rows(g);
  const unsigned xsz = xs[0].d.batch_size(), ysz = y.d.batch_size();
  const float kNegInf = -std::numeric_limits<float>::infinity();
  for (unsigned b = 0; b < y.d.bd; ++b)
    for (unsigned c = 0; c < g.C; ++c)
      for (unsigned q = 0; q < g.YW; ++q) {
        float* __restrict best = y.v + size_t(b) * ysz + size_t(g.YH) * (q + size_t(g.YW) * c);
        std::fill(best, best + g.YH, kNegInf);
        long w_lo, w_hi;
        window_cols(g, q, w_lo, w_hi);
        for (long w = w_lo; w < w_hi; ++w) {
          const float* __restrict col = xs[0].v + size_t(b) * xsz + g.H * (w + static_cast<long>(g.W) * c);
          for (unsigned i = 0; i < g.kh; ++i) {
            const float* __restrict src = col + (static_cast<long>(rows.lo[i]) * g.sh + i - g.pt);
            const unsigned lo = rows.lo[i], m = rows.hi[i] - lo, s = g.sh;
            float* __restrict dst = best + lo;
            if (s == 1) {
              for (unsigned p = 0; p < m; ++p) dst[p] = std::max(dst[p], src[p]);
            } else {
              for (unsigned p = 0; p < m; ++p) dst[p] = std::max(dst[p], src[size_t(p) * s]);
            }
          }
        }
      }
}

// The first maximum of each window is found branch-free: the window is scanned
// backwards and every element equal to the maximum overwrites the position.
void pool_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
              Tensor& dx) {
  Geom g = pool_geom(xs[0].d, n);
  PoolRows rows(g);
  const unsigned xsz = xs[0].d.batch_size(), ysz = y.d.batch_size();
  thread_local std::vector<int32_t> at_buf;
  at_buf.resize(g.YH);
  int32_t* __restrict at = at_buf.data();
  for (unsigned b = 0; b < y.d.bd; ++b)
    for (unsigned c = 0; c < g.C; ++c)
      for (unsigned q = 0; q < g.YW; ++q) {
        const size_t o = size_t(b) * ysz + size_t(g.YH) * (q + size_t(g.YW) * c);
        const float* __restrict m = y.v + o;
        std::fill(at, at + g.YH, -1);
        long w_lo, w_hi;
        window_cols(g, q, w_lo, w_hi);
        const float* x = xs[0].v + size_t(b) * xsz;
        for (long w = w_hi - 1; w >= w_lo; --w) {
          const long col = g.H * (w + static_cast<long>(g.W) * c);
          for (unsigned i = g.kh; i-- > 0;) {
            const unsigned lo = rows.lo[i], s = g.sh;
            const int32_t h0 = static_cast<int32_t>(col + static_cast<long>(lo) * s + i - g.pt);
            const float* __restrict src = x + h0;
            for (unsigned p = lo; p < rows.hi[i]; ++p) {
              const int32_t k = static_cast<int32_t>((p - lo) * s);
              const int32_t hit = -static_cast<int32_t>(src[k] == m[p]);  // all ones on a match
              at[p] = (at[p] & ~hit) | ((h0 + k) & hit);
            }
          }
        }
        float* d = dx.v + size_t(b) * xsz;
        const float* g_out = dy.v + o;
        for (unsigned p = 0; p < g.YH; ++p)
          if (at[p] >= 0) d[at[p]] += g_out[p];
      }
}

}  // namespace

DG_DEFINE_OP(conv2d, conv_dim, conv_fwd, conv_bwd)
DG_DEFINE_OP(conv2d_bias, conv_dim, conv_fwd, conv_bwd)
DG_DEFINE_OP(maxpooling2d, pool_dim, pool_fwd, pool_bwd)

}  // namespace dg

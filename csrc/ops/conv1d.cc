// Sequence (1-D) convolutions and poolings over the columns of a matrix, as in
// DyNet's sentence-CNN ops: filter1d_narrow, kmax_pooling, fold_rows,
// kmh_ngram, and circular convolution / correlation of vectors.
//
// A (d, n) matrix is column-major, so its columns j..j+w-1 are one contiguous
// run of d*w floats: "every window of w columns" is a d*w x (n-w+1) matrix with
// outer stride d (overlapping columns), and narrow filtering is one GEMM.
#include <algorithm>
#include <numeric>
#include <vector>

#include "ops/axis.h"

namespace dg {
namespace {

using Windows = Eigen::Map<Eigen::MatrixXf, Eigen::Unaligned, Eigen::OuterStride<>>;

// Every window of w consecutive columns of a (d, n) matrix, one per column.
Windows windows(const float* x, unsigned d, unsigned n, unsigned w) {
  return Windows(const_cast<float*>(x), d * w, n - w + 1, Eigen::OuterStride<>(d));
}

// ---- filter1d_narrow(x (d, n), f (d, w[, m])): y[k, j] = sum(x[:, j:j+w] .* f[:, :, k]), shape (m, n-w+1)
Dim filter1d_dim(const OpContext&, const Node&, const Dim* xs) {
  const Dim &x = xs[0], &f = xs[1];
  if (x.nd > 2 || f.nd > 3) shape_error("filter1d_narrow", "x must be a (d, n) matrix and f a (d, w, m) filter", xs, 2);
  if (x.rows() != f.rows()) shape_error("filter1d_narrow", "x and f must have the same number of rows", xs, 2);
  if (f[1] > x.cols()) shape_error("filter1d_narrow", "filter is wider than the input", xs, 2);
  return Dim({f[2], x.cols() - f[1] + 1}, joint_batch("filter1d_narrow", xs, 2));
}
void filter1d_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned d = xs[0].d.rows(), n = xs[0].d.cols(), w = xs[1].d[1], m = xs[1].d[2];
  for (unsigned b = 0; b < y.d.bd; ++b)
    y.mat(b).noalias() = MatMap(xs[1].batch_ptr(b), d * w, m).transpose() * windows(xs[0].batch_ptr(b), d, n, w);
}
void filter1d_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                  Tensor& dx) {
  const unsigned d = xs[0].d.rows(), n = xs[0].d.cols(), w = xs[1].d[1], m = xs[1].d[2];
  Eigen::MatrixXf dwin;
  for (unsigned b = 0; b < y.d.bd; ++b) {
    if (i == 1) {
      MatMap(dx.batch_ptr(b), d * w, m).noalias() += windows(xs[0].batch_ptr(b), d, n, w) * dy.mat(b).transpose();
      continue;
    }
    dwin.noalias() = MatMap(xs[1].batch_ptr(b), d * w, m) * dy.mat(b);  // (d*w) x (n-w+1)
    float* out = dx.batch_ptr(b);
    for (unsigned j = 0; j < dwin.cols(); ++j) VecMap(out + size_t(j) * d, d * w) += dwin.col(j);
  }
}

// ---- kmax_pooling(x, k, d): the k largest entries along axis d, in their original order.
// The chosen positions (along the axis) are kept for backward.
Dim kmax_dim(const OpContext&, const Node& n, const Dim* xs) {
  check_axis("kmax_pooling", n.i1, xs, 1);
  if (n.i0 < 1 || static_cast<unsigned>(n.i0) > xs[0][n.i1])
    shape_error("kmax_pooling", "k = " + std::to_string(n.i0) + " must be in [1, length of axis " +
                                    std::to_string(n.i1) + "]", xs, 1);
  Dim r = xs[0];
  r.d[n.i1] = n.i0;
  return r;
}
void kmax_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  n.mem = scratch(ctx, y.d.size());
  int32_t* pos = reinterpret_cast<int32_t*>(n.mem);
  const unsigned k = n.i0;
  AxisView v(xs[0].d, n.i1);
  const unsigned xsz = xs[0].d.batch_size(), ysz = y.d.batch_size();
  std::vector<unsigned> order(v.n);
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* x = xs[0].v + size_t(b) * xsz;
    for (unsigned o = 0; o < v.outer; ++o)
      for (unsigned in = 0; in < v.inner; ++in) {
        const float* line = x + in + size_t(v.inner) * v.n * o;
        auto at = [&](unsigned t) { return line[size_t(t) * v.inner]; };
        std::iota(order.begin(), order.end(), 0u);
        // Largest first; among equal values the earlier position wins.
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](unsigned a, unsigned c) {
          return at(a) > at(c) || (at(a) == at(c) && a < c);
        });
        std::sort(order.begin(), order.begin() + k);
        for (unsigned t = 0; t < k; ++t) {
          size_t yo = size_t(b) * ysz + in + size_t(v.inner) * (t + size_t(k) * o);
          y.v[yo] = at(order[t]);
          pos[yo] = static_cast<int32_t>(order[t]);
        }
      }
  }
}
void kmax_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
              Tensor& dx) {
  const int32_t* pos = reinterpret_cast<const int32_t*>(n.mem);
  const unsigned k = n.i0;
  AxisView v(xs[0].d, n.i1);
  const unsigned xsz = xs[0].d.batch_size(), ysz = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b)
    for (unsigned o = 0; o < v.outer; ++o)
      for (unsigned in = 0; in < v.inner; ++in)
        for (unsigned t = 0; t < k; ++t) {
          size_t yo = size_t(b) * ysz + in + size_t(v.inner) * (t + size_t(k) * o);
          dx.v[size_t(b) * xsz + in + size_t(v.inner) * (pos[yo] + size_t(v.n) * o)] += dy.v[yo];
        }
}

// ---- fold_rows(x, nrows): sums each group of nrows consecutive rows.
Dim fold_dim(const OpContext&, const Node& n, const Dim* xs) {
  if (xs[0].nd > 2) shape_error("fold_rows", "argument must be a vector or matrix", xs, 1);
  if (n.i0 < 1 || xs[0].rows() % n.i0 != 0)
    shape_error("fold_rows", "nrows = " + std::to_string(n.i0) + " must divide the number of rows", xs, 1);
  Dim r = xs[0];
  r.d[0] /= n.i0;
  return r;
}
void fold_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned k = n.i0, out = y.d.rows(), cols = y.d.size() / out;
  // Each column of x, seen as k x out (row r of the result is the sum of column r).
  for (unsigned c = 0; c < cols; ++c)
    VecMap(y.v + size_t(c) * out, out) = MatMap(xs[0].v + size_t(c) * out * k, k, out).colwise().sum().transpose();
}
void fold_bwd(OpContext&, const Node& n, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
              Tensor& dx) {
  const unsigned k = n.i0, out = y.d.rows(), cols = y.d.size() / out;
  for (unsigned c = 0; c < cols; ++c)
    MatMap(dx.v + size_t(c) * out * k, k, out).rowwise() += VecMap(dy.v + size_t(c) * out, out).transpose();
}

// ---- kmh_ngram(x (d, n), m): y[:, j] = sum of columns j..j+m-1, shape (d, n-m+1)
Dim ngram_dim(const OpContext&, const Node& n, const Dim* xs) {
  if (xs[0].nd > 2) shape_error("kmh_ngram", "argument must be a matrix", xs, 1);
  if (n.i0 < 1 || static_cast<unsigned>(n.i0) > xs[0].cols())
    shape_error("kmh_ngram", "n = " + std::to_string(n.i0) + " must be in [1, number of columns]", xs, 1);
  return Dim({xs[0].rows(), xs[0].cols() - n.i0 + 1}, xs[0].bd);
}
void ngram_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned m = n.i0, d = y.d.rows(), oc = y.d.cols(), ic = xs[0].d.cols();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    MatMap x(xs[0].v + size_t(b) * d * ic, d, ic), out(y.v + size_t(b) * d * oc, d, oc);
    out = x.leftCols(oc);
    for (unsigned t = 1; t < m; ++t) out += x.middleCols(t, oc);
  }
}
void ngram_bwd(OpContext&, const Node& n, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
               Tensor& dx) {
  const unsigned m = n.i0, d = y.d.rows(), oc = y.d.cols(), ic = dx.d.cols();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    MatMap g(dx.v + size_t(b) * d * ic, d, ic), dout(dy.v + size_t(b) * d * oc, d, oc);
    for (unsigned t = 0; t < m; ++t) g.middleCols(t, oc) += dout;
  }
}

// ---- circ_conv(u, v): y_k = sum_i u_i v_{(k-i) mod n};  circ_corr(u, v): y_k = sum_i u_i v_{(i+k) mod n}
Dim circ_dim(const OpContext&, const Node& n, const Dim* xs) {
  const char* op = op_impl(n.op).name;
  if (xs[0].nd != 1 || xs[1].nd != 1 || xs[0].rows() != xs[1].rows())
    shape_error(op, "arguments must be vectors of the same length", xs, 2);
  return Dim({xs[0].rows()}, joint_batch(op, xs, 2));
}
// kConv = 1: convolution (v index k - i); 0: correlation (v index i + k).
template <int kConv>
void circ_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned n = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float *u = xs[0].batch_ptr(b), *v = xs[1].batch_ptr(b);
    float* out = y.v + size_t(b) * n;
    for (unsigned k = 0; k < n; ++k) {
      float s = 0.f;
      for (unsigned i = 0; i < n; ++i) s += u[i] * v[kConv ? (k + n - i) % n : (i + k) % n];
      out[k] = s;
    }
  }
}
template <int kConv>
void circ_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned which,
              Tensor& dx) {
  const unsigned n = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float *u = xs[0].batch_ptr(b), *v = xs[1].batch_ptr(b), *g = dy.v + size_t(b) * n;
    float* out = dx.batch_ptr(b);
    for (unsigned k = 0; k < n; ++k)
      for (unsigned i = 0; i < n; ++i) {
        unsigned j = kConv ? (k + n - i) % n : (i + k) % n;  // y_k += u_i v_j
        if (which == 0) out[i] += g[k] * v[j];
        else out[j] += g[k] * u[i];
      }
  }
}

}  // namespace

DG_DEFINE_OP(filter1d_narrow, filter1d_dim, filter1d_fwd, filter1d_bwd)
DG_DEFINE_OP(kmax_pooling, kmax_dim, kmax_fwd, kmax_bwd)
DG_DEFINE_OP(fold_rows, fold_dim, fold_fwd, fold_bwd)
DG_DEFINE_OP(kmh_ngram, ngram_dim, ngram_fwd, ngram_bwd)
DG_DEFINE_OP(circ_conv, circ_dim, circ_fwd<1>, circ_bwd<1>)
DG_DEFINE_OP(circ_corr, circ_dim, circ_fwd<0>, circ_bwd<0>)

}  // namespace dg

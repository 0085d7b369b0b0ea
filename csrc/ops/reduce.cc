// Reductions: over all elements, over the batch, over a set of axes (sum,
// r-th moment, standard deviation), extremum along one axis, cumulative sum,
// and argmax. Axis sets live in the node's int list; i0 = 1 also reduces the batch.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/axis.h"

namespace dg {
namespace {

// ---- sum_elems: one value per batch element
Dim sum_elems_dim(const OpContext&, const Node&, const Dim* xs) { return Dim({1}, xs[0].bd); }
// Sums of more than kSumBlock floats add block sums in double: float lanes
// stop counting at 2^24 (a sum of 2^32 ones would come out near 2^28).
constexpr size_t kSumBlock = size_t(1) << 20;
float sum_floats(const float* x, size_t n) {
  if (n <= kSumBlock) return ArrMap(const_cast<float*>(x), n).sum();
  double s = 0.0;
  for (size_t i = 0; i < n; i += kSumBlock)
    s += ArrMap(const_cast<float*>(x) + i, std::min(kSumBlock, n - i)).sum();
  return static_cast<float>(s);
}
void sum_elems_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const size_t bs = xs[0].d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) y.v[b] = sum_floats(xs[0].v + b * bs, bs);
}
void sum_elems_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned,
                   Tensor& dx) {
  const size_t bs = xs[0].d.batch_size();
  for (unsigned b = 0; b < dy.d.bd; ++b) ArrMap(dx.v + b * bs, bs) += dy.v[b];
}

// ---- sum_batches: the batch elements added into one
Dim sum_batches_dim(const OpContext&, const Node&, const Dim* xs) { return xs[0].single(); }
void sum_batches_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  y.vec() = xs[0].cols_by_batch().rowwise().sum();
}
void sum_batches_bwd(OpContext&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                     Tensor& dx) {
  dx.cols_by_batch().colwise() += dy.vec();
}

// ---- axis-set reductions: sum_dim, moment_dim, std_dim
// The axes (int list) as a bit mask, validated; the result drops them (and the batch when i0 = 1).
unsigned axis_mask(const OpContext& ctx, const Node& n, const Dim* xs) {
  const char* op = op_impl(n.op).name;
  unsigned mask = 0;
  for (unsigned k = 0; k < n.naux; ++k) {
    int a = ctx.int_data[n.aux0 + k];
    if (a < 0 || static_cast<unsigned>(a) >= xs[0].nd)
      shape_error(op, "axis " + std::to_string(a) + " out of range for a tensor with " + std::to_string(xs[0].nd) +
                          " axes", xs, 1);
    if (mask >> a & 1u) shape_error(op, "axis " + std::to_string(a) + " listed twice", xs, 1);
    mask |= 1u << a;
  }
  return mask;
}
unsigned node_mask(const OpContext& ctx, const Node& n) {
  unsigned mask = 0;
  for (unsigned k = 0; k < n.naux; ++k) mask |= 1u << ctx.int_data[n.aux0 + k];
  return mask;
}
Dim axes_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  Dim r = drop_axes(xs[0], axis_mask(ctx, n, xs));
  if (n.i0) r.bd = 1;
  return r;
}
// Number of elements reduced into each result element.
float reduced_count(const Dim& x, const Dim& y) { return static_cast<float>(x.size()) / y.size(); }

// Calls f(x_index, y_index) over all elements of x, batches included.
template <class F>
void for_each_in_batch(const OpContext& ctx, const Node& n, const Dim& xd, const Dim& yd, F f) {
  unsigned mask = node_mask(ctx, n), xbs = xd.batch_size(), ybs = yd.batch_size();
  for (unsigned b = 0; b < xd.bd; ++b) {
    unsigned xo = b * xbs, yo = (yd.bd == 1 ? 0 : b) * ybs;
    for_each_reduced(xd, mask, [&](unsigned in, unsigned out) { f(xo + in, yo + out); });
  }
}

void sum_dim_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  if (n.naux == 0 && !n.i0) {
    y.arr() = xs[0].arr();
    return;
  }
  y.arr().setZero();
  const float* x = xs[0].v;
  float* out = y.v;
  for_each_in_batch(ctx, n, xs[0].d, y.d, [&](unsigned i, unsigned o) { out[o] += x[i]; });
}
void sum_dim_bwd(OpContext& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                 Tensor& dx) {
  const float* d = dy.v;
  float* out = dx.v;
  for_each_in_batch(ctx, n, xs[0].d, y.d, [&](unsigned i, unsigned o) { out[i] += d[o]; });
}

// moment_dim: f0 = r (integer >= 1), f1 = n (> 0 overrides the divisor).
inline float powi(float x, int r) {
  float p = 1.f;
  for (int k = 0; k < r; ++k) p *= x;
  return p;
}
Dim moment_dim_fn(const OpContext& ctx, const Node& n, const Dim* xs) {
  if (n.f0 < 1.f) throw ValueError("moment: the order r must be >= 1, got " + std::to_string(static_cast<int>(n.f0)));
  return axes_dim(ctx, n, xs);
}
float moment_divisor(const Node& n, const Dim& x, const Dim& y) { return n.f1 > 0.f ? n.f1 : reduced_count(x, y); }
void moment_dim_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  y.arr().setZero();
  const int r = static_cast<int>(n.f0);
  const float* x = xs[0].v;
  float* out = y.v;
  for_each_in_batch(ctx, n, xs[0].d, y.d, [&](unsigned i, unsigned o) { out[o] += powi(x[i], r); });
  y.arr() *= 1.f / moment_divisor(n, xs[0].d, y.d);
}
void moment_dim_bwd(OpContext& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                    Tensor& dx) {
  const int r = static_cast<int>(n.f0);
  const float scale = r / moment_divisor(n, xs[0].d, y.d);
  const float* x = xs[0].v;
  const float* d = dy.v;
  float* out = dx.v;
  for_each_in_batch(ctx, n, xs[0].d, y.d, [&](unsigned i, unsigned o) { out[i] += scale * d[o] * powi(x[i], r - 1); });
}

// std_dim: sqrt of the mean squared deviation; the means are kept for backward.
void std_dim_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned ny = y.d.size();
  float* mu = n.mem = scratch(ctx, ny);
  const float inv = 1.f / reduced_count(xs[0].d, y.d);
  const float* x = xs[0].v;
  float* out = y.v;
  ArrMap(mu, ny).setZero();
  for_each_in_batch(ctx, n, xs[0].d, y.d, [&](unsigned i, unsigned o) { mu[o] += x[i]; });
  ArrMap(mu, ny) *= inv;
  y.arr().setZero();
  for_each_in_batch(ctx, n, xs[0].d, y.d, [&](unsigned i, unsigned o) { out[o] += (x[i] - mu[o]) * (x[i] - mu[o]); });
  y.arr() = (y.arr() * inv).sqrt();
}
void std_dim_bwd(OpContext& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                 Tensor& dx) {
  const float inv = 1.f / reduced_count(xs[0].d, y.d);
  const float* mu = n.mem;
  const float* x = xs[0].v;
  const float* s = y.v;
  const float* d = dy.v;
  float* out = dx.v;
  for_each_in_batch(ctx, n, xs[0].d, y.d, [&](unsigned i, unsigned o) {
    if (s[o] > 0.f) out[i] += d[o] * inv * (x[i] - mu[o]) / s[o];
  });
}

// ---- max_dim / min_dim(x, d): extremum along axis i0; the gradient goes to the
// first element attaining it.
Dim extremum_dim(const OpContext&, const Node& n, const Dim* xs) {
  check_axis(op_impl(n.op).name, n.i0, xs, 1);
  return drop_axes(xs[0], 1u << n.i0);
}
template <bool kMax>
void extremum_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  AxisView v(xs[0].d, n.i0);
  unsigned xbs = xs[0].d.batch_size(), ybs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* x = xs[0].v + b * xbs;
    float* out = y.v + b * ybs;
    for (unsigned o = 0; o < v.outer; ++o)
      for (unsigned i = 0; i < v.inner; ++i) {
        const float* p = x + i + v.inner * v.n * o;
        float m = p[0];
        for (unsigned k = 1; k < v.n; ++k) m = kMax ? std::max(m, p[k * v.inner]) : std::min(m, p[k * v.inner]);
        out[i + v.inner * o] = m;
      }
  }
}
void extremum_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                  Tensor& dx) {
  AxisView v(xs[0].d, n.i0);
  unsigned xbs = xs[0].d.batch_size(), ybs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* x = xs[0].v + b * xbs;
    for (unsigned o = 0; o < v.outer; ++o)
      for (unsigned i = 0; i < v.inner; ++i) {
        unsigned l = b * ybs + i + v.inner * o, base = i + v.inner * v.n * o;
        unsigned k = 0;
        while (k + 1 < v.n && x[base + k * v.inner] != y.v[l]) ++k;
        dx.v[b * xbs + base + k * v.inner] += dy.v[l];
      }
  }
}

// ---- cumsum(x, d): running sum along axis i0 (an axis past the last has length 1)
Dim cumsum_dim(const OpContext&, const Node& n, const Dim* xs) {
  if (n.i0 < 0 || n.i0 >= static_cast<int>(kMaxDims))
    shape_error("cumsum", "axis " + std::to_string(n.i0) + " out of range", xs, 1);
  return xs[0];
}
void cumsum_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  AxisView v(y.d, n.i0);
  unsigned bs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b)
    for (unsigned o = 0; o < v.outer; ++o)
      for (unsigned i = 0; i < v.inner; ++i) {
        unsigned base = b * bs + i + v.inner * v.n * o;
        float s = 0.f;
        for (unsigned k = 0; k < v.n; ++k) y.v[base + k * v.inner] = s += xs[0].v[base + k * v.inner];
      }
}
void cumsum_bwd(OpContext&, const Node& n, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
                Tensor& dx) {
  AxisView v(y.d, n.i0);
  unsigned bs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b)
    for (unsigned o = 0; o < v.outer; ++o)
      for (unsigned i = 0; i < v.inner; ++i) {
        unsigned base = b * bs + i + v.inner * v.n * o;
        float s = 0.f;
        for (unsigned k = v.n; k-- > 0;) dx.v[base + k * v.inner] += s += dy.v[base + k * v.inner];
      }
}

// ---- argmax(x): one-hot of the first maximum of a vector; f0 = 1 passes the
// gradient straight through, f0 = 0 stops it.
Dim argmax_dim(const OpContext&, const Node&, const Dim* xs) {
  if (xs[0].batch_size() != xs[0].rows()) shape_error("argmax", "argument must be a column vector", xs, 1);
  return xs[0];
}
void argmax_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  y.arr().setZero();
  unsigned rows = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    Eigen::Index k;
    ArrMap(xs[0].v + b * rows, rows).maxCoeff(&k);
    y.v[b * rows + k] = 1.f;
  }
}
void argmax_bwd(OpContext&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                Tensor& dx) {
  if (n.f0 != 0.f) dx.arr() += dy.arr();
}

}  // namespace

DG_DEFINE_OP(sum_elems, sum_elems_dim, sum_elems_fwd, sum_elems_bwd)
DG_DEFINE_OP(sum_batches, sum_batches_dim, sum_batches_fwd, sum_batches_bwd)
DG_DEFINE_OP(sum_dim, axes_dim, sum_dim_fwd, sum_dim_bwd)
DG_DEFINE_OP(moment_dim, moment_dim_fn, moment_dim_fwd, moment_dim_bwd)
DG_DEFINE_OP(std_dim, axes_dim, std_dim_fwd, std_dim_bwd)
DG_DEFINE_OP(max_dim, extremum_dim, extremum_fwd<true>, extremum_bwd)
DG_DEFINE_OP(min_dim, extremum_dim, extremum_fwd<false>, extremum_bwd)
DG_DEFINE_OP(cumsum, cumsum_dim, cumsum_fwd, cumsum_bwd)
DG_DEFINE_OP(argmax, argmax_dim, argmax_fwd, argmax_bwd)

}  // namespace dg

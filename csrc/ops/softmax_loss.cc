// Normalisers (softmax, log-softmax, logsumexp) and losses. All are numerically
// stable (max-shifted exponentials) and work on each batch element separately;
// a batch-1 argument combined with a batch of B gets the batch's summed gradient
// because Tensor::batch_ptr(b) maps every b to its one element.
#include <cmath>
#include <limits>

#include "ops/axis.h"

namespace dg {
namespace {

using SArr = Eigen::Map<Eigen::ArrayXf, Eigen::Unaligned, Eigen::InnerStride<>>;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Calls f(map_of_x_line, map_of_y_line) for every line along the axis of view v
// in one batch element; contiguous lines get plain (vectorisable) maps.
template <class F>
void for_lines(const AxisView& v, const float* x, float* y, F f) {
  for (unsigned o = 0; o < v.outer; ++o)
    for (unsigned i = 0; i < v.inner; ++i) {
      unsigned base = i + v.inner * v.n * o;
      if (v.inner == 1) f(ArrMap(const_cast<float*>(x) + base, v.n), ArrMap(y + base, v.n), i + v.inner * o);
      else f(SArr(const_cast<float*>(x) + base, v.n, Eigen::InnerStride<>(v.inner)),
             SArr(y + base, v.n, Eigen::InnerStride<>(v.inner)), i + v.inner * o);
    }
}

template <class A>
float logsumexp_of(const A& x) {
  float m = x.maxCoeff();
  if (m == kNegInf) return kNegInf;
  return m + std::log((x - m).exp().sum());
}

const Dim& vector_arg(const char* op, const Dim* xs, unsigned nargs) {
  if (xs[0].batch_size() != xs[0].rows()) shape_error(op, "argument must be a column vector", xs, nargs);
  return xs[0];
}

// ---- softmax(x, d): normalise along axis i0
Dim softmax_dim(const OpContext&, const Node& n, const Dim* xs) {
  check_axis("softmax", n.i0, xs, 1);
  return xs[0];
}
void softmax_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  AxisView v(y.d, n.i0);
  unsigned bs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b)
    for_lines(v, xs[0].v + b * bs, y.v + b * bs, [](auto x, auto out, unsigned) {
      out = (x - x.maxCoeff()).exp();
      out /= out.sum();
    });
}
void softmax_bwd(OpContext&, const Node& n, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
                 Tensor& dx) {
  AxisView v(y.d, n.i0);
  unsigned bs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* yb = y.v + b * bs;
    const float* db = dy.v + b * bs;
    float* xb = dx.v + b * bs;
    for_lines(v, db, xb, [&](auto d, auto out, unsigned) {
      // Same layout for y: address it through the offset of d from db.
      ptrdiff_t off = d.data() - db;
      if (v.inner == 1) {
        ArrMap yl(const_cast<float*>(yb) + off, v.n);
        out += yl * (d - (d * yl).sum());
      } else {
        SArr yl(const_cast<float*>(yb) + off, v.n, Eigen::InnerStride<>(v.inner));
        out += yl * (d - (d * yl).sum());
      }
    });
  }
}

// ---- log_softmax(x, restrict): column-wise; with a restriction (int list) only
// the listed entries of a vector take part, the others are -inf.
Dim log_softmax_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  if (n.naux == 0) return xs[0];
  const Dim& x = vector_arg("log_softmax", xs, 1);
  for (unsigned k = 0; k < n.naux; ++k) {
    int idx = ctx.int_data[n.aux0 + k];
    if (idx < 0 || static_cast<unsigned>(idx) >= x.rows()) index_error("log_softmax", idx, x.rows(), "restricted index");
  }
  return x;
}
void log_softmax_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned rows = y.d.rows(), bs = y.d.batch_size();
  if (n.naux == 0) {
    AxisView v(y.d, 0);
    for (unsigned b = 0; b < y.d.bd; ++b)
      for_lines(v, xs[0].v + b * bs, y.v + b * bs, [](auto x, auto out, unsigned) { out = x - logsumexp_of(x); });
    return;
  }
  const int32_t* r = ctx.int_data.data() + n.aux0;
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* x = xs[0].v + b * bs;
    float* out = y.v + b * bs;
    float m = kNegInf;
    for (unsigned k = 0; k < n.naux; ++k) m = std::max(m, x[r[k]]);
    std::fill(out, out + rows, kNegInf);
    for (unsigned k = 0; k < n.naux; ++k) out[r[k]] = 0.f;  // marks the allowed entries once
    float s = 0.f;
    for (unsigned j = 0; j < rows; ++j)
      if (out[j] == 0.f) s += std::exp(x[j] - m);
    float logz = m + std::log(s);
    for (unsigned j = 0; j < rows; ++j)
      if (out[j] == 0.f) out[j] = x[j] - logz;
  }
}
void log_softmax_bwd(OpContext&, const Node& n, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
                     Tensor& dx) {
  unsigned bs = y.d.batch_size();
  if (n.naux == 0) {
    AxisView v(y.d, 0);
    for (unsigned b = 0; b < y.d.bd; ++b) {
      const float* yb = y.v + b * bs;
      const float* db = dy.v + b * bs;
      for_lines(v, db, dx.v + b * bs, [&](auto d, auto out, unsigned) {
        ArrMap yl(const_cast<float*>(yb) + (d.data() - db), v.n);
        out += d - yl.exp() * d.sum();
      });
    }
    return;
  }
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* yb = y.v + b * bs;
    const float* db = dy.v + b * bs;
    float* out = dx.v + b * bs;
    float s = 0.f;
    for (unsigned j = 0; j < bs; ++j)
      if (yb[j] != kNegInf) s += db[j];
    for (unsigned j = 0; j < bs; ++j)
      if (yb[j] != kNegInf) out[j] += db[j] - std::exp(yb[j]) * s;
  }
}

// ---- logsumexp(xs): element-wise over a list of same-shaped arguments
Dim logsumexp_dim_nary(const OpContext&, const Node& n, const Dim* xs) {
  if (n.nargs == 0) throw ValueError("logsumexp: needs at least one expression");
  for (unsigned k = 1; k < n.nargs; ++k)
    if (!xs[k].single_equal(xs[0])) shape_error("logsumexp", "all arguments must have the same shape", xs, n.nargs);
  Dim r = xs[0];
  r.bd = joint_batch("logsumexp", xs, n.nargs);
  return r;
}
void logsumexp_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned bs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    float* out = y.v + b * bs;
    for (unsigned e = 0; e < bs; ++e) {
      float m = kNegInf;
      for (unsigned k = 0; k < n.nargs; ++k) m = std::max(m, xs[k].batch_ptr(b)[e]);
      if (m == kNegInf) {
        out[e] = kNegInf;
        continue;
      }
      float s = 0.f;
      for (unsigned k = 0; k < n.nargs; ++k) s += std::exp(xs[k].batch_ptr(b)[e] - m);
      out[e] = m + std::log(s);
    }
  }
}
void logsumexp_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                   Tensor& dx) {
  unsigned bs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b)
    ArrMap(dx.batch_ptr(b), bs) +=
        ArrMap(dy.v + b * bs, bs) * (ArrMap(xs[i].batch_ptr(b), bs) - ArrMap(y.v + b * bs, bs)).exp();
}

// ---- logsumexp_dim(x, d): reduces axis i0
Dim logsumexp_axis_dim(const OpContext&, const Node& n, const Dim* xs) {
  check_axis("logsumexp_dim", n.i0, xs, 1);
  return drop_axes(xs[0], 1u << n.i0);
}
void logsumexp_axis_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  AxisView v(xs[0].d, n.i0);
  unsigned xbs = xs[0].d.batch_size(), ybs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    float* out = y.v + b * ybs;
    for_lines(v, xs[0].v + b * xbs, xs[0].v + b * xbs, [&](auto x, auto, unsigned l) { out[l] = logsumexp_of(x); });
  }
}
void logsumexp_axis_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                        unsigned, Tensor& dx) {
  AxisView v(xs[0].d, n.i0);
  unsigned xbs = xs[0].d.batch_size(), ybs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* yb = y.v + b * ybs;
    const float* db = dy.v + b * ybs;
    for_lines(v, xs[0].v + b * xbs, dx.v + b * xbs,
              [&](auto x, auto out, unsigned l) { out += db[l] * (x - yb[l]).exp(); });
  }
}

// ---- pickneglogsoftmax(x, v): -log softmax(x)[v], one index per batch element.
// Forward keeps log Z per batch element so backward is softmax(x) - onehot(v).
void check_indices(const OpContext& ctx, const Node& n, const char* op, const Dim* xs) {
  const Dim& x = vector_arg(op, xs, 1);
  if (n.naux != x.bd) {
    if (n.naux == 1)
      shape_error(op, "a single index was given but the argument has " + std::to_string(x.bd) +
                          " batch elements; pass one index per batch element", xs, 1);
    shape_error(op, std::to_string(n.naux) + " indices were given for " + std::to_string(x.bd) +
                        " batch elements; the numbers must match", xs, 1);
  }
  for (unsigned k = 0; k < n.naux; ++k) {
    int idx = ctx.int_data[n.aux0 + k];
    if (idx < 0 || static_cast<unsigned>(idx) >= x.rows()) index_error(op, idx, x.rows());
  }
}
Dim pnls_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  check_indices(ctx, n, "pickneglogsoftmax", xs);
  return Dim({1}, xs[0].bd);
}
void pnls_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned rows = xs[0].d.rows();
  n.mem = scratch(ctx, y.d.bd);
  const int32_t* idx = ctx.int_data.data() + n.aux0;
  for (unsigned b = 0; b < y.d.bd; ++b) {
    ArrMap x(xs[0].v + b * rows, rows);
    float logz = logsumexp_of(x);
    n.mem[b] = logz;
    y.v[b] = logz - x[idx[b]];
  }
}
void pnls_bwd(OpContext& ctx, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned,
              Tensor& dx) {
  unsigned rows = xs[0].d.rows();
  const int32_t* idx = ctx.int_data.data() + n.aux0;
  for (unsigned b = 0; b < dy.d.bd; ++b) {
    float* out = dx.v + b * rows;
    ArrMap(out, rows) += dy.v[b] * (ArrMap(xs[0].v + b * rows, rows) - n.mem[b]).exp();
    out[idx[b]] -= dy.v[b];
  }
}

// ---- hinge(x, v, m) = sum_{j != v} max(0, x_j - x_v + m), one index per batch element
Dim hinge_dim_fn(const OpContext& ctx, const Node& n, const Dim* xs) {
  check_indices(ctx, n, "hinge", xs);
  return Dim({1}, xs[0].bd);
}
void hinge_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned rows = xs[0].d.rows();
  const int32_t* idx = ctx.int_data.data() + n.aux0;
  for (unsigned b = 0; b < y.d.bd; ++b) {
    ArrMap x(xs[0].v + b * rows, rows);
    float s = (x - x[idx[b]] + n.f0).max(0.f).sum();
    y.v[b] = s - n.f0 * (n.f0 > 0.f);  // the j = v term contributes max(0, m)
  }
}
void hinge_bwd(OpContext& ctx, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned,
               Tensor& dx) {
  unsigned rows = xs[0].d.rows();
  const int32_t* idx = ctx.int_data.data() + n.aux0;
  for (unsigned b = 0; b < dy.d.bd; ++b) {
    const float* x = xs[0].v + b * rows;
    float* out = dx.v + b * rows;
    const float xv = x[idx[b]];
    for (unsigned j = 0; j < rows; ++j) {
      if (j == static_cast<unsigned>(idx[b]) || x[j] - xv + n.f0 <= 0.f) continue;
      out[j] += dy.v[b];
      out[idx[b]] -= dy.v[b];
    }
  }
}

// ---- hinge_dim(x, v, d, m): hinge along axis d of a matrix, one correct index per
// line (column for d = 0, row for d = 1); v shared by the batch or one list per element.
Dim hinge_axis_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  const Dim& x = xs[0];
  if (x.nd != 2) shape_error("hinge_dim", "argument must be a matrix", xs, 1);
  if (n.i0 != 0 && n.i0 != 1) shape_error("hinge_dim", "axis must be 0 or 1, got " + std::to_string(n.i0), xs, 1);
  unsigned lines = x.d[1 - n.i0], len = x.d[n.i0];
  if (n.naux != lines && n.naux != lines * x.bd)
    shape_error("hinge_dim", std::to_string(n.naux) + " indices were given; expected one per line along the other "
                "axis (" + std::to_string(lines) + ") or that many per batch element", xs, 1);
  for (unsigned k = 0; k < n.naux; ++k) {
    int idx = ctx.int_data[n.aux0 + k];
    if (idx < 0 || static_cast<unsigned>(idx) >= len) index_error("hinge_dim", idx, len);
  }
  return Dim({lines}, x.bd);
}
void hinge_axis_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  AxisView v(xs[0].d, n.i0);
  unsigned bs = xs[0].d.batch_size(), lines = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const int32_t* idx = ctx.int_data.data() + n.aux0 + (n.naux == lines ? 0 : b * lines);
    float* out = y.v + b * lines;
    for_lines(v, xs[0].v + b * bs, xs[0].v + b * bs, [&](auto x, auto, unsigned l) {
      out[l] = (x - x[idx[l]] + n.f0).max(0.f).sum() - n.f0 * (n.f0 > 0.f);
    });
  }
}
void hinge_axis_bwd(OpContext& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                    Tensor& dx) {
  AxisView v(xs[0].d, n.i0);
  unsigned bs = xs[0].d.batch_size(), lines = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const int32_t* idx = ctx.int_data.data() + n.aux0 + (n.naux == lines ? 0 : b * lines);
    const float* xb = xs[0].v + b * bs;
    float* ob = dx.v + b * bs;
    for (unsigned o = 0; o < v.outer; ++o)
      for (unsigned i = 0; i < v.inner; ++i) {
        unsigned l = i + v.inner * o, base = i + v.inner * v.n * o;
        unsigned c = base + v.inner * idx[l];
        float d = dy.v[b * lines + l];
        for (unsigned k = 0; k < v.n; ++k) {
          unsigned e = base + v.inner * k;
          if (e == c || xb[e] - xb[c] + n.f0 <= 0.f) continue;
          ob[e] += d;
          ob[c] -= d;
        }
      }
  }
}

// ---- losses between two same-shaped arguments, summed to one value per batch element.
Dim pair_dim(const OpContext&, const Node& n, const Dim* xs) {
  const char* op = op_impl(n.op).name;
  if (!xs[0].single_equal(xs[1])) shape_error(op, "arguments must have the same shape", xs, 2);
  return Dim({1}, joint_batch(op, xs, 2));
}
constexpr float kTiny = std::numeric_limits<float>::min();

// VALUE: the per-element loss of a and c (C is the node's f0, huber's threshold);
// GRAD0 / GRAD1: its derivative with respect to a / c.
#define DG_PAIR_LOSS(NAME, VALUE, GRAD0, GRAD1)                                                       \
  void NAME##_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {                   \
    alloc(ctx, y);                                                                                       \
    const unsigned bs = xs[0].d.batch_size();                                                          \
    const float C = n.f0;                                                                              \
    (void)C;                                                                                           \
    for (unsigned b = 0; b < y.d.bd; ++b) {                                                            \
      ArrMap a(xs[0].batch_ptr(b), bs), c(xs[1].batch_ptr(b), bs);                                     \
      y.v[b] = (VALUE).sum();                                                                          \
    }                                                                                                  \
  }                                                                                                    \
  void NAME##_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy, \
                  unsigned i, Tensor& dx) {                                                            \
    const unsigned bs = xs[0].d.batch_size();                                                          \
    const float C = n.f0;                                                                              \
    (void)C;                                                                                           \
    for (unsigned b = 0; b < dy.d.bd; ++b) {                                                           \
      ArrMap a(xs[0].batch_ptr(b), bs), c(xs[1].batch_ptr(b), bs), out(dx.batch_ptr(b), bs);           \
      if (i == 0) out += dy.v[b] * (GRAD0);                                                            \
      else out += dy.v[b] * (GRAD1);                                                                   \
    }                                                                                                  \
  }

DG_PAIR_LOSS(squared_distance, (a - c).square(), 2.f * (a - c), 2.f * (c - a))
DG_PAIR_LOSS(l1_distance, (a - c).abs(), (a - c).sign(), (c - a).sign())
DG_PAIR_LOSS(huber_distance,
             ((a - c).abs() <= C).select(0.5f * (a - c).square(), C * (a - c).abs() - 0.5f * C * C),
             ((a - c).abs() <= C).select(a - c, C * (a - c).sign()),
             ((a - c).abs() <= C).select(c - a, C * (c - a).sign()))
// Logs are taken of values clamped to the smallest normal float (as DyNet does).
DG_PAIR_LOSS(binary_log_loss, -(c * a.max(kTiny).log() + (1.f - c) * (1.f - a).max(kTiny).log()),
             (1.f - c) / (1.f - a).max(kTiny) - c / a.max(kTiny),
             (1.f - a).max(kTiny).log() - a.max(kTiny).log())
#undef DG_PAIR_LOSS

// ---- pairwise_rank_loss(x, y, m) = max(0, m - x + y), element-wise
Dim rank_dim(const OpContext&, const Node&, const Dim* xs) {
  if (!xs[0].single_equal(xs[1])) shape_error("pairwise_rank_loss", "arguments must have the same shape", xs, 2);
  Dim r = xs[0];
  r.bd = joint_batch("pairwise_rank_loss", xs, 2);
  return r;
}
void rank_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned bs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b)
    ArrMap(y.v + b * bs, bs) = (n.f0 - ArrMap(xs[0].batch_ptr(b), bs) + ArrMap(xs[1].batch_ptr(b), bs)).max(0.f);
}
void rank_bwd(OpContext&, const Node&, const Tensor*, const Tensor& y, const Tensor& dy, unsigned i,
              Tensor& dx) {
  unsigned bs = y.d.batch_size();
  float sign = i == 0 ? -1.f : 1.f;
  for (unsigned b = 0; b < y.d.bd; ++b)
    ArrMap(dx.batch_ptr(b), bs) +=
        sign * (ArrMap(y.v + b * bs, bs) > 0.f).select(ArrMap(dy.v + b * bs, bs), 0.f);
}

// ---- norms: one value per batch element
Dim scalar_per_batch(const OpContext&, const Node&, const Dim* xs) { return Dim({1}, xs[0].bd); }
void squared_norm_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned bs = xs[0].d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) y.v[b] = VecMap(xs[0].v + b * bs, bs).squaredNorm();
}
void squared_norm_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned,
                      Tensor& dx) {
  unsigned bs = xs[0].d.batch_size();
  for (unsigned b = 0; b < dy.d.bd; ++b) ArrMap(dx.v + b * bs, bs) += 2.f * dy.v[b] * ArrMap(xs[0].v + b * bs, bs);
}
void l2_norm_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned bs = xs[0].d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) y.v[b] = VecMap(xs[0].v + b * bs, bs).norm();
}
void l2_norm_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                 Tensor& dx) {
  unsigned bs = xs[0].d.batch_size();
  for (unsigned b = 0; b < dy.d.bd; ++b)
    if (y.v[b] > 0.f) ArrMap(dx.v + b * bs, bs) += (dy.v[b] / y.v[b]) * ArrMap(xs[0].v + b * bs, bs);
}

// ---- poisson_loss(log_lambda, x) = exp(ll) - x * ll + lgamma(x + 1); f0 = x
Dim poisson_dim(const OpContext&, const Node& n, const Dim* xs) {
  if (xs[0].batch_size() != 1) shape_error("poisson_loss", "log_lambda must be a single value", xs, 1);
  if (n.f0 < 0.f) throw ValueError("poisson_loss: the target must be a non-negative integer, got " +
                                   std::to_string(static_cast<long>(n.f0)));
  return Dim({1}, xs[0].bd);
}
void poisson_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const float c = std::lgamma(n.f0 + 1.f);
  for (unsigned b = 0; b < y.d.bd; ++b) y.v[b] = std::exp(xs[0].v[b]) - n.f0 * xs[0].v[b] + c;
}
void poisson_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned,
                 Tensor& dx) {
  for (unsigned b = 0; b < dy.d.bd; ++b) dx.v[b] += dy.v[b] * (std::exp(xs[0].v[b]) - n.f0);
}

}  // namespace

DG_DEFINE_OP(softmax, softmax_dim, softmax_fwd, softmax_bwd)
DG_DEFINE_OP(log_softmax, log_softmax_dim, log_softmax_fwd, log_softmax_bwd)
DG_DEFINE_OP(logsumexp, logsumexp_dim_nary, logsumexp_fwd, logsumexp_bwd)
DG_DEFINE_OP(logsumexp_dim, logsumexp_axis_dim, logsumexp_axis_fwd, logsumexp_axis_bwd)
DG_DEFINE_OP(pickneglogsoftmax, pnls_dim, pnls_fwd, pnls_bwd)
DG_DEFINE_OP(hinge, hinge_dim_fn, hinge_fwd, hinge_bwd)
DG_DEFINE_OP(hinge_dim, hinge_axis_dim, hinge_axis_fwd, hinge_axis_bwd)
DG_DEFINE_OP(binary_log_loss, pair_dim, binary_log_loss_fwd, binary_log_loss_bwd)
DG_DEFINE_OP(squared_distance, pair_dim, squared_distance_fwd, squared_distance_bwd)
DG_DEFINE_OP(l1_distance, pair_dim, l1_distance_fwd, l1_distance_bwd)
DG_DEFINE_OP(huber_distance, pair_dim, huber_distance_fwd, huber_distance_bwd)
DG_DEFINE_OP(pairwise_rank_loss, rank_dim, rank_fwd, rank_bwd)
DG_DEFINE_OP(squared_norm, scalar_per_batch, squared_norm_fwd, squared_norm_bwd)
DG_DEFINE_OP(l2_norm, scalar_per_batch, l2_norm_fwd, l2_norm_bwd)
DG_DEFINE_OP(poisson_loss, poisson_dim, poisson_fwd, poisson_bwd)

}  // namespace dg

// Element-wise arithmetic: binary ops broadcast NumPy-style (axes of length 1
// and batch 1 stretch), scalar forms, and n-ary sum / max.
#include <cmath>
#include <vector>

#include "ops/common.h"

namespace dg {
namespace {

// Pointer to x's values laid out with shape yd (materialised into tmp if x broadcasts).
const float* expand(const Tensor& x, const Dim& yd, std::vector<float>& tmp) {
  if (x.d == yd) return x.v;
  tmp.resize(yd.size());
  const size_t ys = yd.batch_size(), xs = x.d.batch_size();
  bool same_shape = x.d.single_equal(yd);
  for (unsigned b = 0; b < yd.bd; ++b) {
    const float* src = x.v + (x.d.bd == 1 ? 0 : b) * xs;
    float* dst = tmp.data() + b * ys;
    if (same_shape) {
      std::copy(src, src + ys, dst);
    } else {
      for (size_t k = 0; k < ys; ++k) dst[k] = src[broadcast_index(x.d, yd, k)];
    }
  }
  return tmp.data();
}

thread_local std::vector<float> tmp_a, tmp_b, tmp_g;

Dim binary_dim(const OpContext&, const Node& n, const Dim* xs) {
  return broadcast_dim(op_impl(n.op).name, xs);
}

// Whether x differs from y's shape at most by having batch 1 (a bias shared by
// a batch): then each batch element reads x in place, with no expanded copy.
bool batch_broadcast_only(const Tensor& x, const Dim& yd) { return x.d.single_equal(yd); }

// One argument shared over the batch, the other y's shape.
bool one_shared_over_batch(const Tensor* xs, const Dim& yd) {
  return xs[0].d.bd != xs[1].d.bd && batch_broadcast_only(xs[0], yd) && batch_broadcast_only(xs[1], yd);
}

// body(a, b, at, size) for each batch element of y (at: its offset in y): a and b
// are the arguments' arrays for it, the shared one read in place each time.
template <class Body>
void per_batch_element(const Tensor* xs, const Dim& yd, Body body) {
  const size_t bs = yd.batch_size();
  for (unsigned b = 0; b < yd.bd; ++b) {
    const size_t at = b * bs;
    ArrMap a(const_cast<float*>(xs[0].v + (xs[0].d.bd == 1 ? 0 : at)), bs);
    ArrMap c(const_cast<float*>(xs[1].v + (xs[1].d.bd == 1 ? 0 : at)), bs);
    body(a, c, at, bs);
  }
}

// y = f(a, b) over Eigen arrays of y's full size.
template <class F>
void binary_fwd(OpContext& ctx, const Tensor* xs, Tensor& y, F f) {
  alloc(ctx, y);
  const size_t n = y.d.size();
  if (one_shared_over_batch(xs, y.d)) {
    per_batch_element(xs, y.d, [&](const ArrMap& a, const ArrMap& c, size_t at, size_t bs) {
      ArrMap(y.v + at, bs) = f(a, c);
    });
    return;
  }
  ArrMap a(const_cast<float*>(expand(xs[0], y.d, tmp_a)), n);
  ArrMap b(const_cast<float*>(expand(xs[1], y.d, tmp_b)), n);
  y.arr() = f(a, b);
}

// dx_i += reduce(G) where G = grad_expr(a, b, y, dy) has y's full size (an
// expression, evaluated straight into dx when dx has y's shape: no temporary).
template <class F>
void binary_bwd(const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i, Tensor& dx, F grad) {
  const size_t n = y.d.size();
  if (dx.d == y.d && one_shared_over_batch(xs, y.d)) {
    per_batch_element(xs, y.d, [&](const ArrMap& a, const ArrMap& c, size_t at, size_t bs) {
      ArrMap(dx.v + at, bs) += grad(a, c, ArrMap(y.v + at, bs), ArrMap(dy.v + at, bs));
    });
    return;
  }
  ArrMap a(const_cast<float*>(expand(xs[0], y.d, tmp_a)), n);
  ArrMap b(const_cast<float*>(expand(xs[1], y.d, tmp_b)), n);
  if (dx.d == y.d) {
    dx.arr() += grad(a, b, y.arr(), dy.arr());
    return;
  }
  tmp_g.resize(n);
  ArrMap(tmp_g.data(), n) = grad(a, b, y.arr(), dy.arr());
  sum_to(Tensor(y.d, tmp_g.data()), dx);
}

// ---- add / sub: gradients need no argument values.
void add_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  if (xs[0].d == y.d && xs[1].d == y.d) {
    alloc(ctx, y);
    y.arr() = xs[0].arr() + xs[1].arr();
    return;
  }
  binary_fwd(ctx, xs, y, [](const ArrMap& a, const ArrMap& b) { return a + b; });
}
void add_bwd(OpContext&, const Node&, const Tensor*, const Tensor&, const Tensor& dy,
             unsigned, Tensor& dx) {
  sum_to(dy, dx);
}
void sub_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  binary_fwd(ctx, xs, y, [](const ArrMap& a, const ArrMap& b) { return a - b; });
}
void sub_bwd(OpContext&, const Node&, const Tensor*, const Tensor&, const Tensor& dy,
             unsigned i, Tensor& dx) {
  sum_to(dy, dx, i == 0 ? 1.f : -1.f);
}

#define DG_BINARY(NAME, FWD_EXPR, GRAD0, GRAD1)                                              \
  void NAME##_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {            \
    binary_fwd(ctx, xs, y, [](const ArrMap& a, const ArrMap& b) { return FWD_EXPR; });          \
  }                                                                                           \
  void NAME##_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y,          \
                  const Tensor& dy, unsigned i, Tensor& dx) {                                 \
    if (i == 0)                                                                               \
      binary_bwd(xs, y, dy, i, dx,                                                            \
                 [](const ArrMap& a, const ArrMap& b, const ArrMap& yv, const ArrMap& d) {     \
                   (void)a; (void)b; (void)yv; return GRAD0;                         \
                 });                                                                          \
    else                                                                                      \
      binary_bwd(xs, y, dy, i, dx,                                                            \
                 [](const ArrMap& a, const ArrMap& b, const ArrMap& yv, const ArrMap& d) {     \
                   (void)a; (void)b; (void)yv; return GRAD1;                         \
                 });                                                                          \
  }

DG_BINARY(cmult, a * b, d * b, d * a)
DG_BINARY(cdiv, a / b, d / b, -d * yv / b)
DG_BINARY(pow, a.pow(b), d * b * a.pow(b - 1.f), d * yv * a.log())
DG_BINARY(bmin, a.min(b), d * (a <= b).cast<float>(), d * (a > b).cast<float>())
DG_BINARY(bmax, a.max(b), d * (a >= b).cast<float>(), d * (a < b).cast<float>())
#undef DG_BINARY

// ---- unary minus and scalar forms (f0 is the scalar)
Dim same_dim(const OpContext&, const Node&, const Dim* xs) { return xs[0]; }

#define DG_SCALAR(NAME, FWD_EXPR, GRAD_EXPR)                                                  \
  void NAME##_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {          \
    alloc(ctx, y);                                                                              \
    const float c = n.f0;                                                                     \
    (void)c;                                                                                  \
    auto x = xs[0].arr();                                                                     \
    y.arr() = FWD_EXPR;                                                                       \
  }                                                                                           \
  void NAME##_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y,        \
                  const Tensor& dy, unsigned, Tensor& dx) {                                   \
    const float c = n.f0;                                                                     \
    (void)c;                                                                                  \
    auto x = xs[0].arr();                                                                     \
    auto yv = y.arr();                                                                        \
    (void)x; (void)yv;                                                                        \
    auto d = dy.arr();                                                                        \
    dx.arr() += GRAD_EXPR;                                                                    \
  }

DG_SCALAR(negate, -x, -d)
DG_SCALAR(add_scalar, x + c, d)
DG_SCALAR(mul_scalar, x * c, d * c)
DG_SCALAR(scalar_sub, c - x, -d)
DG_SCALAR(scalar_div, c / x, -d * yv / x)
#undef DG_SCALAR

// ---- n-ary sum and element-wise max over arguments of one shape.
Dim nary_dim(const OpContext&, const Node& n, const Dim* xs) {
  const char* op = op_impl(n.op).name;
  if (n.nargs == 0) throw ValueError(std::string(op) + ": needs at least one expression");
  for (unsigned k = 1; k < n.nargs; ++k)
    if (!xs[k].single_equal(xs[0])) shape_error(op, "all arguments must have the same shape", xs, n.nargs);
  Dim r = xs[0];
  r.bd = joint_batch(op, xs, n.nargs);
  return r;
}
void sum_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned bs = y.d.batch_size();
  y.arr().setZero();
  for (unsigned k = 0; k < n.nargs; ++k) {
    if (xs[k].d.bd == y.d.bd) {
      y.arr() += xs[k].arr();
    } else {
      for (unsigned b = 0; b < y.d.bd; ++b) ArrMap(y.v + b * bs, bs) += ArrMap(xs[k].v, bs);
    }
  }
}
void sum_bwd(OpContext&, const Node&, const Tensor*, const Tensor&, const Tensor& dy,
             unsigned, Tensor& dx) {
  sum_to(dy, dx);
}
void max_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned bs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    ArrMap yb(y.v + b * bs, bs);
    yb = ArrMap(xs[0].batch_ptr(b), bs);
    for (unsigned k = 1; k < n.nargs; ++k) yb = yb.max(ArrMap(xs[k].batch_ptr(b), bs));
  }
}
// The gradient goes to the first argument that attains the maximum.
void max_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
             unsigned i, Tensor& dx) {
  unsigned bs = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* yb = y.v + b * bs;
    const float* db = dy.v + b * bs;
    float* out = dx.batch_ptr(b);
    for (unsigned e = 0; e < bs; ++e) {
      unsigned winner = 0;
      while (winner < n.nargs && xs[winner].batch_ptr(b)[e] != yb[e]) ++winner;
      if (winner == i) out[e] += db[e];
    }
  }
}

}  // namespace

DG_DEFINE_OP(add, binary_dim, add_fwd, add_bwd)
DG_DEFINE_OP(sub, binary_dim, sub_fwd, sub_bwd)
DG_DEFINE_OP(cmult, binary_dim, cmult_fwd, cmult_bwd)
DG_DEFINE_OP(cdiv, binary_dim, cdiv_fwd, cdiv_bwd)
DG_DEFINE_OP(pow, binary_dim, pow_fwd, pow_bwd)
DG_DEFINE_OP(bmin, binary_dim, bmin_fwd, bmin_bwd)
DG_DEFINE_OP(bmax, binary_dim, bmax_fwd, bmax_bwd)
DG_DEFINE_OP(negate, same_dim, negate_fwd, negate_bwd)
DG_DEFINE_OP(add_scalar, same_dim, add_scalar_fwd, add_scalar_bwd)
DG_DEFINE_OP(mul_scalar, same_dim, mul_scalar_fwd, mul_scalar_bwd)
DG_DEFINE_OP(scalar_sub, same_dim, scalar_sub_fwd, scalar_sub_bwd)
DG_DEFINE_OP(scalar_div, same_dim, scalar_div_fwd, scalar_div_bwd)
DG_DEFINE_OP(sum, nary_dim, sum_fwd, sum_bwd)
DG_DEFINE_OP(max, nary_dim, max_fwd, max_bwd)

}  // namespace dg

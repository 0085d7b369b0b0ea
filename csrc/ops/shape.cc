// Selecting, reshaping and joining: pick, pick_batch_elems, pick_range,
// select_rows/cols, reshape, concatenate, concatenate_to_batch, strided_select.
//
// Data is column-major with batch elements contiguous, so a selection along
// axis `a` of a tensor splits each batch element into `outer` blocks of
// `len(a) * inner` floats, where inner = product of the axes below a and
// outer = product of the axes above a. Selections copy whole inner runs
// (memcpy) and backward adds the same runs back (dx += dy, never overwrite).
// A pure view (reshape, or a selection that is one contiguous run of an
// unbatched tensor) aliases the argument's memory instead of copying.
#include <cstring>

#include "ops/common.h"

namespace dg {
namespace {

const int32_t* ints(const OpContext& ctx, const Node& n) { return ctx.int_data.data() + n.aux0; }

// Element counts and offsets are size_t: a tensor may hold more than 2^32 values.
size_t inner_of(const Dim& d, unsigned a) {
  size_t s = 1;
  for (unsigned i = 0; i < a; ++i) s *= d[i];
  return s;
}
size_t outer_of(const Dim& d, unsigned a) {
  size_t s = 1;
  for (unsigned i = a + 1; i < d.nd; ++i) s *= d[i];
  return s;
}

[[noreturn]] void index_error(const char* op, const char* what, long idx, unsigned bound, const Dim& x) {
  throw IndexError(std::string(op) + ": " + what + " " + std::to_string(idx) + " out of range [0, " +
                   std::to_string(bound) + "); argument shape " + x.str());
}

void check_axis(const char* op, unsigned a, const Dim* xs) {
  if (a >= xs[0].nd)
    shape_error(op, "axis " + std::to_string(a) + " does not exist (tensor has " + std::to_string(xs[0].nd) +
                        " axes)", xs, 1);
}

// dst[0..n) += src[0..n)
inline void add_run(float* dst, const float* src, size_t n) { VecMap(dst, n) += VecMap(const_cast<float*>(src), n); }

// ---- pick: index one position of axis i0, removing that axis. int_data holds one index
// (every batch element) or one per batch element (pick_batch; i1 = 1).
Dim pick_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  const char* op = n.i1 ? "pick_batch" : "pick";
  const Dim& x = xs[0];
  if (n.i0 < 0) shape_error(op, "axis must be >= 0, got " + std::to_string(n.i0), xs, 1);
  unsigned a = static_cast<unsigned>(n.i0);
  check_axis(op, a, xs);
  if (n.naux == 0) shape_error(op, "needs at least one index", xs, 1);
  const int32_t* idx = ints(ctx, n);
  for (unsigned k = 0; k < n.naux; ++k)
    if (idx[k] < 0 || static_cast<unsigned>(idx[k]) >= x[a]) index_error(op, "index", idx[k], x[a], x);
  Dim r;
  if (x.nd == 1) {
    r = Dim({1});
  } else {
    for (unsigned i = 0; i < x.nd; ++i)
      if (i != a) r.d[r.nd++] = x.d[i];
  }
  r.bd = x.bd;
  if (n.i1) {
    if (x.bd != 1 && n.naux != x.bd)
      shape_error(op, std::to_string(n.naux) + " indices for a batch of " + std::to_string(x.bd), xs, 1);
    r.bd = n.naux;
  }
  return r;
}
// Calls f(x_offset, y_offset, run_length) for every run y takes from x (batch element b).
template <class F>
void pick_runs(const OpContext& ctx, const Node& n, const Dim& x, F f, unsigned b) {
  const unsigned a = n.i0;
  const size_t inner = inner_of(x, a), len = x[a], outer = outer_of(x, a);
  const size_t k = static_cast<size_t>(ints(ctx, n)[n.naux == 1 ? 0 : b]);
  for (size_t o = 0; o < outer; ++o) f((o * len + k) * inner, o * inner, inner);
}
void pick_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  const Tensor& x = xs[0];
  unsigned a = n.i0;
  if (y.d.bd == 1 && outer_of(x.d, a) == 1) {  // one contiguous run: a view
    y.v = x.v + static_cast<size_t>(ints(ctx, n)[0]) * inner_of(x.d, a);
    return;
  }
  alloc(ctx, y);
  const size_t ys = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* src = x.batch_ptr(b);
    float* dst = y.v + b * ys;
    pick_runs(ctx, n, x.d, [&](size_t xo, size_t yo, size_t m) {
      if (m == 1) dst[yo] = src[xo];
      else std::memcpy(dst + yo, src + xo, sizeof(float) * m);
    }, b);
  }
}
void pick_bwd(OpContext& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
              Tensor& dx) {
  const size_t ys = dy.d.batch_size();
  for (unsigned b = 0; b < dy.d.bd; ++b) {
    float* dst = dx.batch_ptr(b);
    const float* src = dy.v + b * ys;
    pick_runs(ctx, n, dx.d, [&](size_t xo, size_t yo, size_t m) {
      if (m == 1) dst[xo] += src[yo];
      else add_run(dst + xo, src + yo, m);
    }, b);
  }
}

// ---- pick_batch_elems: batch elements int_data[...] of x, in that order.
Dim pick_batch_elems_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  if (n.naux == 0) shape_error("pick_batch_elems", "needs at least one batch index", xs, 1);
  const int32_t* idx = ints(ctx, n);
  for (unsigned k = 0; k < n.naux; ++k)
    if (idx[k] < 0 || static_cast<unsigned>(idx[k]) >= xs[0].bd)
      index_error("pick_batch_elems", "batch index", idx[k], xs[0].bd, xs[0]);
  Dim r = xs[0];
  r.bd = n.naux;
  return r;
}
void pick_batch_elems_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  const int32_t* idx = ints(ctx, n);
  const size_t bs = y.d.batch_size();
  if (n.naux == 1) {
    y.v = xs[0].v + static_cast<size_t>(idx[0]) * bs;
    return;
  }
  alloc(ctx, y);
  for (unsigned b = 0; b < n.naux; ++b)
    std::memcpy(y.v + b * bs, xs[0].v + static_cast<size_t>(idx[b]) * bs, sizeof(float) * bs);
}
void pick_batch_elems_bwd(OpContext& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy,
                          unsigned, Tensor& dx) {
  const int32_t* idx = ints(ctx, n);
  unsigned bs = dy.d.batch_size();
  for (unsigned b = 0; b < n.naux; ++b) add_run(dx.v + idx[b] * bs, dy.v + b * bs, bs);
}

// ---- pick_range: positions [s, e) of axis d; int_data = {s, e, d}.
Dim pick_range_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  const int32_t* p = ints(ctx, n);
  int32_t s = p[0], e = p[1], a = p[2];
  if (a < 0) shape_error("pick_range", "axis must be >= 0, got " + std::to_string(a), xs, 1);
  check_axis("pick_range", a, xs);
  unsigned len = xs[0][a];
  if (s < 0 || static_cast<unsigned>(s) >= len) index_error("pick_range", "start", s, len, xs[0]);
  if (static_cast<unsigned>(e) > len)
    throw IndexError("pick_range: end " + std::to_string(e) + " out of range (0, " + std::to_string(len) +
                     "]; argument shape " + xs[0].str());
  if (e <= s)
    shape_error("pick_range", "empty range [" + std::to_string(s) + ", " + std::to_string(e) + ")", xs, 1);
  Dim r = xs[0];
  r.d[a] = static_cast<unsigned>(e - s);
  return r;
}
template <class F>
void pick_range_runs(const OpContext& ctx, const Node& n, const Dim& x, F f) {
  const int32_t* p = ints(ctx, n);
  const unsigned a = p[2];
  const size_t inner = inner_of(x, a), len = x[a], outer = outer_of(x, a), from = static_cast<size_t>(p[0]);
  const size_t m = static_cast<size_t>(p[1] - p[0]) * inner;
  for (size_t o = 0; o < outer; ++o) f((o * len + from) * inner, o * m, m);
}
void pick_range_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  const Tensor& x = xs[0];
  const int32_t* p = ints(ctx, n);
  if (x.d.bd == 1 && outer_of(x.d, p[2]) == 1) {  // one contiguous run: a view
    y.v = x.v + static_cast<size_t>(p[0]) * inner_of(x.d, p[2]);
    return;
  }
  alloc(ctx, y);
  const size_t xs_ = x.d.batch_size(), ys = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* src = x.v + b * xs_;
    float* dst = y.v + b * ys;
    pick_range_runs(ctx, n, x.d, [&](size_t xo, size_t yo, size_t m) {
      std::memcpy(dst + yo, src + xo, sizeof(float) * m);
    });
  }
}
void pick_range_bwd(OpContext& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                    Tensor& dx) {
  const size_t xs_ = dx.d.batch_size(), ys = dy.d.batch_size();
  for (unsigned b = 0; b < dy.d.bd; ++b) {
    float* dst = dx.v + b * xs_;
    const float* src = dy.v + b * ys;
    pick_range_runs(ctx, n, dx.d, [&](size_t xo, size_t yo, size_t m) { add_run(dst + xo, src + yo, m); });
  }
}

// ---- select_rows / select_cols: listed rows (axis 0) or columns (axis 1), repeats allowed.
Dim select_rows_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  if (n.naux == 0) shape_error("select_rows", "needs at least one row index", xs, 1);
  const int32_t* idx = ints(ctx, n);
  for (unsigned k = 0; k < n.naux; ++k)
    if (idx[k] < 0 || static_cast<unsigned>(idx[k]) >= xs[0].rows())
      index_error("select_rows", "row", idx[k], xs[0].rows(), xs[0]);
  Dim r = xs[0];
  r.d[0] = n.naux;
  return r;
}
void select_rows_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const int32_t* idx = ints(ctx, n);
  const unsigned R = xs[0].d.rows(), cols = xs[0].d.size() / R, m = n.naux;
  for (unsigned c = 0; c < cols; ++c) {
    const float* src = xs[0].v + c * R;
    float* dst = y.v + c * m;
    for (unsigned k = 0; k < m; ++k) dst[k] = src[idx[k]];
  }
}
void select_rows_bwd(OpContext& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                     Tensor& dx) {
  const int32_t* idx = ints(ctx, n);
  const unsigned R = dx.d.rows(), cols = dx.d.size() / R, m = n.naux;
  for (unsigned c = 0; c < cols; ++c) {
    float* dst = dx.v + c * R;
    const float* src = dy.v + c * m;
    for (unsigned k = 0; k < m; ++k) dst[idx[k]] += src[k];
  }
}

Dim select_cols_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  if (xs[0].nd > 2) shape_error("select_cols", "needs a vector or matrix", xs, 1);
  if (n.naux == 0) shape_error("select_cols", "needs at least one column index", xs, 1);
  const int32_t* idx = ints(ctx, n);
  for (unsigned k = 0; k < n.naux; ++k)
    if (idx[k] < 0 || static_cast<unsigned>(idx[k]) >= xs[0].cols())
      index_error("select_cols", "column", idx[k], xs[0].cols(), xs[0]);
  Dim r({xs[0].rows(), n.naux}, xs[0].bd);
  return r;
}
void select_cols_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const int32_t* idx = ints(ctx, n);
  const unsigned R = y.d.rows(), xs_ = xs[0].d.batch_size(), ys = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b)
    for (unsigned k = 0; k < n.naux; ++k)
      std::memcpy(y.v + b * ys + k * R, xs[0].v + b * xs_ + idx[k] * R, sizeof(float) * R);
}
void select_cols_bwd(OpContext& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                     Tensor& dx) {
  const int32_t* idx = ints(ctx, n);
  const unsigned R = dy.d.rows(), xs_ = dx.d.batch_size(), ys = dy.d.batch_size();
  for (unsigned b = 0; b < dy.d.bd; ++b)
    for (unsigned k = 0; k < n.naux; ++k) add_run(dx.v + b * xs_ + idx[k] * R, dy.v + b * ys + k * R, R);
}

// ---- reshape: new axes in int_data, batch in i0; same memory (a view).
// As DyNet: a batch of 1 with a per-element size that fits keeps x's batch.
Dim reshape_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  std::vector<long> ds(ints(ctx, n), ints(ctx, n) + n.naux);
  Dim r;
  try {
    r = Dim::from_vector(ds, n.i0);
  } catch (const ValueError& e) {
    shape_error("reshape", e.what(), xs, 1);
  }
  if (r.size() == xs[0].size()) return r;
  if (r.bd == 1 && r.batch_size() * xs[0].bd == xs[0].size()) {
    r.bd = xs[0].bd;
    return r;
  }
  shape_error("reshape", "cannot reshape to " + r.str() + " (" + std::to_string(r.size()) + " elements, input has " +
                             std::to_string(xs[0].size()) + ")", xs, 1);
}
void reshape_fwd(OpContext&, const Node&, const Tensor* xs, Tensor& y) { y.v = xs[0].v; }
void reshape_bwd(OpContext&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                 Tensor& dx) {
  dx.vec() += dy.vec();
}

// ---- concatenate along axis i0; batches of 1 broadcast.
Dim concatenate_dim(const OpContext&, const Node& n, const Dim* xs) {
  if (n.nargs == 0) throw ValueError("concatenate: needs at least one expression");
  if (n.i0 < 0 || n.i0 >= static_cast<int>(kMaxDims))
    shape_error("concatenate", "axis " + std::to_string(n.i0) + " out of range [0, 4)", xs, n.nargs);
  unsigned a = n.i0;
  Dim r;
  r.nd = a + 1;
  for (unsigned k = 0; k < n.nargs; ++k)
    if (xs[k].nd > r.nd) r.nd = xs[k].nd;
  for (unsigned i = 0; i < r.nd; ++i) r.d[i] = xs[0][i];
  uint64_t total = 0;  // the sum of 32-bit lengths may not fit an axis
  for (unsigned k = 0; k < n.nargs; ++k) {
    for (unsigned i = 0; i < r.nd; ++i)
      if (i != a && xs[k][i] != r.d[i])
        shape_error("concatenate", "shapes differ on axis " + std::to_string(i) + " (concatenating along axis " +
                                       std::to_string(a) + ")", xs, n.nargs);
    total += xs[k][a];
  }
  if (total > kMaxAxis)
    throw OverflowError("concatenate: the result's axis " + std::to_string(a) + " would have length " +
                        std::to_string(total) + ", more than the largest supported (" + std::to_string(kMaxAxis) +
                        "); argument shapes: " + xs[0].str() + (n.nargs > 1 ? ", " + xs[1].str() + ", ..." : ""));
  r.d[a] = static_cast<uint32_t>(total);
  r.bd = joint_batch("concatenate", xs, n.nargs);
  r.check_size("concatenate");
  return r;
}
void concatenate_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  if (n.nargs == 1 && xs[0].d.bd == y.d.bd) {
    y.v = xs[0].v;
    return;
  }
  alloc(ctx, y);
  const unsigned a = n.i0;
  const size_t inner = inner_of(y.d, a), outer = outer_of(y.d, a);
  const size_t ys = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    float* dst = y.v + b * ys;
    for (size_t o = 0; o < outer; ++o) {
      for (unsigned k = 0; k < n.nargs; ++k) {
        const size_t m = inner * xs[k].d[a];
        std::memcpy(dst, xs[k].batch_ptr(b) + o * m, sizeof(float) * m);
        dst += m;
      }
    }
  }
}
void concatenate_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned i,
                     Tensor& dx) {
  const unsigned a = n.i0;
  const size_t inner = inner_of(dy.d, a), outer = outer_of(dy.d, a);
  const size_t block = inner * dy.d[a], ys = dy.d.batch_size(), m = inner * dx.d[a];
  size_t offset = 0;
  for (unsigned k = 0; k < i; ++k) offset += inner * xs[k].d[a];
  if (outer == 1 && dx.d.bd == dy.d.bd && m == ys) {  // dx is all of dy
    dx.vec() += dy.vec();
    return;
  }
  for (unsigned b = 0; b < dy.d.bd; ++b) {
    float* dst = dx.batch_ptr(b);
    const float* src = dy.v + b * ys + offset;
    for (size_t o = 0; o < outer; ++o) add_run(dst + o * m, src + o * block, m);
  }
}

// ---- concatenate_to_batch: batch elements of all arguments, in order.
Dim concatenate_to_batch_dim(const OpContext&, const Node& n, const Dim* xs) {
  if (n.nargs == 0) throw ValueError("concatenate_to_batch: needs at least one expression");
  Dim r = xs[0];
  uint64_t batch = 0;  // the sum of 32-bit batch counts may not fit one
  for (unsigned k = 0; k < n.nargs; ++k) {
    if (!xs[k].single_equal(xs[0])) shape_error("concatenate_to_batch", "shapes differ", xs, n.nargs);
    batch += xs[k].bd;
  }
  if (batch > kMaxAxis)
    throw OverflowError("concatenate_to_batch: the result would have batch size " + std::to_string(batch) +
                        ", more than the largest supported (" + std::to_string(kMaxAxis) + "); shape " +
                        xs[0].single().str());
  r.bd = static_cast<uint32_t>(batch);
  r.check_size("concatenate_to_batch");
  return r;
}
void concatenate_to_batch_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  if (n.nargs == 1) {
    y.v = xs[0].v;
    return;
  }
  alloc(ctx, y);
  float* dst = y.v;
  for (unsigned k = 0; k < n.nargs; ++k) {
    std::memcpy(dst, xs[k].v, sizeof(float) * xs[k].d.size());
    dst += xs[k].d.size();
  }
}
void concatenate_to_batch_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy,
                              unsigned i, Tensor& dx) {
  size_t offset = 0;
  for (unsigned k = 0; k < i; ++k) offset += xs[k].d.size();
  add_run(dx.v, dy.v + offset, dx.d.size());
}

// ---- strided_select: x[from:to:stride, ...] per axis, the batch as a last axis.
// int_data = {ns, strides..., nf, froms..., nt, tos...}; missing entries default to
// stride 1, from 0, to the axis length.
struct StridedPlan {
  unsigned from[kMaxDims + 1], stride[kMaxDims + 1], count[kMaxDims + 1];
};
StridedPlan strided_plan(const OpContext& ctx, const Node& n, const Dim* xs) {
  const char* op = "strided_select";
  const Dim& x = xs[0];
  const int32_t* p = ints(ctx, n);
  const int32_t *strides = p + 1, *froms = strides + p[0] + 1, *tos = froms + froms[-1] + 1;
  const unsigned ns = p[0], nf = froms[-1], nt = tos[-1], naxes = x.nd + 1;
  if (ns > naxes || nf > naxes || nt > naxes)
    shape_error(op, "got more than " + std::to_string(naxes) + " entries (one per axis plus the batch)", xs, 1);
  StridedPlan s;
  for (unsigned i = 0; i <= kMaxDims; ++i) {
    unsigned ax = i < x.nd ? i : (i == kMaxDims ? x.nd : kMaxDims);  // plan slot kMaxDims is the batch
    unsigned len = i < x.nd ? x.d[i] : (i == kMaxDims ? x.bd : 1);
    s.from[i] = 0;
    s.stride[i] = 1;
    s.count[i] = len;
    if (i >= x.nd && i != kMaxDims) continue;
    long st = ax < ns ? strides[ax] : 1, f = ax < nf ? froms[ax] : 0, t = ax < nt ? tos[ax] : static_cast<long>(len);
    const std::string where = i == kMaxDims ? "the batch" : "axis " + std::to_string(ax);
    if (st < 1) shape_error(op, "stride for " + where + " must be >= 1, got " + std::to_string(st), xs, 1);
    if (f < 0 || f >= static_cast<long>(len))
      throw IndexError(std::string(op) + ": start " + std::to_string(f) + " for " + where + " out of range [0, " +
                       std::to_string(len) + "); argument shape " + x.str());
    if (t < 0 || t > static_cast<long>(len))
      throw IndexError(std::string(op) + ": end " + std::to_string(t) + " for " + where + " out of range [0, " +
                       std::to_string(len) + "]; argument shape " + x.str());
    if (t <= f)
      shape_error(op, "empty selection for " + where + " (start " + std::to_string(f) + ", end " +
                          std::to_string(t) + ")", xs, 1);
    s.from[i] = f;
    s.stride[i] = st;
    s.count[i] = (t - f + st - 1) / st;
  }
  return s;
}
Dim strided_select_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  StridedPlan s = strided_plan(ctx, n, xs);
  Dim r = xs[0];
  for (unsigned i = 0; i < r.nd; ++i) r.d[i] = s.count[i];
  r.bd = s.count[kMaxDims];
  return r;
}
// Calls f(x_offset, y_offset) for the first element of every axis-0 run; runs have
// s.count[0] elements, x stride s.stride[0], y stride 1.
template <class F>
void strided_runs(const StridedPlan& s, const Dim& x, F f) {
  unsigned xstride[kMaxDims + 1];
  xstride[0] = 1;
  for (unsigned i = 1; i < kMaxDims; ++i) xstride[i] = xstride[i - 1] * x[i - 1];
  xstride[kMaxDims] = x.batch_size();
  unsigned yo = 0;
  for (unsigned b = 0; b < s.count[4]; ++b)
    for (unsigned i3 = 0; i3 < s.count[3]; ++i3)
      for (unsigned i2 = 0; i2 < s.count[2]; ++i2)
        for (unsigned i1 = 0; i1 < s.count[1]; ++i1) {
          unsigned xo = (s.from[4] + b * s.stride[4]) * xstride[4] + (s.from[3] + i3 * s.stride[3]) * xstride[3] +
                        (s.from[2] + i2 * s.stride[2]) * xstride[2] + (s.from[1] + i1 * s.stride[1]) * xstride[1] +
                        s.from[0];
          f(xo, yo);
          yo += s.count[0];
        }
}
void strided_select_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  Dim xd = xs[0].d;
  StridedPlan s = strided_plan(ctx, n, &xd);
  const unsigned m = s.count[0], st = s.stride[0];
  const float* x = xs[0].v;
  strided_runs(s, xd, [&](unsigned xo, unsigned yo) {
    if (st == 1) std::memcpy(y.v + yo, x + xo, sizeof(float) * m);
    else for (unsigned k = 0; k < m; ++k) y.v[yo + k] = x[xo + k * st];
  });
}
void strided_select_bwd(OpContext& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                        Tensor& dx) {
  Dim xd = dx.d;
  StridedPlan s = strided_plan(ctx, n, &xd);
  const unsigned m = s.count[0], st = s.stride[0];
  strided_runs(s, xd, [&](unsigned xo, unsigned yo) {
    if (st == 1) add_run(dx.v + xo, dy.v + yo, m);
    else for (unsigned k = 0; k < m; ++k) dx.v[xo + k * st] += dy.v[yo + k];
  });
}

}  // namespace

DG_DEFINE_OP(pick, pick_dim, pick_fwd, pick_bwd)
DG_DEFINE_OP(pick_batch_elems, pick_batch_elems_dim, pick_batch_elems_fwd, pick_batch_elems_bwd)
DG_DEFINE_OP(pick_range, pick_range_dim, pick_range_fwd, pick_range_bwd)
DG_DEFINE_OP(select_rows, select_rows_dim, select_rows_fwd, select_rows_bwd)
DG_DEFINE_OP(select_cols, select_cols_dim, select_cols_fwd, select_cols_bwd)
DG_DEFINE_OP(reshape, reshape_dim, reshape_fwd, reshape_bwd)
DG_DEFINE_OP(concatenate, concatenate_dim, concatenate_fwd, concatenate_bwd)
DG_DEFINE_OP(concatenate_to_batch, concatenate_to_batch_dim, concatenate_to_batch_fwd, concatenate_to_batch_bwd)
DG_DEFINE_OP(strided_select, strided_select_dim, strided_select_fwd, strided_select_bwd)

}  // namespace dg

// Matrix products and linear algebra. A batch-1 matrix times a batch of B
// inputs is one GEMM over the inputs laid side by side (k x n*B).
#include <Eigen/LU>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "ops/affine_activation.h"
#include "ops/common.h"

namespace dg {
namespace {

// Y += A * B, batches broadcast (Tensor::mat(b) maps batch 1 to element 0).
//
// Products whose other side is a single column are written with vector types,
// so Eigen picks GEMV at compile time instead of dispatching at run time.
// (Weight-gradient terms dA += dY X^T go through OpContext::add_outer_product.)
void gemm_acc(const Tensor& A, const Tensor& B, Tensor& Y) {
  const unsigned m = A.d.rows(), k = A.d.cols();
  if (A.d.bd == 1 && B.d.bd == Y.d.bd) {
    if (Y.d.size() == Y.d.rows()) {  // one column in all: y += A x
      Y.vec().noalias() += A.mat() * B.vec();
      return;
    }
    gemm(Y.v, A.v, false, B.v, false, m, Y.d.size() / m, k);
    return;
  }
  const unsigned n = Y.d.batch_size() / m;
  for (unsigned b = 0; b < Y.d.bd; ++b) gemm(Y.mat(b).data(), A.mat(b).data(), false, B.mat(b).data(), false, m, n, k);
}
// dA += dY * B^T; a batch-1 dA collects the sum over the batch.
void gemm_grad_a(const Tensor& dY, const Tensor& B, Tensor& dA) {
  const unsigned m = dA.d.rows(), n = dA.d.cols();
  if (dA.d.bd == 1 && B.d.bd == dY.d.bd) {
    gemm(dA.v, dY.v, false, B.v, true, m, n, dY.d.size() / m);
    return;
  }
  const unsigned k = dY.d.batch_size() / m;
  for (unsigned b = 0; b < dY.d.bd; ++b) gemm(dA.mat(b).data(), dY.mat(b).data(), false, B.mat(b).data(), true, m, n, k);
}
// dB += A^T * dY; a batch-1 dB collects the sum over the batch. Several columns
// against a batch-1 A read the context's transposed copy when it keeps one: in
// the Tree-LSTM at 16 trees per graph OpenBLAS ran Aᵀ dY (A 128 x 256, 8-63
// columns) at 30-55 GFLOP/s, packing Aᵀ anew each call, against 55-70 for the
// forward's A x of the same sizes; on the copy, backward took 7 % less time.
void gemm_grad_b(OpContext& ctx, const Tensor& A, const Tensor& dY, Tensor& dB) {
  const unsigned k = A.d.rows(), m = A.d.cols();
  if (A.d.bd == 1 && dB.d.bd == dY.d.bd) {
    if (dY.d.size() == dY.d.rows()) {  // dx += A^T dy
      dB.vec().noalias() += A.mat().transpose() * dY.vec();
      return;
    }
    if (const float* At = ctx.transposed(A)) gemm(dB.v, At, false, dY.v, false, m, dY.d.size() / k, k);
    else gemm(dB.v, A.v, true, dY.v, false, m, dY.d.size() / k, k);
    return;
  }
  const unsigned n = dY.d.batch_size() / k;
  for (unsigned b = 0; b < dY.d.bd; ++b) gemm(dB.mat(b).data(), A.mat(b).data(), true, dY.mat(b).data(), false, m, n, k);
}

Dim product_dim(const char* op, const Dim* xs, const Dim& a, const Dim& b, unsigned nshow) {
  if (a.nd > 2 || b.nd > 2) shape_error(op, "operands must be vectors or matrices", xs, nshow);
  if (a.cols() != b.rows()) shape_error(op, "inner dimensions differ", xs, nshow);
  // As DyNet: a vector operand gives a vector, an (n, 1) matrix an (m, 1) matrix.
  Dim r = b.nd == 1 ? Dim({a.rows()}) : Dim({a.rows(), b.cols()});
  if (a.bd != 1 && b.bd != 1 && a.bd != b.bd) shape_error(op, "batch sizes differ", xs, nshow);
  r.bd = a.bd > b.bd ? a.bd : b.bd;
  return r;
}

// ---- matmul: y = a * b
Dim matmul_dim(const OpContext&, const Node&, const Dim* xs) {
  return product_dim("matmul", xs, xs[0], xs[1], 2);
}
void matmul_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  y.arr().setZero();
  gemm_acc(xs[0], xs[1], y);
}
// dA += dY B^T: when both sides are one column per batch element, the graph
// collects the term per weight and applies them all as one GEMM (see add_outer_product).
void grad_a(OpContext& ctx, const Tensor& dY, const Tensor& B, Tensor& dA) {
  if (dA.d.bd == 1 && dY.d.cols() == 1 && B.d.cols() == 1 && B.d.bd == dY.d.bd)
    ctx.add_outer_product(dA, dY, B);  // one column per batch element
  else
    gemm_grad_a(dY, B, dA);
}

void matmul_bwd(OpContext& ctx, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy,
                unsigned i, Tensor& dx) {
  if (i == 0) grad_a(ctx, dy, xs[1], dx);
  else gemm_grad_b(ctx, xs[0], dy, dx);
}

// ---- affine_transform: y = x0 + x1*x2 + x3*x4 + ...
// The result has the products' shape, a vector when they have one column (as
// DyNet's); the bias is that shape or one column, added to every column.
Dim affine_dim(const OpContext&, const Node& n, const Dim* xs) {
  if (n.nargs % 2 == 0 || n.nargs == 0)
    shape_error("affine_transform", "needs an odd number of arguments (b, W1, x1, W2, x2, ...)", xs, n.nargs);
  if (n.nargs == 1) return xs[0];
  const Dim& bias = xs[0];
  Dim r;
  for (unsigned k = 1; k < n.nargs; k += 2) {
    Dim p = product_dim("affine_transform", xs, xs[k], xs[k + 1], n.nargs);
    if (p.cols() == 1) p = Dim({p.rows()}, p.bd);
    if (k == 1) r = p;
    else if (!p.single_equal(r)) shape_error("affine_transform", "the products' shapes differ", xs, n.nargs);
    if (r.bd != 1 && p.bd != 1 && p.bd != r.bd) shape_error("affine_transform", "batch sizes differ", xs, n.nargs);
    if (p.bd > r.bd) r.bd = p.bd;
  }
  if (bias.nd > 2 || bias.rows() != r.rows() || (bias.cols() != 1 && bias.cols() != r.cols()))
    shape_error("affine_transform", "the bias must have the products' shape or be one column of it", xs, n.nargs);
  if (bias.bd != 1 && r.bd != 1 && bias.bd != r.bd) shape_error("affine_transform", "batch sizes differ", xs, n.nargs);
  if (bias.bd > r.bd) r.bd = bias.bd;
  return r;
}
void affine_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned bs = y.d.batch_size(), bias_size = xs[0].d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {  // the bias, repeated over columns and batch as needed
    const float* src = xs[0].v + (xs[0].d.bd == 1 ? 0 : b) * bias_size;
    for (unsigned c = 0; c < bs; c += bias_size) std::memcpy(y.v + b * bs + c, src, sizeof(float) * bias_size);
  }
  for (unsigned k = 1; k < n.nargs; k += 2) gemm_acc(xs[k], xs[k + 1], y);
  if (n.i0) affine_activation::apply(n.i0, y);  // f(W x + b) folded in (ops/affine_activation.h)
}
// (A folded activation's f' is applied by the graph: dy here is already dz = dy f'(y).)
void affine_bwd(OpContext& ctx, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy,
                unsigned i, Tensor& dx) {
  if (i == 0) sum_to(dy, dx);
  else if (i % 2 == 1) grad_a(ctx, dy, xs[i + 1], dx);
  else gemm_grad_b(ctx, xs[i - 1], dy, dx);
}

// ---- dot_product: one scalar per batch element
Dim dot_dim(const OpContext&, const Node&, const Dim* xs) {
  if (!xs[0].single_equal(xs[1])) shape_error("dot_product", "shapes differ", xs, 2);
  return Dim({1}, joint_batch("dot_product", xs, 2));
}
void dot_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  unsigned bs = xs[0].d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b)
    y.v[b] = VecMap(xs[0].batch_ptr(b), bs).dot(VecMap(xs[1].batch_ptr(b), bs));
}
void dot_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy,
             unsigned i, Tensor& dx) {
  unsigned bs = xs[0].d.batch_size();
  const Tensor& other = xs[1 - i];
  for (unsigned b = 0; b < dy.d.bd; ++b)
    VecMap(dx.batch_ptr(b), bs) += dy.v[b] * VecMap(other.batch_ptr(b), bs);
}

// ---- transpose: each batch element's axes permuted, as DyNet's transpose(x, dims):
// axis i of y is axis dims[i] of x; the batch is never permuted. dims lie in
// int_data; none (naux 0) is the default [1, 0], the matrix transpose.
constexpr int32_t kMatrixDims[2] = {1, 0};
const int32_t* transpose_dims(const OpContext& ctx, const Node& n, unsigned& k) {
  k = n.naux ? n.naux : 2;
  return n.naux ? ctx.int_data.data() + n.aux0 : kMatrixDims;
}
std::string dims_text(const int32_t* p, unsigned k) {
  std::string s = "[";
  for (unsigned i = 0; i < k; ++i) s += (i ? ", " : "") + std::to_string(p[i]);
  return s + "]";
}
// x is read as having exactly k axes: trailing axes of length 1 added or dropped
// (a vector (n,) transposes to (1, n), as in DyNet); any other axis count is an error.
Dim transpose_dim(const OpContext& ctx, const Node& n, const Dim* xs) {
  if (n.naux == 0 && xs[0].nd <= 2) return Dim({xs[0].cols(), xs[0].rows()}, xs[0].bd);  // the common case
  unsigned k;
  const int32_t* p = transpose_dims(ctx, n, k);
  const Dim& x = xs[0];
  // (the message is built only on failure: this runs for every node built)
  auto fail = [&](const std::string& what) { shape_error("transpose", "dims " + dims_text(p, k) + what, xs, 1); };
  if (k > kMaxDims) fail(" lists more than 4 axes");
  unsigned seen = 0;
  for (unsigned i = 0; i < k; ++i) {
    if (p[i] < 0 || p[i] >= static_cast<int32_t>(k) || (seen >> p[i] & 1u))
      fail(" is not a permutation of 0.." + std::to_string(k - 1) +
           " (each axis of x once; the batch cannot be permuted)");
    seen |= 1u << p[i];
  }
  for (unsigned a = k; a < x.nd; ++a)
    if (x.d[a] != 1)
      fail(" lists " + std::to_string(k) + " axes, but x has " + std::to_string(x.nd) +
           " (give one entry per axis of x)");
  Dim r;
  r.nd = k;
  r.bd = x.bd;
  for (unsigned i = 0; i < k; ++i) r.d[i] = x[static_cast<unsigned>(p[i])];
  return r;
}
// Calls f(index in y, index in x) for every element, y's in order: y's axis i
// steps through x with the stride of x's axis dims[i].
template <class F>
void each_permuted(const OpContext& ctx, const Node& n, const Dim& x, const Dim& y, F f) {
  unsigned k;
  const int32_t* p = transpose_dims(ctx, n, k);
  size_t stride[kMaxDims], step[kMaxDims] = {0, 0, 0, 0};
  size_t s = 1;
  for (unsigned a = 0; a < kMaxDims; ++a) stride[a] = s, s *= x[a];
  for (unsigned i = 0; i < k; ++i) step[i] = stride[p[i]];
  const size_t per = x.batch_size();
  size_t t = 0;
  for (size_t b = 0; b < y.bd; ++b)
    for (size_t i3 = 0; i3 < y[3]; ++i3)
      for (size_t i2 = 0; i2 < y[2]; ++i2)
        for (size_t i1 = 0; i1 < y[1]; ++i1) {
          const size_t at = b * per + i3 * step[3] + i2 * step[2] + i1 * step[1];
          for (size_t i0 = 0; i0 < y[0]; ++i0) f(t++, at + i0 * step[0]);
        }
}
void transpose_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const float* x = xs[0].v;
  if (n.naux == 0) {  // the matrix transpose (hot in some models): Eigen's blocked copy
    for (unsigned b = 0; b < y.d.bd; ++b) y.mat(b) = xs[0].mat(b).transpose();
    return;
  }
  each_permuted(ctx, n, xs[0].d, y.d, [&](size_t t, size_t j) { y.v[t] = x[j]; });
}
void transpose_bwd(OpContext& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy,
                   unsigned, Tensor& dx) {
  if (n.naux == 0) {
    for (unsigned b = 0; b < dy.d.bd; ++b) dx.mat(b) += dy.mat(b).transpose();
    return;
  }
  each_permuted(ctx, n, dx.d, dy.d, [&](size_t t, size_t j) { dx.v[j] += dy.v[t]; });
}

// ---- inverse, logdet: square matrices, unbatched (as DyNet)
Dim square_dim(const char* op, const Dim* xs) {
  if (xs[0].nd != 2 || xs[0].rows() != xs[0].cols() || xs[0].bd != 1)
    shape_error(op, "argument must be one square matrix", xs, 1);
  return xs[0];
}
Dim inverse_dim(const OpContext&, const Node&, const Dim* xs) { return square_dim("inverse", xs); }
void inverse_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  y.mat() = xs[0].mat().inverse();
}
void inverse_bwd(OpContext&, const Node&, const Tensor*, const Tensor& y, const Tensor& dy,
                 unsigned, Tensor& dx) {
  Eigen::MatrixXf yt = y.mat().transpose();
  dx.mat().noalias() -= yt * dy.mat() * yt;
}
Dim logdet_dim(const OpContext&, const Node&, const Dim* xs) {
  square_dim("logdet", xs);
  return Dim({1});
}
void logdet_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  Eigen::PartialPivLU<Eigen::MatrixXf> lu(xs[0].mat());
  const auto diag = lu.matrixLU().diagonal().array();
  // log det(x), not log |det(x)|: a negative determinant has no real log, so NaN (as DyNet).
  float sign = lu.permutationP().determinant();
  for (Eigen::Index i = 0; i < diag.size(); ++i)
    if (diag[i] < 0.f) sign = -sign;
  y.v[0] = sign < 0.f ? std::numeric_limits<float>::quiet_NaN() : diag.abs().log().sum();
}
void logdet_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy,
                unsigned, Tensor& dx) {
  dx.mat() += dy.v[0] * Eigen::MatrixXf(xs[0].mat().inverse().transpose());
}

// ---- trace_of_product(a, b) = trace(a * b^T) = sum(a .* b)
Dim trace_dim(const OpContext&, const Node&, const Dim* xs) {
  if (!xs[0].single_equal(xs[1])) shape_error("trace_of_product", "shapes differ", xs, 2);
  return Dim({1}, joint_batch("trace_of_product", xs, 2));
}

}  // namespace

DG_DEFINE_OP(matmul, matmul_dim, matmul_fwd, matmul_bwd)
DG_DEFINE_OP(affine_transform, affine_dim, affine_fwd, affine_bwd)
DG_DEFINE_OP(dot_product, dot_dim, dot_fwd, dot_bwd)
DG_DEFINE_OP(transpose, transpose_dim, transpose_fwd, transpose_bwd)
DG_DEFINE_OP(inverse, inverse_dim, inverse_fwd, inverse_bwd)
DG_DEFINE_OP(logdet, logdet_dim, logdet_fwd, logdet_bwd)
// trace(a b^T) is the dot product of the flattened matrices.
DG_DEFINE_OP(trace_of_product, trace_dim, dot_fwd, dot_bwd)

}  // namespace dg

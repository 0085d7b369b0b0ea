// Contractions of a rank-3 tensor x (a, b, c) with vectors, as in DyNet:
//   contract3d_1d(x, y)[i, j]     = sum_k x[i, j, k] y[k]            (+ bias (a, b))
//   contract3d_1d_1d(x, y, z)[i]  = sum_{j,k} x[i, j, k] y[k] z[j]   (+ bias (a,))
// x seen as an (a*b) x c matrix makes the first contraction one matrix-vector
// product per batch element (one GEMM for the batch when x has batch 1).
#include "ops/common.h"

namespace dg {
namespace {

// Checks x is (a, b, c), y a vector of c and (for the _1d_1d forms) z a vector of b.
void check_contract(const char* op, const Dim* xs, unsigned nargs, bool two_vectors) {
  const Dim &x = xs[0], &y = xs[1];
  if (x.nd != 3) shape_error(op, "x must be a rank-3 tensor (a, b, c)", xs, nargs);
  if (y.batch_size() != y.rows() || y.rows() != x[2]) shape_error(op, "y must be a vector of length c", xs, nargs);
  if (two_vectors && (xs[2].batch_size() != xs[2].rows() || xs[2].rows() != x[1]))
    shape_error(op, "z must be a vector of length b", xs, nargs);
}

// m_b = X_b y_b for every batch element (m: (a*b) x bd, column per batch element).
void contract_xy(const Tensor& x, const Tensor& y, unsigned bd, float* m) {
  const unsigned ab = x.d[0] * x.d[1], c = x.d[2];
  MatMap out(m, ab, bd);
  if (x.d.bd == 1 && y.d.bd == bd) {
    out.noalias() = MatMap(x.v, ab, c) * y.cols_by_batch();
    return;
  }
  for (unsigned b = 0; b < bd; ++b) out.col(b).noalias() = MatMap(x.batch_ptr(b), ab, c) * VecMap(y.batch_ptr(b), c);
}
// dX += dM y^T and dy += X^T dM for dM: (a*b) x bd.
void contract_xy_bwd(const Tensor& x, const Tensor& y, const float* dm, unsigned bd, unsigned i, Tensor& dx) {
  const unsigned ab = x.d[0] * x.d[1], c = x.d[2];
  MatMap dM(const_cast<float*>(dm), ab, bd);
  if (i == 0 && dx.d.bd == 1 && y.d.bd == bd) {
    MatMap(dx.v, ab, c).noalias() += dM * y.cols_by_batch().transpose();
    return;
  }
  for (unsigned b = 0; b < bd; ++b) {
    if (i == 0) MatMap(dx.batch_ptr(b), ab, c).noalias() += dM.col(b) * VecMap(y.batch_ptr(b), c).transpose();
    else VecMap(dx.batch_ptr(b), c).noalias() += MatMap(x.batch_ptr(b), ab, c).transpose() * dM.col(b);
  }
}

// ---- contract3d_1d(x, y[, bias])
Dim c1_dim(const OpContext&, const Node& n, const Dim* xs) {
  const char* op = n.nargs == 3 ? "contract3d_1d_bias" : "contract3d_1d";
  check_contract(op, xs, n.nargs, false);
  Dim r({xs[0][0], xs[0][1]}, joint_batch(op, xs, n.nargs));
  if (n.nargs == 3 && !xs[2].single_equal(r)) shape_error(op, "bias must have shape (a, b)", xs, n.nargs);
  return r;
}
void c1_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  contract_xy(xs[0], xs[1], y.d.bd, y.v);
  if (n.nargs == 3) {
    const unsigned s = y.d.batch_size();
    for (unsigned b = 0; b < y.d.bd; ++b) VecMap(y.v + size_t(b) * s, s) += VecMap(xs[2].batch_ptr(b), s);
  }
}
void c1_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
            Tensor& dx) {
  if (i == 2) sum_to(dy, dx);
  else contract_xy_bwd(xs[0], xs[1], dy.v, y.d.bd, i, dx);
}

// ---- contract3d_1d_1d(x, y, z[, bias]); M = x.y (a x b per batch element) is kept for backward.
Dim c11_dim(const OpContext&, const Node& n, const Dim* xs) {
  const char* op = n.nargs == 4 ? "contract3d_1d_1d_bias" : "contract3d_1d_1d";
  check_contract(op, xs, n.nargs, true);
  Dim r({xs[0][0]}, joint_batch(op, xs, n.nargs));
  if (n.nargs == 4 && !xs[3].single_equal(r)) shape_error(op, "bias must be a vector of length a", xs, n.nargs);
  return r;
}
void c11_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned a = xs[0].d[0], bb = xs[0].d[1], bd = y.d.bd;
  n.mem = scratch(ctx, size_t(a) * bb * bd);
  contract_xy(xs[0], xs[1], bd, n.mem);
  for (unsigned b = 0; b < bd; ++b) {
    VecMap out(y.v + size_t(b) * a, a);
    out.noalias() = MatMap(n.mem + size_t(b) * a * bb, a, bb) * VecMap(xs[2].batch_ptr(b), bb);
    if (n.nargs == 4) out += VecMap(xs[3].batch_ptr(b), a);
  }
}
void c11_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
             Tensor& dx) {
  const unsigned a = xs[0].d[0], bb = xs[0].d[1], bd = y.d.bd;
  if (i == 3) {
    sum_to(dy, dx);
    return;
  }
  if (i == 2) {  // dz += M^T dt
    for (unsigned b = 0; b < bd; ++b)
      VecMap(dx.batch_ptr(b), bb).noalias() +=
          MatMap(n.mem + size_t(b) * a * bb, a, bb).transpose() * VecMap(dy.v + size_t(b) * a, a);
    return;
  }
  Eigen::MatrixXf dM(size_t(a) * bb, bd);  // dM_b = dt_b z_b^T
  for (unsigned b = 0; b < bd; ++b)
    MatMap(dM.col(b).data(), a, bb).noalias() = VecMap(dy.v + size_t(b) * a, a) * VecMap(xs[2].batch_ptr(b), bb).transpose();
  contract_xy_bwd(xs[0], xs[1], dM.data(), bd, i, dx);
}

}  // namespace

DG_DEFINE_OP(contract3d_1d, c1_dim, c1_fwd, c1_bwd)
DG_DEFINE_OP(contract3d_1d_bias, c1_dim, c1_fwd, c1_bwd)
DG_DEFINE_OP(contract3d_1d_1d, c11_dim, c11_fwd, c11_bwd)
DG_DEFINE_OP(contract3d_1d_1d_bias, c11_dim, c11_fwd, c11_bwd)

}  // namespace dg

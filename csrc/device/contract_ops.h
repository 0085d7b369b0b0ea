// Device ops of contract3d_1d(_bias) and contract3d_1d_1d(_bias)
// (csrc/ops/contract.cc). x (a, b, c) seen as an (a*b) x c matrix makes each
// contraction a matrix-vector product per batch element, so they are the
// matmul device ops' products (device/matmul_ops.h: one sgemm, or one
// strided-batched sgemm, in each direction) on reshaped views.
#pragma once
#include "device/common.h"
#include "device/matmul_ops.h"
#include "kernels/arith.h"
#include "kernels/matmul.h"

namespace dg::dev {

template <class B>
struct ContractOps {
  using MM = MatmulOps<B>;
  // x as an (a*b) x c matrix, a vector argument as a column, a result as a column of `rows`.
  static Tensor as_matrix(const Tensor& x) { return Tensor(Dim({x.d[0] * x.d[1], x.d[2]}, x.d.bd), x.v); }
  static Tensor as_column(const Tensor& t, unsigned rows) { return Tensor(Dim({rows}, t.d.bd), t.v); }

  // out = bias (repeated over the batch when it has batch 1), or 0
  static void start(const Tensor* bias, Tensor& out) {
    const uint32_t s = static_cast<uint32_t>(out.d.batch_size());
    if (bias) B::launch(static_cast<uint32_t>(out.d.size()), kern::BiasFill{bias->v, out.v, s, s, bias->d.bd});
    else fill<B>(out.v, out.d.size(), 0.f);
  }
  // the gradient of a bias: dy summed over the batch when the bias has batch 1
  static void bias_grad(const Tensor& dy, Tensor& dx) {
    B::launch(static_cast<uint32_t>(dx.d.size()), kern::SumTo{dy.v, dx.v, shape_of(dx.d), shape_of(dy.d), 1.f});
  }
  // dX += dM y^T (i = 0) or dy += X^T dM (i = 1), dM: a*b per batch element
  static void contract_bwd(const Tensor* xs, const Tensor& dm, unsigned i, Tensor& dx) {
    const unsigned ab = xs[0].d[0] * xs[0].d[1];
    Tensor d = as_column(dm, ab);
    if (i == 0) {
      Tensor dX = as_matrix(dx);
      MM::grad_a(d, xs[1], dX);
    } else {
      MM::grad_b(as_matrix(xs[0]), d, dx);
    }
  }

  // ---- contract3d_1d(x, y[, bias])
  static void c1_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    start(n.nargs == 3 ? &xs[2] : nullptr, y);
    Tensor m = as_column(y, y.d.batch_size());
    MM::gemm_acc(as_matrix(xs[0]), xs[1], m);
  }
  static void c1_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned i,
                     Tensor& dx) {
    if (i == 2) bias_grad(dy, dx);
    else contract_bwd(xs, dy, i, dx);
  }

  // ---- contract3d_1d_1d(x, y, z[, bias]): M = x.y (a x b per batch element) is kept in n.mem for backward.
  static Tensor kept(const Node& n, const Tensor* xs, unsigned bd) {
    return Tensor(Dim({xs[0].d[0], xs[0].d[1]}, bd), n.mem);
  }
  static void c11_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    n.mem = ctx.scratch->allocate_floats(size_t(xs[0].d[0]) * xs[0].d[1] * y.d.bd);
    Tensor M = kept(n, xs, y.d.bd), m = as_column(M, xs[0].d[0] * xs[0].d[1]);
    fill<B>(M.v, M.d.size(), 0.f);
    MM::gemm_acc(as_matrix(xs[0]), xs[1], m);
    start(n.nargs == 4 ? &xs[3] : nullptr, y);
    MM::gemm_acc(M, xs[2], y);
  }
  static void c11_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                      Tensor& dx) {
    const Tensor M = kept(n, xs, y.d.bd);
    if (i == 3) {
      bias_grad(dy, dx);
    } else if (i == 2) {  // dz += M^T dt
      MM::grad_b(M, dy, dx);
    } else {  // dM_b = dt_b z_b^T, then as contract3d_1d
      Tensor dM(M.d, ctx.scratch->allocate_floats(M.d.size()));
      fill<B>(dM.v, dM.d.size(), 0.f);
      MM::grad_a(dy, xs[2], dM);
      contract_bwd(xs, dM, i, dx);
    }
  }
};

template <class B>
void register_contract(DeviceOpTable& t) {
  using O = ContractOps<B>;
  t.set(OpId::contract3d_1d, O::c1_fwd, O::c1_bwd);
  t.set(OpId::contract3d_1d_bias, O::c1_fwd, O::c1_bwd);
  t.set(OpId::contract3d_1d_1d, O::c11_fwd, O::c11_bwd);
  t.set(OpId::contract3d_1d_1d_bias, O::c11_fwd, O::c11_bwd);
}

}  // namespace dg::dev

// Device ops of matmul, affine_transform, transpose and dot_product
// (csrc/ops/matmul.cc). Every product is one sgemm (a batch-1 matrix times a
// batch of inputs laid side by side, as on the CPU) or one strided-batched
// sgemm, with cuBLAS's column-major arguments.
#pragma once
#include "device/common.h"
#include "kernels/arith.h"
#include "kernels/matmul.h"
#include "kernels/select.h"

namespace dg::dev {

template <class B>
struct MatmulOps {
  // Y += A X, batches broadcast.
  static void gemm_acc(const Tensor& A, const Tensor& X, Tensor& Y) {
    const int m = A.d.rows(), k = A.d.cols();
    if (A.d.bd == 1 && X.d.bd == Y.d.bd) {
      B::sgemm(false, false, m, Y.d.size() / m, k, 1.f, A.v, m, X.v, k, 1.f, Y.v, m);
      return;
    }
    const int n = Y.d.batch_size() / m;
    B::sgemm_strided_batched(false, false, m, n, k, 1.f, A.v, m, A.d.bd == 1 ? 0 : (long long)m * k, X.v, k,
                             X.d.bd == 1 ? 0 : (long long)k * n, 1.f, Y.v, m, (long long)m * n, Y.d.bd);
  }
  // dA += dY X^T; a batch-1 dA collects the sum over the batch.
  static void grad_a(const Tensor& dY, const Tensor& X, Tensor& dA) {
    const int m = dA.d.rows(), k = dA.d.cols(), n = dY.d.batch_size() / m;
    if (dA.d.bd == 1 && X.d.bd == dY.d.bd) {
      B::sgemm(false, true, m, k, n * dY.d.bd, 1.f, dY.v, m, X.v, k, 1.f, dA.v, m);
    } else if (dA.d.bd == dY.d.bd) {
      B::sgemm_strided_batched(false, true, m, k, n, 1.f, dY.v, m, (long long)m * n, X.v, k,
                               X.d.bd == 1 ? 0 : (long long)k * n, 1.f, dA.v, m, (long long)m * k, dY.d.bd);
    } else {  // dA and X batch 1, dY batched: accumulate one product per batch element
      for (unsigned b = 0; b < dY.d.bd; ++b)
        B::sgemm(false, true, m, k, n, 1.f, dY.v + size_t(b) * m * n, m, X.v, k, 1.f, dA.v, m);
    }
  }
  // dX += A^T dY; a batch-1 dX collects the sum over the batch.
  static void grad_b(const Tensor& A, const Tensor& dY, Tensor& dX) {
    const int m = A.d.rows(), k = A.d.cols(), n = dY.d.batch_size() / m;
    if (A.d.bd == 1 && dX.d.bd == dY.d.bd) {
      B::sgemm(true, false, k, n * dY.d.bd, m, 1.f, A.v, m, dY.v, m, 1.f, dX.v, k);
    } else if (dX.d.bd == dY.d.bd) {
      B::sgemm_strided_batched(true, false, k, n, m, 1.f, A.v, m, A.d.bd == 1 ? 0 : (long long)m * k, dY.v, m,
                               (long long)m * n, 1.f, dX.v, k, (long long)k * n, dY.d.bd);
    } else {
      for (unsigned b = 0; b < dY.d.bd; ++b)
        B::sgemm(true, false, k, n, m, 1.f, A.v + (A.d.bd == 1 ? 0 : size_t(b) * m * k), m,
                 dY.v + size_t(b) * m * n, m, 1.f, dX.v, k);
    }
  }

  static void matmul_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    fill<B>(y.v, y.d.size(), 0.f);
    gemm_acc(xs[0], xs[1], y);
  }
  static void matmul_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned i,
                         Tensor& dx) {
    if (i == 0) grad_a(dy, xs[1], dx);
    else grad_b(xs[0], dy, dx);
  }

  // y = x0 + x1 x2 + x3 x4 + ...
  static void affine_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const Tensor& bias = xs[0];
    B::launch(y.d.size(), kern::BiasFill{bias.v, y.v, static_cast<unsigned>(y.d.batch_size()), static_cast<unsigned>(bias.d.batch_size()), bias.d.bd});
    for (unsigned k = 1; k < n.nargs; k += 2) gemm_acc(xs[k], xs[k + 1], y);
  }
  static void affine_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned i,
                         Tensor& dx) {
    if (i == 0) {  // the bias: dy summed over the columns and batch elements it was repeated to
      kern::Shape sx = shape_of(dx.d), sy = shape_of(dy.d);
      if (dx.d.nd == 1 || dx.d.cols() == 1) {  // one column: stretched over y's columns
        sx.d[1] = 1;
        sy.d[0] = dy.d.rows();
        sy.d[1] = dy.d.batch_size() / dy.d.rows();
        sy.d[2] = sy.d[3] = 1;
      }
      B::launch(dx.d.size(), kern::SumTo{dy.v, dx.v, sx, sy, 1.f});
    } else if (i % 2 == 1) {
      grad_a(dy, xs[i + 1], dx);
    } else {
      grad_b(xs[i - 1], dy, dx);
    }
  }

  // transpose: the matrix transpose when the node has no dims (the default
  // [1, 0]), else the permutation dims (int_data, checked when the node was built):
  // y's axis i walks x with the stride of x's axis dims[i], the batch last: a
  // strided read of x (the kernels of strided_select, kernels/select.h).
  static kern::StridedMap permute_map(const DeviceCtx& ctx, const Node& n, const Dim& x, const Dim& y) {
    const int32_t* p = ctx.ints + n.aux0;
    uint32_t stride[4], s = 1;
    for (unsigned a = 0; a < 4; ++a) stride[a] = s, s *= x[a];
    kern::StridedMap m;
    for (unsigned i = 0; i < 5; ++i) {
      m.from[i] = 0;
      m.stride[i] = 1;
      m.count[i] = i < 4 ? y[i] : y.bd;
      m.xstride[i] = i < 4 ? (i < n.naux ? stride[p[i]] : 0) : static_cast<uint32_t>(x.batch_size());
    }
    return m;
  }
  static void transpose_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    if (n.naux) B::launch(y.d.size(), kern::StridedForward{xs[0].v, y.v, permute_map(ctx, n, xs[0].d, y.d)});
    else B::launch(y.d.size(), kern::TransposeForward{xs[0].v, y.v, {xs[0].d.rows(), xs[0].d.cols()}});
  }
  static void transpose_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                            Tensor& dx) {
    if (n.naux) B::launch(dy.d.size(), kern::StridedBackward{dy.v, dx.v, permute_map(ctx, n, dx.d, dy.d)});
    else B::launch(dy.d.size(), kern::TransposeBackward{dy.v, dx.v, {dx.d.rows(), dx.d.cols()}});
  }
  static void dot_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch_blocks(y.d.bd, kern::DotForward{xs[0].v, xs[1].v, y.v, uint32_t(xs[0].d.batch_size()), xs[0].d.bd,
                                              xs[1].d.bd});
  }
  static void dot_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                      Tensor& dx) {
    const Tensor& other = xs[1 - i];
    B::launch(dx.d.size(), kern::DotBackward{other.v, dy.v, dx.v, uint32_t(dx.d.batch_size()), other.d.bd, dx.d.bd,
                                             y.d.bd});
  }
};

template <class B>
void register_matmul(DeviceOpTable& t) {
  t.set(OpId::matmul, MatmulOps<B>::matmul_fwd, MatmulOps<B>::matmul_bwd);
  t.set(OpId::affine_transform, MatmulOps<B>::affine_fwd, MatmulOps<B>::affine_bwd);
  t.set(OpId::transpose, MatmulOps<B>::transpose_fwd, MatmulOps<B>::transpose_bwd);
  t.set(OpId::dot_product, MatmulOps<B>::dot_fwd, MatmulOps<B>::dot_bwd);
}

}  // namespace dg::dev

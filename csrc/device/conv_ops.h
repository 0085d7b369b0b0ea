// Device ops of conv2d, conv2d_bias and maxpooling2d (csrc/ops/conv.cc).
// A convolution is im2col + one strided-batched sgemm per direction (the
// batch elements' receptive-field matrices side by side in scratch memory),
// as the CPU does it one batch element at a time.
#pragma once
#include "device/common.h"
#include "kernels/arith.h"
#include "kernels/conv.h"

namespace dg::dev {

template <class B>
struct ConvOps {
  static kern::ConvGeom conv_geom(const Node& n, const Dim& x, const Dim& f) {
    return kern::conv_geom(x[0], x[1], x[2], f[0], f[1], n.i0, n.i1, n.f0 != 0.f);
  }
  // Every batch element's P x K matrix, in scratch memory.
  static float* im2col(DeviceCtx& ctx, const kern::ConvGeom& g, const Tensor& x, unsigned bd) {
    const size_t n = size_t(g.P()) * g.K() * bd;
    float* cols = ctx.scratch->allocate_floats(n);
    B::launch(static_cast<uint32_t>(n),
              kern::Im2Col{x.v, cols, g, x.d.bd == 1 ? 0u : static_cast<uint32_t>(x.d.batch_size())});
    return cols;
  }
  static long long batch_stride(const Tensor& t) { return t.d.bd == 1 ? 0 : static_cast<long long>(t.d.batch_size()); }

  // y_b (P x Co) = cols_b (P x K) F_b (K x Co) [+ bias]
  static void conv_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const Tensor &x = xs[0], &f = xs[1];
    const kern::ConvGeom g = conv_geom(n, x.d, f.d);
    const int P = static_cast<int>(g.P()), K = static_cast<int>(g.K()), Co = static_cast<int>(f.d[3]);
    const float* cols = im2col(ctx, g, x, y.d.bd);
    B::sgemm_strided_batched(false, false, P, Co, K, 1.f, cols, P, (long long)P * K, f.v, K, batch_stride(f), 0.f,
                             y.v, P, (long long)P * Co, static_cast<int>(y.d.bd));
    if (n.nargs == 3) {
      kern::Shape sb;
      sb.d[2] = static_cast<uint32_t>(Co);
      sb.bd = xs[2].d.bd;
      B::launch(static_cast<uint32_t>(y.d.size()), kern::AddBroadcast{xs[2].v, y.v, sb, shape_of(y.d)});
    }
  }
  static void conv_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                       Tensor& dx) {
    const Tensor &x = xs[0], &f = xs[1];
    const kern::ConvGeom g = conv_geom(n, x.d, f.d);
    const int P = static_cast<int>(g.P()), K = static_cast<int>(g.K()), Co = static_cast<int>(f.d[3]);
    const int bd = static_cast<int>(y.d.bd);
    if (i == 0) {  // dcols_b = dY_b F_b^T, then dx += col2im(dcols)
      float* dcols = ctx.scratch->allocate_floats(size_t(P) * K * bd);
      B::sgemm_strided_batched(false, true, P, K, Co, 1.f, dy.v, P, (long long)P * Co, f.v, K, batch_stride(f), 0.f,
                               dcols, P, (long long)P * K, bd);
      B::launch(static_cast<uint32_t>(dx.d.size()), kern::Col2ImAdd{dcols, dx.v, g, dx.d.bd, y.d.bd});
    } else if (i == 1) {  // dF_b += cols_b^T dY_b (a batch-1 filter collects every batch element's)
      const float* cols = im2col(ctx, g, x, y.d.bd);
      if (dx.d.bd == y.d.bd) {
        B::sgemm_strided_batched(true, false, K, Co, P, 1.f, cols, P, (long long)P * K, dy.v, P, (long long)P * Co,
                                 1.f, dx.v, K, (long long)K * Co, bd);
      } else {
        for (int b = 0; b < bd; ++b)
          B::sgemm(true, false, K, Co, P, 1.f, cols + size_t(b) * P * K, P, dy.v + size_t(b) * P * Co, P, 1.f, dx.v,
                   K);
      }
    } else {  // the bias: dY summed over positions (and the batch for a batch-1 bias)
      kern::Shape sb;
      sb.d[2] = static_cast<uint32_t>(Co);
      sb.bd = dx.d.bd;
      B::launch(static_cast<uint32_t>(dx.d.size()), kern::SumTo{dy.v, dx.v, sb, shape_of(dy.d), 1.f});
    }
  }

  // maxpooling2d: i0 = kh | kw << 16, i1 = sh | sw << 16; each window's argmax is kept in n.mem.
  static kern::ConvGeom pool_geom(const Node& n, const Dim& x) {
    const auto u = [](int v) { return static_cast<uint32_t>(v); };
    return kern::conv_geom(x[0], x[1], x[2], u(n.i0) & 0xFFFFu, u(n.i0) >> 16, u(n.i1) & 0xFFFFu, u(n.i1) >> 16,
                           n.f0 != 0.f);
  }
  static void pool_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    auto* at = static_cast<int32_t*>(ctx.scratch->allocate(sizeof(int32_t) * y.d.size()));
    n.mem = reinterpret_cast<float*>(at);
    B::launch(static_cast<uint32_t>(y.d.size()), kern::MaxPoolForward{xs[0].v, y.v, at, pool_geom(n, xs[0].d)});
  }
  static void pool_bwd(DeviceCtx&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned,
                       Tensor& dx) {
    B::launch(static_cast<uint32_t>(dy.d.size()),
              kern::MaxPoolBackward{dy.v, reinterpret_cast<const int32_t*>(n.mem), dx.v,
                                    static_cast<uint32_t>(y.d.batch_size()),
                                    static_cast<uint32_t>(xs[0].d.batch_size())});
  }
};

template <class B>
void register_conv(DeviceOpTable& t) {
  using O = ConvOps<B>;
  t.set(OpId::conv2d, O::conv_fwd, O::conv_bwd);
  t.set(OpId::conv2d_bias, O::conv_fwd, O::conv_bwd);
  t.set(OpId::maxpooling2d, O::pool_fwd, O::pool_bwd);
}

}  // namespace dg::dev

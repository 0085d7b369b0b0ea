// Device ops of the fused LSTM kernels (csrc/ops/lstm.cc). The gates op's
// arguments are [h, Wx, Wh, b, (mask_x, mask_h), x_1, ..., x_k]; its inputs
// are gathered into one column per batch element (concatenated and masked)
// so each product is one sgemm for shared (batch-1) weights, or one
// strided-batched sgemm for per-element weights.
#pragma once
#include "device/common.h"
#include "kernels/lstm.h"
#include "kernels/matmul.h"
#include "kernels/random.h"
#include "ops/lstm_weights.h"

namespace dg::dev {

template <class B>
struct LstmOps {
  static constexpr unsigned kH = lstm::kH, kWx = lstm::kWx, kWh = lstm::kWh, kB = lstm::kB;

  struct Args {
    unsigned first_x, nx, H, I;
    bool dropout;
  };
  static Args args_of(const Node& n, const Tensor* xs) {
    Args a;
    a.dropout = n.i1 != 0;
    a.first_x = a.dropout ? 6 : 4;
    a.nx = n.nargs - a.first_x;
    a.H = xs[kH].d.rows();
    a.I = 0;
    for (unsigned k = 0; k < a.nx; ++k) a.I += xs[a.first_x + k].d.rows();
    return a;
  }

  // X (I x bd): the inputs concatenated, times mask_x when masked.
  static float* gather_x(DeviceCtx& ctx, const Args& a, const Tensor* xs, unsigned bd, bool masked) {
    float* X = ctx.scratch->allocate_floats(size_t(a.I) * bd);
    const Tensor* mask = masked && a.dropout ? &xs[4] : nullptr;
    unsigned row = 0;
    for (unsigned k = 0; k < a.nx; ++k) {
      const Tensor& x = xs[a.first_x + k];
      const uint32_t rows = x.d.rows();
      B::launch(rows * bd, kern::StackRows{x.v, rows, x.d.bd, mask ? mask->v : nullptr, mask ? mask->d.bd : 1u, X,
                                            a.I, row});
      row += rows;
    }
    return X;
  }
  // Hm (H x bd): h_tm1, times mask_h when masked.
  static float* gather_h(DeviceCtx& ctx, const Args& a, const Tensor* xs, unsigned bd, bool masked) {
    float* Hm = ctx.scratch->allocate_floats(size_t(a.H) * bd);
    const Tensor* mask = masked && a.dropout ? &xs[5] : nullptr;
    B::launch(a.H * bd, kern::StackRows{xs[kH].v, a.H, xs[kH].d.bd, mask ? mask->v : nullptr,
                                         mask ? mask->d.bd : 1u, Hm, a.H, 0});
    return Hm;
  }

  // Z (4H x bd) += W X, X k x bd.
  static void gemm_acc(const Tensor& W, const float* X, unsigned bd, float* Z) {
    const int m = W.d.rows(), k = W.d.cols();
    if (W.d.bd == 1) B::sgemm(false, false, m, bd, k, 1.f, W.v, m, X, k, 1.f, Z, m);
    else B::sgemm_strided_batched(false, false, m, 1, k, 1.f, W.v, m, (long long)m * k, X, k, k, 1.f, Z, m, m, bd);
  }

  // The weights as forward used them (ops/lstm_weights.h).
  using Weights = lstm::Weights;
  static Weights weights_of(const Node& n, const Tensor* xs) { return lstm::weights_of(n, xs); }
  // Weight noise: noisy copies drawn from the counter-based stream as the CPU
  // op draws them (csrc/ops/lstm.cc: normal k of the three weights in turn
  // takes words 2k, 2k + 1 from one block), so both add the same noise.
  static void draw_weight_noise(DeviceCtx& ctx, const Node& n, const Tensor* xs) {
    n.mem = nullptr;
    if (n.f0 <= 0.f) return;
    const size_t total = xs[kWx].d.size() + xs[kWh].d.size() + xs[kB].d.size();
    n.mem = ctx.scratch->allocate_floats(total);
    uint64_t counter = *ctx.counter;
    *ctx.counter += 2 * total;
    float* out = n.mem;
    for (unsigned k : {kWx, kWh, kB}) {
      const uint32_t size = static_cast<uint32_t>(xs[k].d.size());
      B::launch(size, kern::GaussianNoiseForward{xs[k].v, out, ctx.seed, counter, n.f0});
      out += size;
      counter += 2ull * size;
    }
  }

  static void gates_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const unsigned bd = y.d.bd;
    const Args a = args_of(n, xs);
    draw_weight_noise(ctx, n, xs);
    const Weights w = weights_of(n, xs);
    const uint32_t rows = 4 * a.H;
    B::launch(rows * bd, kern::BiasFill{w.b.v, y.v, rows, rows, w.b.d.bd});
    gemm_acc(w.Wx, gather_x(ctx, a, xs, bd, true), bd, y.v);
    gemm_acc(w.Wh, gather_h(ctx, a, xs, bd, true), bd, y.v);
    B::launch(rows * bd, kern::GatesActivate{y.v, a.H});
  }

  static void gates_bwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                        unsigned i, Tensor& dx) {
    const unsigned bd = y.d.bd;
    const Args a = args_of(n, xs);
    const int H4 = 4 * a.H;
    float* dz = ctx.scratch->allocate_floats(size_t(H4) * bd);
    B::launch(H4 * bd, kern::GatesDz{y.v, dy.v, dz, a.H});
    if (i == kB) {
      B::launch(dx.d.size(), kern::AddRows{dz, uint32_t(H4), 0, uint32_t(H4), bd, nullptr, 1, dx.v, dx.d.bd});
      return;
    }
    if (i == kWx || i == kWh) {  // dW += dZ X^T, summed over the batch when W has batch 1
      const int k = i == kWx ? a.I : a.H;
      const float* X = i == kWx ? gather_x(ctx, a, xs, bd, true) : gather_h(ctx, a, xs, bd, true);
      if (dx.d.bd == 1) B::sgemm(false, true, H4, k, bd, 1.f, dz, H4, X, k, 1.f, dx.v, H4);
      else B::sgemm_strided_batched(false, true, H4, k, 1, 1.f, dz, H4, H4, X, k, k, 1.f, dx.v, H4,
                                    (long long)H4 * k, bd);
      return;
    }
    // T = W^T dZ: the gradient of the masked inputs (I x bd) or of the masked h (H x bd).
    const bool through_h = i == kH || (a.dropout && i == 5);
    const Weights w = weights_of(n, xs);
    const Tensor& W = through_h ? w.Wh : w.Wx;
    const int k = W.d.cols();
    float* T = ctx.scratch->allocate_floats(size_t(k) * bd);
    if (W.d.bd == 1) B::sgemm(true, false, k, bd, H4, 1.f, W.v, H4, dz, H4, 0.f, T, k);
    else B::sgemm_strided_batched(true, false, k, 1, H4, 1.f, W.v, H4, (long long)H4 * k, dz, H4, H4, 0.f, T, k, k, bd);
    if (a.dropout && (i == 4 || i == 5)) {  // d mask = T .* (the unmasked input)
      const float* raw = i == 4 ? gather_x(ctx, a, xs, bd, false) : gather_h(ctx, a, xs, bd, false);
      B::launch(dx.d.size(), kern::AddRows{T, uint32_t(k), 0, uint32_t(k), bd, raw, bd, dx.v, dx.d.bd});
      return;
    }
    const Tensor* mask = a.dropout ? &xs[through_h ? 5 : 4] : nullptr;  // d input = T .* mask
    uint32_t row = 0;
    if (!through_h)
      for (unsigned q = a.first_x; q < i; ++q) row += xs[q].d.rows();
    B::launch(dx.d.size(), kern::AddRows{T, uint32_t(k), row, dx.d.rows(), bd, mask ? mask->v : nullptr,
                                         mask ? mask->d.bd : 1u, dx.v, dx.d.bd});
  }
  // vanilla_lstm_c(c_tm1, gates) and vanilla_lstm_h(c, gates): H = y's rows
  static kern::CellArgs cell_args(const Tensor* xs, const Tensor& y) {
    return {xs[0].v, xs[1].v, y.d.rows(), xs[0].d.bd, xs[1].d.bd};
  }
  static void c_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::LstmCForward{cell_args(xs, y), y.v});
  }
  static void c_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                    Tensor& dx) {
    B::launch(dx.d.size(), kern::LstmCBackward{cell_args(xs, y), dy.v, dx.v, y.d.bd, dx.d.bd, i});
  }
  static void h_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::LstmHForward{cell_args(xs, y), y.v});
  }
  static void h_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                    Tensor& dx) {
    B::launch(dx.d.size(), kern::LstmHBackward{cell_args(xs, y), dy.v, dx.v, y.d.bd, dx.d.bd, i});
  }
};

template <class B>
void register_lstm(DeviceOpTable& t) {
  using O = LstmOps<B>;
  t.set(OpId::vanilla_lstm_gates, O::gates_fwd, O::gates_bwd);
  t.set(OpId::vanilla_lstm_c, O::c_fwd, O::c_bwd);
  t.set(OpId::vanilla_lstm_h, O::h_fwd, O::h_bwd);
}

}  // namespace dg::dev

// Device ops of the random ops: noise and the dropout variants dropout_dim,
// dropout_batch, block_dropout (csrc/ops/noise.cc; plain dropout is in
// shape_noise_ops.h) and random_normal, random_uniform, random_bernoulli,
// random_gumbel (csrc/ops/inputs.cc). Each draw takes the next unused block
// of the graph's device RNG counter.
#pragma once
#include "device/common.h"
#include "kernels/random.h"

namespace dg::dev {

template <class B>
struct RandomOps {
  // Counters for n draws, and the counter advanced past them.
  static uint64_t take(DeviceCtx& ctx, uint64_t n) {
    const uint64_t c = *ctx.counter;
    *ctx.counter += n;
    return c;
  }

  // noise: stddev 0 is the identity (the value aliases the argument), as on the CPU
  static void noise_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    if (n.f0 == 0.f) {
      y.v = xs[0].v;
      return;
    }
    alloc(ctx, y);
    const uint32_t size = static_cast<uint32_t>(y.d.size());
    B::launch(size, kern::GaussianNoiseForward{xs[0].v, y.v, ctx.seed, take(ctx, 2ull * size), n.f0});
  }
  static void identity_bwd(DeviceCtx&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                           Tensor& dx) {
    axpy<B>(dy.v, dx.v, dx.d.size());
  }

  // The mask layouts of the variants (as csrc/ops/noise.cc's).
  static kern::MaskLayout layout(const Node& n, const Dim& x) {
    const uint32_t bs = static_cast<uint32_t>(x.batch_size());
    switch (n.op) {
      case OpId::dropout_dim: {
        uint32_t inner = 1, outer = 1;
        for (unsigned i = 0; i < static_cast<unsigned>(n.i0); ++i) inner *= x[i];
        for (unsigned i = n.i0 + 1; i < x.nd; ++i) outer *= x[i];
        return {outer * x.bd, x[n.i0], inner};
      }
      case OpId::dropout_batch: return {x.bd, bs, 1};
      default: return {1, static_cast<uint32_t>(x.size()), 1};  // block_dropout
    }
  }
  static void dropout_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    const float p = n.f0;
    if (p == 0.f) {
      n.mem = nullptr;
      y.v = xs[0].v;
      return;
    }
    const kern::MaskLayout L = layout(n, xs[0].d);
    const uint32_t nmask = L.groups * L.inner;
    n.mem = ctx.scratch->allocate_floats(nmask);
    const double keep = 1.0 - static_cast<double>(p);
    const uint32_t threshold = static_cast<uint32_t>(keep * 4294967296.0);  // keep < 1 here
    B::launch(nmask, kern::DrawMask{n.mem, ctx.seed, take(ctx, nmask), threshold, 1.f / (1.f - p),
                                    n.op == OpId::block_dropout && p == 1.f});
    alloc(ctx, y);
    B::launch(static_cast<uint32_t>(y.d.size()), kern::ApplyMask{xs[0].v, n.mem, y.v, L, false});
  }
  static void dropout_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                          Tensor& dx) {
    if (!n.mem) axpy<B>(dy.v, dx.v, dx.d.size());
    else B::launch(static_cast<uint32_t>(dx.d.size()), kern::ApplyMask{dy.v, n.mem, dx.v, layout(n, dx.d), true});
  }

  template <kern::Draw K>
  static void random_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    alloc(ctx, y);
    const uint32_t size = static_cast<uint32_t>(y.d.size());
    const uint64_t draws = K == kern::Draw::normal ? 2ull * size : size;
    B::launch(size, kern::RandomFill{y.v, ctx.seed, take(ctx, draws), K, n.f0, n.f1});
  }
};

template <class B>
void register_random(DeviceOpTable& t) {
  using O = RandomOps<B>;
  using K = kern::Draw;
  t.set(OpId::noise, O::noise_fwd, O::identity_bwd);
  t.set(OpId::dropout_dim, O::dropout_fwd, O::dropout_bwd);
  t.set(OpId::dropout_batch, O::dropout_fwd, O::dropout_bwd);
  t.set(OpId::block_dropout, O::dropout_fwd, O::dropout_bwd);
  t.set(OpId::random_normal, O::template random_fwd<K::normal>, no_backward);
  t.set(OpId::random_uniform, O::template random_fwd<K::uniform>, no_backward);
  t.set(OpId::random_bernoulli, O::template random_fwd<K::bernoulli>, no_backward);
  t.set(OpId::random_gumbel, O::template random_fwd<K::gumbel>, no_backward);
}

}  // namespace dg::dev

// Dropout and additive noise. Inverted dropout, as DyNet: kept units are scaled
// by 1/(1-p), so nothing changes at test time. The mask (0 or 1/(1-p) per
// unit) is drawn in forward from the graph RNG into per-node scratch memory
// (Node::mem), so backward applies exactly the mask forward used:
// dx += dy * mask. p == 0 (and stddev == 0 for noise) is the identity: the
// result aliases the argument and no random numbers are drawn.
#include <cmath>
#include <random>

#include "ops/common.h"

namespace dg {
namespace {

Dim dropout_dim_check(const char* op, const Node& n, const Dim* xs) {
  const float p = n.f0;
  if (!(p >= 0.f && p <= 1.f))
    shape_error(op, "dropout probability p must be in [0, 1], got " + std::to_string(p), xs, 1);
  return xs[0];
}

// m[0..n) = 1/(1-p) with probability 1-p, else 0. As in DyNet the mask is
// (0 or 1) * 1/(1-p), so p = 1 gives 0 * inf = NaN everywhere (DyNet's values).
float* draw_mask(OpContext& ctx, unsigned n, float p) {
  float* m = scratch(ctx, n);
  const float keep = 1.f / (1.f - p);
  // mt19937 yields uniform 32-bit words: keep a unit when the word is below (1-p) * 2^32.
  const uint64_t threshold = static_cast<uint64_t>((1.0 - static_cast<double>(p)) * 4294967296.0);
  for (unsigned k = 0; k < n; ++k) m[k] = (static_cast<uint64_t>(ctx.rng()) < threshold ? 1.f : 0.f) * keep;
  return m;
}

// The layout of a mask that is shared along some units: x (one batch element
// after another) is `groups` groups of `len` runs of `inner` floats; run j of
// group o uses mask values mask[o*inner .. (o+1)*inner).
struct MaskLayout {
  unsigned groups, len, inner;
};

// out (=, or += when Acc) in[...] * mask, following layout L.
template <bool Acc>
void apply_mask(const MaskLayout& L, const float* in, const float* mask, float* out) {
  if (L.len == 1) {  // one mask value per unit
    const unsigned n = L.groups * L.inner;
    if (Acc) ArrMap(out, n) += ArrMap(const_cast<float*>(in), n) * ArrMap(const_cast<float*>(mask), n);
    else ArrMap(out, n) = ArrMap(const_cast<float*>(in), n) * ArrMap(const_cast<float*>(mask), n);
    return;
  }
  for (unsigned o = 0; o < L.groups; ++o) {
    if (L.inner == 1) {  // one mask value for a whole run of len units
      const unsigned off = o * L.len;
      ArrMap src(const_cast<float*>(in) + off, L.len), dst(out + off, L.len);
      if (Acc) dst += src * mask[o];
      else dst = src * mask[o];
      continue;
    }
    ArrMap m(const_cast<float*>(mask) + o * L.inner, L.inner);
    for (unsigned j = 0; j < L.len; ++j) {
      const unsigned off = (o * L.len + j) * L.inner;
      ArrMap src(const_cast<float*>(in) + off, L.inner), dst(out + off, L.inner);
      if (Acc) dst += src * m;
      else dst = src * m;
    }
  }
}

// Mask layouts of the four dropout variants (n.op decides; dropout_dim's axis is i0).
MaskLayout layout(const Node& n, const Dim& x) {
  switch (n.op) {
    case OpId::dropout_dim: {
      unsigned a = n.i0, inner = 1, outer = 1;
      for (unsigned i = 0; i < a; ++i) inner *= x[i];
      for (unsigned i = a + 1; i < x.nd; ++i) outer *= x[i];
      return {outer * x.bd, x[a], inner};
    }
    case OpId::dropout_batch:
      return {x.bd, x.batch_size(), 1};
    case OpId::block_dropout:
      return {1, x.size(), 1};
    default:
      return {1, 1, x.size()};
  }
}

Dim dropout_dim_(const OpContext&, const Node& n, const Dim* xs) {
  return dropout_dim_check("dropout", n, xs);
}
Dim dropout_batch_dim(const OpContext&, const Node& n, const Dim* xs) {
  return dropout_dim_check("dropout_batch", n, xs);
}
Dim block_dropout_dim(const OpContext&, const Node& n, const Dim* xs) {
  return dropout_dim_check("block_dropout", n, xs);
}
Dim dropout_dim_dim(const OpContext&, const Node& n, const Dim* xs) {
  if (n.i0 < 0 || static_cast<unsigned>(n.i0) >= xs[0].nd)
    shape_error("dropout_dim", "axis " + std::to_string(n.i0) + " does not exist (tensor has " +
                                   std::to_string(xs[0].nd) + " axes)", xs, 1);
  return dropout_dim_check("dropout_dim", n, xs);
}

void dropout_any_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  const float p = n.f0;
  if (p == 0.f) {
    n.mem = nullptr;
    y.v = xs[0].v;
    return;
  }
  MaskLayout L = layout(n, xs[0].d);
  n.mem = draw_mask(ctx, L.groups * L.inner, p);
  if (n.op == OpId::block_dropout && p == 1.f) n.mem[0] = 0.f;  // DyNet drops the block to zeros here, not NaN
  alloc(ctx, y);
  apply_mask<false>(L, xs[0].v, n.mem, y.v);
}
void dropout_any_bwd(OpContext&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                     Tensor& dx) {
  if (!n.mem) {
    dx.vec() += dy.vec();
    return;
  }
  apply_mask<true>(layout(n, dx.d), dy.v, n.mem, dx.v);
}

// ---- noise: y = x + N(0, stddev^2) per unit; dy passes straight through.
Dim noise_dim(const OpContext&, const Node& n, const Dim* xs) {
  if (!(n.f0 >= 0.f) || std::isinf(n.f0))
    shape_error("noise", "stddev must be finite and >= 0, got " + std::to_string(n.f0), xs, 1);
  return xs[0];
}
void noise_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  if (n.f0 == 0.f) {
    y.v = xs[0].v;
    return;
  }
  alloc(ctx, y);
  std::normal_distribution<float> normal(0.f, n.f0);
  const float* x = xs[0].v;
  const unsigned size = y.d.size();
  for (unsigned k = 0; k < size; ++k) y.v[k] = x[k] + normal(ctx.rng);
}
void noise_bwd(OpContext&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
               Tensor& dx) {
  dx.vec() += dy.vec();
}

}  // namespace

DG_DEFINE_OP(dropout, dropout_dim_, dropout_any_fwd, dropout_any_bwd)
DG_DEFINE_OP(dropout_dim, dropout_dim_dim, dropout_any_fwd, dropout_any_bwd)
DG_DEFINE_OP(dropout_batch, dropout_batch_dim, dropout_any_fwd, dropout_any_bwd)
DG_DEFINE_OP(block_dropout, block_dropout_dim, dropout_any_fwd, dropout_any_bwd)
DG_DEFINE_OP(noise, noise_dim, noise_fwd, noise_bwd)

}  // namespace dg

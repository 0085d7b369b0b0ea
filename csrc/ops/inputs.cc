// Values that enter the graph: user data, constants, parameters, lookups, noise.
// Their shape is fixed by the caller (Node::dim in the prototype).
#include <cstring>
#include <random>

#include "ops/common.h"
#include "params/parameter.h"

namespace dg {
namespace {

Dim preset_dim(const OpContext&, const Node& n, const Dim*) { return n.dim; }

void no_backward(OpContext&, const Node&, const Tensor*, const Tensor&, const Tensor&,
                 unsigned, Tensor&) {}

// input: values copied from Python at construction (graph float_data).
void input_fwd(OpContext& ctx, const Node& n, const Tensor*, Tensor& y) {
  alloc(ctx, y);
  std::memcpy(y.v, ctx.float_data.data() + n.aux0, sizeof(float) * y.d.size());
}

// constant: every element equals f0 (zeros, ones, constant).
void constant_fwd(OpContext& ctx, const Node& n, const Tensor*, Tensor& y) {
  alloc(ctx, y);
  y.arr().setConstant(n.f0);
}

// parameter: aliases the parameter's storage; backward accumulates into its gradient.
void parameter_fwd(OpContext&, const Node& n, const Tensor*, Tensor& y) {
  y.v = const_cast<float*>(static_cast<ParameterStorage*>(n.ptr)->values.read());
}
void parameter_bwd(OpContext&, const Node& n, const Tensor*, const Tensor&,
                   const Tensor& dy, unsigned, Tensor&) {
  auto* p = static_cast<ParameterStorage*>(n.ptr);
  VecMap(p->grad.write(), p->grad.size()) += dy.vec();
  p->nonzero_grad = true;
}

// lookup: rows int_data[aux0 .. aux0+naux) of a LookupParameterStorage, one per batch element.
Dim lookup_dim(const OpContext& ctx, const Node& n, const Dim*) {
  auto* p = static_cast<LookupParameterStorage*>(n.ptr);
  for (unsigned k = 0; k < n.naux; ++k) {
    int32_t r = ctx.int_data[n.aux0 + k];
    if (r < 0 || static_cast<unsigned>(r) >= p->rows)
      throw IndexError("lookup: index " + std::to_string(r) + " out of range for " + p->name +
                       " with " + std::to_string(p->rows) + " rows");
  }
  return n.dim;
}
void lookup_fwd(OpContext& ctx, const Node& n, const Tensor*, Tensor& y) {
  auto* p = static_cast<LookupParameterStorage*>(n.ptr);
  const int32_t* idx = ctx.int_data.data() + n.aux0;
  if (n.naux == 1) {  // a single row: alias the table, no copy
    y.v = const_cast<float*>(p->row_read(idx[0]));
    return;
  }
  alloc(ctx, y);
  const size_t rs = p->row_size();
  for (unsigned b = 0; b < n.naux; ++b) std::memcpy(y.v + b * rs, p->row_read(idx[b]), sizeof(float) * rs);
}
void lookup_bwd(OpContext& ctx, const Node& n, const Tensor*, const Tensor&,
                const Tensor& dy, unsigned, Tensor&) {
  auto* p = static_cast<LookupParameterStorage*>(n.ptr);
  const int32_t* idx = ctx.int_data.data() + n.aux0;
  const size_t rs = p->row_size();
  float* grad = p->grad.write();
  for (unsigned b = 0; b < n.naux; ++b) {
    VecMap(grad + idx[b] * rs, rs) += VecMap(dy.v + b * rs, rs);
    p->touch(idx[b]);
  }
}

// lookup_table: the whole table as one (row shape..., rows) tensor, as DyNet's
// parameter(LookupParameter) gives it (tied embeddings, E^T h). Rows are
// contiguous, so the value aliases the storage; backward writes every row.
void lookup_table_fwd(OpContext&, const Node& n, const Tensor*, Tensor& y) {
  y.v = const_cast<float*>(static_cast<LookupParameterStorage*>(n.ptr)->values.read());
}
void lookup_table_bwd(OpContext&, const Node& n, const Tensor*, const Tensor&,
                      const Tensor& dy, unsigned, Tensor&) {
  auto* p = static_cast<LookupParameterStorage*>(n.ptr);
  VecMap(p->grad.write(), p->grad.size()) += dy.vec();
  p->all_touched = true;
}

// Random inputs: sampled once at forward; f0/f1 are the distribution's parameters.
template <class Dist>
void sample(OpContext& ctx, Tensor& y, Dist dist) {
  alloc(ctx, y);
  const size_t n = y.d.size();
  for (size_t k = 0; k < n; ++k) y.v[k] = dist(ctx.rng);
}
void random_normal_fwd(OpContext& ctx, const Node& n, const Tensor*, Tensor& y) {
  sample(ctx, y, std::normal_distribution<float>(n.f0, n.f1));
}
void random_uniform_fwd(OpContext& ctx, const Node& n, const Tensor*, Tensor& y) {
  sample(ctx, y, std::uniform_real_distribution<float>(n.f0, n.f1));
}
void random_bernoulli_fwd(OpContext& ctx, const Node& n, const Tensor*, Tensor& y) {
  std::bernoulli_distribution bern(n.f0);
  float scale = n.f1;
  sample(ctx, y, [&](std::mt19937& r) { return bern(r) ? scale : 0.f; });
}
void random_gumbel_fwd(OpContext& ctx, const Node& n, const Tensor*, Tensor& y) {
  std::uniform_real_distribution<float> u(0.f, 1.f);
  float mu = n.f0, beta = n.f1;
  sample(ctx, y, [&](std::mt19937& r) {
    float x = u(r);
    if (x <= 0.f) x = 1e-20f;
    return mu - beta * std::log(-std::log(x));
  });
}

}  // namespace

DG_DEFINE_OP(input, preset_dim, input_fwd, no_backward)
DG_DEFINE_OP(constant, preset_dim, constant_fwd, no_backward)
DG_DEFINE_OP(parameter, preset_dim, parameter_fwd, parameter_bwd)
DG_DEFINE_OP(lookup, lookup_dim, lookup_fwd, lookup_bwd)
DG_DEFINE_OP(lookup_table, preset_dim, lookup_table_fwd, lookup_table_bwd)
DG_DEFINE_OP(random_normal, preset_dim, random_normal_fwd, no_backward)
DG_DEFINE_OP(random_uniform, preset_dim, random_uniform_fwd, no_backward)
DG_DEFINE_OP(random_bernoulli, preset_dim, random_bernoulli_fwd, no_backward)
DG_DEFINE_OP(random_gumbel, preset_dim, random_gumbel_fwd, no_backward)

}  // namespace dg

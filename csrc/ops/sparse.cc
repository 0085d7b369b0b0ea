// Sparse normalisers of a score vector (each batch element separately):
//   sparsemax(x) (Martins & Astudillo 2016): the Euclidean projection of x onto
//     the probability simplex, p = max(x - tau, 0);
//   constrained_softmax(x, u) (Martins & Kreutzer 2017): the softmax of x with
//     upper bounds p <= u; entries that hit their bound (the active set A) are
//     fixed to u, the others share the remaining mass 1 - sum_A u as a softmax.
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "ops/common.h"

namespace dg {
namespace {

bool is_vector(const Dim& d) { return d.batch_size() == d.rows(); }

// ---- sparsemax(x)
Dim sparsemax_dim(const OpContext&, const Node&, const Dim* xs) {
  if (!is_vector(xs[0])) shape_error("sparsemax", "argument must be a vector", xs, 1);
  return xs[0];
}
void sparsemax_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned n = y.d.rows();
  std::vector<float> z(n);
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* x = xs[0].v + size_t(b) * n;
    z.assign(x, x + n);
    std::sort(z.begin(), z.end(), std::greater<float>());
    // Support size k: the largest k with 1 + k z_(k) > sum_{j<=k} z_(j).
    float cum = 0.f, tau = 0.f;
    for (unsigned k = 1; k <= n; ++k) {
      cum += z[k - 1];
      if (1.f + k * z[k - 1] > cum) tau = (cum - 1.f) / k;
    }
    for (unsigned j = 0; j < n; ++j) y.v[size_t(b) * n + j] = std::max(x[j] - tau, 0.f);
  }
}
// Jacobian on the support S: I - 1 1^T / |S|.
void sparsemax_bwd(OpContext&, const Node&, const Tensor*, const Tensor& y, const Tensor& dy, unsigned,
                   Tensor& dx) {
  const unsigned n = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float *p = y.v + size_t(b) * n, *d = dy.v + size_t(b) * n;
    float* out = dx.v + size_t(b) * n;
    float sum = 0.f;
    unsigned k = 0;
    for (unsigned j = 0; j < n; ++j)
      if (p[j] > 0.f) {
        sum += d[j];
        ++k;
      }
    for (unsigned j = 0; j < n; ++j)
      if (p[j] > 0.f) out[j] += d[j] - sum / k;
  }
}

// ---- constrained_softmax(x, u); node memory keeps the active set (1 = at its bound).
Dim csoftmax_dim(const OpContext&, const Node&, const Dim* xs) {
  if (!is_vector(xs[0]) || !xs[1].single_equal(xs[0]))
    shape_error("constrained_softmax", "x and the bounds u must be vectors of the same length", xs, 2);
  Dim r = xs[0];
  r.bd = joint_batch("constrained_softmax", xs, 2);
  return r;
}
void csoftmax_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  n.mem = scratch(ctx, y.d.size());
  const unsigned len = y.d.rows();
  std::vector<float> e(len);
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float *x = xs[0].batch_ptr(b), *u = xs[1].batch_ptr(b);
    float *p = y.v + size_t(b) * len, *active = n.mem + size_t(b) * len;
    const float mx = *std::max_element(x, x + len);
    for (unsigned j = 0; j < len; ++j) {
      e[j] = std::exp(x[j] - mx);
      active[j] = 0.f;
    }
    // Grow the active set until no free entry exceeds its bound.
    for (bool grew = true; grew;) {
      grew = false;
      float mass = 1.f, z = 0.f;
      for (unsigned j = 0; j < len; ++j) {
        if (active[j] != 0.f) mass -= u[j];
        else z += e[j];
      }
      for (unsigned j = 0; j < len; ++j) p[j] = active[j] != 0.f ? u[j] : (z > 0.f ? mass * e[j] / z : 0.f);
      for (unsigned j = 0; j < len; ++j)
        if (active[j] == 0.f && p[j] > u[j]) {
          active[j] = 1.f;
          grew = true;
        }
    }
  }
}
// Free entries S get p_j (g_j - s / m), bounds in A get g_i - s / m, where
// s = sum_S p_k g_k and m = 1 - sum_A u (the mass the free entries share).
void csoftmax_bwd(OpContext&, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                  Tensor& dx) {
  const unsigned len = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float *p = y.v + size_t(b) * len, *d = dy.v + size_t(b) * len, *active = n.mem + size_t(b) * len;
    const float* u = xs[1].batch_ptr(b);
    float s = 0.f, m = 1.f;
    for (unsigned j = 0; j < len; ++j) {
      if (active[j] != 0.f) m -= u[j];
      else s += p[j] * d[j];
    }
    const float r = m > 0.f ? s / m : 0.f;
    float* out = dx.batch_ptr(b);
    for (unsigned j = 0; j < len; ++j) {
      if (i == 0 && active[j] == 0.f) out[j] += p[j] * (d[j] - r);
      if (i == 1 && active[j] != 0.f) out[j] += d[j] - r;
    }
  }
}

}  // namespace

DG_DEFINE_OP(sparsemax, sparsemax_dim, sparsemax_fwd, sparsemax_bwd)
DG_DEFINE_OP(constrained_softmax, csoftmax_dim, csoftmax_fwd, csoftmax_bwd)

}  // namespace dg

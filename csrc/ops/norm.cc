// Normalisations: layer_norm (Ba et al. 2016) over all elements of each batch
// element, and weight_norm (Salimans & Kingma 2016). Gain and bias may have
// batch 1 (shared; their gradients sum over the batch) or the batch's size.
#include <cmath>

#include "ops/common.h"

namespace dg {
namespace {

// DyNet divides by (standard deviation + 1e-8).
constexpr float kLayerNormEps = 1e-8f;

struct Moments {
  float mean, sd;
};
Moments moments(const float* x, unsigned n) {
  ArrMap a(const_cast<float*>(x), n);
  float mu = a.mean();
  return {mu, std::sqrt((a - mu).square().mean())};
}

// ---- layer_norm(x, g, b) = g * (x - mean) / (sd + eps) + b
Dim layer_norm_dim(const OpContext&, const Node&, const Dim* xs) {
  if (!xs[1].single_equal(xs[0]) || !xs[2].single_equal(xs[0]))
    shape_error("layer_norm", "gain and bias must have the shape of x", xs, 3);
  Dim r = xs[0];
  r.bd = joint_batch("layer_norm", xs, 3);
  return r;
}
void layer_norm_fwd(OpContext& cg, const Node&, const Tensor* xs, Tensor& y) {
  alloc(cg, y);
  const unsigned n = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* x = xs[0].batch_ptr(b);
    Moments m = moments(x, n);
    ArrMap(y.v + size_t(b) * n, n) = ArrMap(xs[1].batch_ptr(b), n) * (ArrMap(const_cast<float*>(x), n) - m.mean) /
                                         (m.sd + kLayerNormEps) + ArrMap(xs[2].batch_ptr(b), n);
  }
}
void layer_norm_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                    Tensor& dx) {
  const unsigned n = y.d.batch_size();
  if (i == 2) {
    sum_to(dy, dx);
    return;
  }
  Eigen::ArrayXf xc, gy;
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* x = xs[0].batch_ptr(b);
    Moments m = moments(x, n);
    const float D = m.sd + kLayerNormEps;
    xc = ArrMap(const_cast<float*>(x), n) - m.mean;
    ArrMap d(dy.v + size_t(b) * n, n), out(dx.batch_ptr(b), n);
    if (i == 1) {
      out += d * xc / D;
      continue;
    }
    gy = d * ArrMap(xs[1].batch_ptr(b), n);
    out += (gy - gy.mean()) / D;
    if (m.sd > 0.f) out -= ((gy * xc).sum() / (D * D * n * m.sd)) * xc;
  }
}

// ---- weight_norm(w, g) = g * w / ||w||  (g has one element)
Dim weight_norm_dim(const OpContext&, const Node&, const Dim* xs) {
  if (xs[1].batch_size() != 1) shape_error("weight_norm", "gain g must have exactly one element", xs, 2);
  Dim r = xs[0];
  r.bd = joint_batch("weight_norm", xs, 2);
  return r;
}
void weight_norm_fwd(OpContext& cg, const Node&, const Tensor* xs, Tensor& y) {
  alloc(cg, y);
  const unsigned n = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    VecMap w(xs[0].batch_ptr(b), n);
    VecMap(y.v + size_t(b) * n, n) = (*xs[1].batch_ptr(b) / w.norm()) * w;
  }
}
void weight_norm_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                     Tensor& dx) {
  const unsigned n = y.d.batch_size();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    VecMap w(xs[0].batch_ptr(b), n), d(dy.v + size_t(b) * n, n);
    const float norm = w.norm(), proj = d.dot(w) / norm;  // dy . w_hat
    if (i == 1) {
      *dx.batch_ptr(b) += proj;
    } else {
      VecMap(dx.batch_ptr(b), n) += (*xs[1].batch_ptr(b) / norm) * (d - (proj / norm) * w);
    }
  }
}

}  // namespace

DG_DEFINE_OP(layer_norm, layer_norm_dim, layer_norm_fwd, layer_norm_bwd)
DG_DEFINE_OP(weight_norm, weight_norm_dim, weight_norm_fwd, weight_norm_bwd)

}  // namespace dg

#include "ops/common.h"

namespace dg {

Dim broadcast_dim(const char* op, const Dim* xs) {
  const Dim &a = xs[0], &b = xs[1];
  Dim r;
  r.nd = a.nd > b.nd ? a.nd : b.nd;
  for (unsigned i = 0; i < r.nd; ++i) {
    unsigned x = a[i], y = b[i];
    if (x != y && x != 1 && y != 1) shape_error(op, "shapes cannot be broadcast together", xs, 2);
    r.d[i] = x > y ? x : y;
  }
  r.bd = joint_batch(op, xs, 2);
  return r;
}

void rank1_acc(float* __restrict dA, const float* __restrict u, const float* __restrict v, unsigned m,
               unsigned k) {
  for (unsigned j = 0; j < k; ++j) {
    const float s = v[j];
    float* __restrict col = dA + size_t(j) * m;
    for (unsigned i = 0; i < m; ++i) col[i] += s * u[i];
  }
}

size_t broadcast_index(const Dim& x, const Dim& y, size_t k) {
  size_t idx = 0, stride = 1;
  for (unsigned ax = 0; ax < y.nd; ++ax) {
    size_t pos = k % y.d[ax];
    k /= y.d[ax];
    unsigned xn = x[ax];
    if (xn != 1) idx += pos * stride;
    stride *= xn;
  }
  return idx;
}

void sum_to(const Tensor& dy, Tensor& dx, float scale) {
  const Dim &yd = dy.d, &xd = dx.d;
  if (xd.single_equal(yd)) {
    if (xd.bd == yd.bd) {
      dx.arr() += scale * dy.arr();
    } else {  // dx is batch 1: sum over the batch
      VecMap(dx.v, xd.batch_size()) += scale * dy.cols_by_batch().rowwise().sum();
    }
    return;
  }
  const size_t ys = yd.batch_size(), xs = xd.batch_size();
  for (unsigned b = 0; b < yd.bd; ++b) {
    const float* src = dy.v + b * ys;
    float* dst = dx.v + (xd.bd == 1 ? 0 : b) * xs;
    for (size_t k = 0; k < ys; ++k) dst[broadcast_index(xd, yd, k)] += scale * src[k];
  }
}

}  // namespace dg

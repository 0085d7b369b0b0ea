// Kernel bodies of binary element-wise arithmetic with NumPy broadcasting
// (csrc/ops/arith.cc). Each op is a struct with f(a, b) and the two partial
// gradients ga / gb given a, b, y and dy.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

struct Add {
  DG_HD static float f(float a, float b) { return a + b; }
  DG_HD static float ga(float, float, float, float d) { return d; }
  DG_HD static float gb(float, float, float, float d) { return d; }
};
struct Sub {
  DG_HD static float f(float a, float b) { return a - b; }
  DG_HD static float ga(float, float, float, float d) { return d; }
  DG_HD static float gb(float, float, float, float d) { return -d; }
};
struct CMult {
  DG_HD static float f(float a, float b) { return a * b; }
  DG_HD static float ga(float, float b, float, float d) { return d * b; }
  DG_HD static float gb(float a, float, float, float d) { return d * a; }
};
struct CDiv {
  DG_HD static float f(float a, float b) { return a / b; }
  DG_HD static float ga(float, float b, float, float d) { return d / b; }
  DG_HD static float gb(float, float b, float y, float d) { return -d * y / b; }
};
struct Pow {
  DG_HD static float f(float a, float b) { return powf(a, b); }
  DG_HD static float ga(float a, float b, float, float d) { return d * b * powf(a, b - 1.f); }
  DG_HD static float gb(float a, float, float y, float d) { return d * y * logf(a); }
};
struct BMin {
  DG_HD static float f(float a, float b) { return a < b ? a : b; }
  DG_HD static float ga(float a, float b, float, float d) { return a <= b ? d : 0.f; }
  DG_HD static float gb(float a, float b, float, float d) { return a > b ? d : 0.f; }
};
struct BMax {
  DG_HD static float f(float a, float b) { return a > b ? a : b; }
  DG_HD static float ga(float a, float b, float, float d) { return a >= b ? d : 0.f; }
  DG_HD static float gb(float a, float b, float, float d) { return a < b ? d : 0.f; }
};

// y = Op(a, b), a and b broadcast to y's shape.
template <class Op>
struct BinaryForward {
  const float* a;
  const float* b;
  float* y;
  Shape sa, sb, sy;
  DG_HD void operator()(uint32_t k) const {
    y[k] = Op::f(a[broadcast_index(sa, sy, k)], b[broadcast_index(sb, sy, k)]);
  }
};

// Calls f(k) for every flat index k of y that element j of x reaches when x
// broadcasts to y: over x's stretched axes, and over y's batch when x has
// batch 1 and y does not. The walk of every broadcast gradient.
template <class F>
DG_HD void for_each_broadcast_target(const Shape& sx, const Shape& sy, uint32_t j, F f) {
  const uint32_t xs = sx.batch_size();
  uint32_t xb = j / xs, r = j - xb * xs;
  uint32_t coord[4], stretched[4], nstretched = 0, count = 1;
  for (int ax = 0; ax < 4; ++ax) {
    coord[ax] = r % sx.d[ax];
    r /= sx.d[ax];
    if (sx.d[ax] == 1 && sy.d[ax] != 1) {
      stretched[nstretched++] = static_cast<uint32_t>(ax);
      count *= sy.d[ax];
    }
  }
  const bool batch_stretched = sx.bd == 1 && sy.bd != 1;
  if (batch_stretched) count *= sy.bd;
  for (uint32_t t = 0; t < count; ++t) {
    uint32_t c[4] = {coord[0], coord[1], coord[2], coord[3]}, rest = t;
    for (uint32_t s = 0; s < nstretched; ++s) {
      c[stretched[s]] = rest % sy.d[stretched[s]];
      rest /= sy.d[stretched[s]];
    }
    const uint32_t yb = batch_stretched ? rest : xb;
    f(c[0] + sy.d[0] * (c[1] + sy.d[1] * (c[2] + sy.d[2] * c[3])) + yb * sy.batch_size());
  }
}

// dx_i += sum over the y elements that x_i's element j broadcast to of the
// partial gradient: one thread per element j of dx_i.
template <class Op, int Arg>
struct BinaryBackward {
  const float* a;
  const float* b;
  const float* y;
  const float* dy;
  float* dx;
  Shape sa, sb, sy;
  DG_HD void operator()(uint32_t j) const {
    float acc = 0.f;
    for_each_broadcast_target(Arg == 0 ? sa : sb, sy, j, [&](uint32_t k) {
      const float av = a[broadcast_index(sa, sy, k)], bv = b[broadcast_index(sb, sy, k)];
      acc += Arg == 0 ? Op::ga(av, bv, y[k], dy[k]) : Op::gb(av, bv, y[k], dy[k]);
    });
    dx[j] += acc;
  }
};

// y[k] += x[broadcast_index(k)] (n-ary sum: one launch per argument).
struct AddBroadcast {
  const float* x;
  float* y;
  Shape sx, sy;
  DG_HD void operator()(uint32_t k) const { y[k] += x[broadcast_index(sx, sy, k)]; }
};

// dx[j] += sum of dy over the y elements that j broadcast to (the
// gradient of a broadcast: sum_to). dx has batch 1 or y's batch.
struct SumTo {
  const float* dy;
  float* dx;
  Shape sx, sy;
  float scale;
  DG_HD void operator()(uint32_t j) const {
    float acc = 0.f;
    for_each_broadcast_target(sx, sy, j, [&](uint32_t k) { acc += dy[k]; });
    dx[j] += scale * acc;
  }
};

// The arguments of an n-ary op (emax) as kernels see them: device pointers
// and batch counts (1 broadcasts), in device memory.
struct ArgList {
  const float* const* x;
  const uint32_t* batches;
  uint32_t n;
};

// y = element-wise max over the arguments (one shape; batches of 1 broadcast).
struct MaxForward {
  ArgList args;
  float* y;
  uint32_t size;  // per batch element
  DG_HD void operator()(uint32_t t) const {
    const uint32_t b = t / size, e = t - b * size;
    float m = args.x[0][(args.batches[0] == 1 ? 0 : b) * size + e];
    for (uint32_t k = 1; k < args.n; ++k) {
      const float v = args.x[k][(args.batches[k] == 1 ? 0 : b) * size + e];
      m = v > m ? v : m;
    }
    y[t] = m;
  }
};

// dx_i += dy where argument i is the first to attain the max (as the CPU op);
// one thread per element of dx_i, summing over y's batch when dx_i has batch 1.
struct MaxBackward {
  ArgList args;
  const float* y;
  const float* dy;
  float* dx;
  uint32_t i, size, y_batches;
  DG_HD void operator()(uint32_t j) const {
    const uint32_t xb = j / size, e = j - xb * size;
    const BatchRange br = grad_batches(xb, args.batches[i], y_batches);
    float acc = 0.f;
    for (uint32_t b = br.lo; b < br.hi; ++b) {
      const uint32_t k = b * size + e;
      uint32_t winner = 0;
      while (winner < args.n && args.x[winner][(args.batches[winner] == 1 ? 0 : b) * size + e] != y[k]) ++winner;
      if (winner == i) acc += dy[k];
    }
    dx[j] += acc;
  }
};

}  // namespace dg::kern

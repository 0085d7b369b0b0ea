// Kernel bodies of the fused LSTM ops (csrc/ops/lstm.cc), DyNet's gate
// layout [i; f; o; g] with H the hidden size. The products Wx X and Wh H go
// through the backend's sgemm; these kernels gather the inputs into one
// column per batch element, apply the gate nonlinearities and scatter the
// gradients back.
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// out rows [row0, row0 + rows) of column b = x's batch element b (batch 1
// broadcasts), times mask rows [row0, row0 + rows) when a mask is given.
// out is out_rows x (its batch); the mask has out_rows rows.
struct StackRows {
  const float* x;
  uint32_t rows, x_batches;
  const float* mask;  // nullptr: no mask
  uint32_t mask_batches;
  float* out;
  uint32_t out_rows, row0;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t b = t / rows, r = t - b * rows;
    float v = x[(x_batches == 1 ? 0 : b) * rows + r];
    if (mask) v *= mask[(mask_batches == 1 ? 0 : b) * out_rows + row0 + r];
    out[b * out_rows + row0 + r] = v;
  }
};

// z (4H x batch) holds the pre-activations; in place: sigmoid of the i, f, o
// rows (the forget gate's +1 bias added first), tanh of the g rows.
struct GatesActivate {
  float* z;
  uint32_t H;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t r = t % (4 * H);
    float v = z[t];
    if (r < 3 * H) {
      if (r >= H && r < 2 * H) v += 1.f;
      z[t] = 1.f / (1.f + expf(-v));
    } else {
      z[t] = tanhf(v);
    }
  }
};

// dz = dL/d(pre-activations) from the gates g and their gradient dg.
struct GatesDz {
  const float* g;
  const float* dg;
  float* dz;
  uint32_t H;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t r = t % (4 * H);
    const float v = g[t];
    dz[t] = r < 3 * H ? dg[t] * v * (1.f - v) : dg[t] * (1.f - v * v);
  }
};

// dx (len rows, batch dx_batches) += rows [row0, row0 + len) of G (R x
// g_batches), times the same rows of m (R rows, batch m_batches) when given;
// summed over G's batch when dx has batch 1. One thread per element of dx.
struct AddRows {
  const float* G;
  uint32_t R, row0, len, g_batches;
  const float* m;  // nullptr: no factor
  uint32_t m_batches;
  float* dx;
  uint32_t dx_batches;
  DG_HD void operator()(uint32_t j) const {
    const uint32_t xb = j / len, r = j - xb * len;
    const BatchRange br = grad_batches(xb, dx_batches, g_batches);
    float acc = 0.f;
    for (uint32_t b = br.lo; b < br.hi; ++b) {
      float v = G[b * R + row0 + r];
      if (m) v *= m[(m_batches == 1 ? 0 : b) * R + row0 + r];
      acc += v;
    }
    dx[j] += acc;
  }
};

// What the cell kernels read: c (H rows: c_tm1 for vanilla_lstm_c, c for
// vanilla_lstm_h) and the gates (4H rows: i, f, o, g), either of batch 1
// (broadcast over the batch).
struct CellArgs {
  const float* c;
  const float* gates;
  uint32_t H, c_batches, g_batches;
  DG_HD float cell(uint32_t b, uint32_t h) const { return c[(c_batches == 1 ? 0 : b) * H + h]; }
  DG_HD const float* gates_of(uint32_t b) const { return gates + (g_batches == 1 ? 0 : b) * 4 * H; }
};

// vanilla_lstm_c: c = i .* g + f .* c_tm1.
struct LstmCForward {
  CellArgs a;
  float* y;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t H = a.H, b = t / H, r = t - b * H;
    const float* g = a.gates_of(b);
    y[t] = g[r] * g[3 * H + r] + g[H + r] * a.cell(b, r);
  }
};

// Gradients of vanilla_lstm_c (arg 0: c_tm1, H rows; arg 1: the gates, 4H
// rows), one thread per element of dx, summed over y's batch when dx has batch 1.
struct LstmCBackward {
  CellArgs a;
  const float* dy;
  float* dx;
  uint32_t y_batches, dx_batches, arg;
  DG_HD void operator()(uint32_t j) const {
    const uint32_t H = a.H, rows = arg == 0 ? H : 4 * H, xb = j / rows, r = j - xb * rows;
    const BatchRange br = grad_batches(xb, dx_batches, y_batches);
    const uint32_t h = r % H, part = r / H;  // which gate block of the 4H rows
    float acc = 0.f;
    for (uint32_t b = br.lo; b < br.hi; ++b) {
      const float d = dy[b * H + h];
      const float* g = a.gates_of(b);
      if (arg == 0) acc += d * g[H + h];               // d c_tm1 = dy .* f
      else if (part == 0) acc += d * g[3 * H + h];     // d i = dy .* g
      else if (part == 1) acc += d * a.cell(b, h);     // d f = dy .* c_tm1
      else if (part == 3) acc += d * g[h];             // d g = dy .* i
    }
    dx[j] += acc;
  }
};

// vanilla_lstm_h: h = o .* tanh(c).
struct LstmHForward {
  CellArgs a;
  float* y;
  DG_HD void operator()(uint32_t t) const {
    const uint32_t H = a.H, b = t / H, r = t - b * H;
    y[t] = a.gates_of(b)[2 * H + r] * tanhf(a.cell(b, r));
  }
};

struct LstmHBackward {
  CellArgs a;
  const float* dy;
  float* dx;
  uint32_t y_batches, dx_batches, arg;
  DG_HD void operator()(uint32_t j) const {
    const uint32_t H = a.H, rows = arg == 0 ? H : 4 * H, xb = j / rows, r = j - xb * rows;
    if (arg == 1 && (r < 2 * H || r >= 3 * H)) return;  // only the o rows carry a gradient
    const uint32_t h = r % H;
    const BatchRange br = grad_batches(xb, dx_batches, y_batches);
    float acc = 0.f;
    for (uint32_t b = br.lo; b < br.hi; ++b) {
      const float d = dy[b * H + h];
      const float t = tanhf(a.cell(b, h));
      if (arg == 0) acc += d * a.gates_of(b)[2 * H + h] * (1.f - t * t);
      else acc += d * t;
    }
    dx[j] += acc;
  }
};

}  // namespace dg::kern

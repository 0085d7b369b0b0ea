// Fused LSTM kernels in DyNet's gate layout. With H the hidden size:
//   vanilla_lstm_gates: z = Wx (x .* mask_x) + Wh (h .* mask_h) + b, then
//     gates = [sigmoid(z_i); sigmoid(z_f + 1); sigmoid(z_o); tanh(z_g)]   (4H)
//   vanilla_lstm_c: c_t = i .* g + f .* c_tm1
//   vanilla_lstm_h: h_t = o .* tanh(c_t)
// The gates op takes its inputs as [h, Wx, Wh, b, (mask_x, mask_h), x_1, ..., x_k]
// (i1 = 1 when masks are present; the x_k are concatenated); f0 is the standard
// deviation of Gaussian noise added to Wx, Wh and b (fresh per forward, kept in
// node memory for backward), drawn from the counter-based stream the device
// kernel draws from (kernels/random.h), so CPU and device add the same noise.
// Shared (batch-1) weights multiply the whole batch in one GEMM.
#include <cstring>

#include "kernels/random.h"
#include "ops/common.h"
#include "ops/lstm_weights.h"

namespace dg {
namespace {

using lstm::kB;
using lstm::kH;
using lstm::kWh;
using lstm::kWx;

struct GateArgs {
  unsigned first_x, nx, H, I;
  bool dropout;
};
// rows(k): the number of rows of argument k (from Dims or Tensors).
template <class Rows>
GateArgs gate_args(const Node& n, Rows rows) {
  GateArgs a;
  a.dropout = n.i1 != 0;
  a.first_x = a.dropout ? 6 : 4;
  a.nx = n.nargs > a.first_x ? n.nargs - a.first_x : 0;
  a.H = rows(kH);
  a.I = 0;
  for (unsigned k = 0; k < a.nx; ++k) a.I += rows(a.first_x + k);
  return a;
}
GateArgs gate_args(const Node& n, const Dim* xs) {
  return gate_args(n, [&](unsigned k) { return xs[k].rows(); });
}
GateArgs gate_args(const Node& n, const Tensor* xs) {
  return gate_args(n, [&](unsigned k) { return xs[k].d.rows(); });
}
const char* gates_name(const Node& n) {
  return n.i1 ? "vanilla_lstm_gates_dropout" : "vanilla_lstm_gates";
}

Dim gates_dim(const OpContext&, const Node& n, const Dim* xs) {
  const char* op = gates_name(n);
  unsigned first = n.i1 ? 6 : 4;
  if (n.nargs <= first) shape_error(op, "needs at least one input x_t", xs, n.nargs);
  GateArgs a = gate_args(n, xs);
  for (unsigned k = 0; k < n.nargs; ++k)
    if (k != kWx && k != kWh && xs[k].batch_size() != xs[k].rows())
      shape_error(op, "x_t, h_tm1, b and the masks must be vectors", xs, n.nargs);
  const Dim &Wx = xs[kWx], &Wh = xs[kWh];
  if (Wx.nd > 2 || Wh.nd > 2 || Wx.rows() != 4 * a.H || Wh.rows() != 4 * a.H || xs[kB].rows() != 4 * a.H)
    shape_error(op, "Wx, Wh and b must have 4 * H rows (H = length of h_tm1)", xs, n.nargs);
  if (Wx.cols() != a.I) shape_error(op, "Wx must have as many columns as the inputs have elements", xs, n.nargs);
  if (Wh.cols() != a.H) shape_error(op, "Wh must be 4H x H", xs, n.nargs);
  if (a.dropout && (xs[4].rows() != a.I || xs[5].rows() != a.H))
    shape_error(op, "dropout_mask_x must match the inputs and dropout_mask_h must match h_tm1", xs, n.nargs);
  return Dim({4 * a.H}, joint_batch(op, xs, n.nargs));
}

// The (masked) inputs of all batch elements side by side, X (I x B) or
// Hm (H x B): the argument tensor itself when there is nothing to gather (one
// input, no mask, a value per batch element), else a copy in scratch memory.
// Either lives as long as the graph, so the weight gradients can be deferred
// (OpContext::add_outer_product keeps pointers).
const float* gather_x(OpContext& ctx, const GateArgs& a, const Tensor* xs, unsigned bd, bool masked) {
  const bool mask = masked && a.dropout;
  const Tensor& x0 = xs[a.first_x];
  if (a.nx == 1 && !mask && x0.d.bd == bd) return x0.v;
  float* X = scratch(ctx, size_t(a.I) * bd);
  for (unsigned b = 0; b < bd; ++b) {
    float* col = X + size_t(b) * a.I;
    for (unsigned k = 0; k < a.nx; ++k) {
      const Tensor& x = xs[a.first_x + k];
      std::memcpy(col, x.batch_ptr(b), sizeof(float) * x.d.rows());
      col += x.d.rows();
    }
    if (mask) VecMap(X + size_t(b) * a.I, a.I).array() *= ArrMap(xs[4].batch_ptr(b), a.I);
  }
  return X;
}
const float* gather_h(OpContext& ctx, const GateArgs& a, const Tensor* xs, unsigned bd, bool masked) {
  const bool mask = masked && a.dropout;
  const Tensor& h = xs[kH];
  if (!mask && h.d.bd == bd) return h.v;
  float* Hm = scratch(ctx, size_t(a.H) * bd);
  for (unsigned b = 0; b < bd; ++b) {
    VecMap col(Hm + size_t(b) * a.H, a.H);
    col = VecMap(h.batch_ptr(b), a.H);
    if (mask) col.array() *= ArrMap(xs[5].batch_ptr(b), a.H);
  }
  return Hm;
}

using lstm::Weights;
using lstm::weights_of;

// acc (rows x B) += W * X, W batch 1 (one GEMM) or one per batch element.
void gemm_batch(const Tensor& W, const float* X, unsigned bd, MatMap& acc) {
  const unsigned k = W.d.cols();
  if (W.d.bd == 1) {
    gemm(acc.data(), W.v, false, X, false, W.d.rows(), bd, k);
    return;
  }
  for (unsigned b = 0; b < bd; ++b) acc.col(b).noalias() += W.mat(b) * ConstMatMap(X + size_t(b) * k, k, 1);
}
// out (cols x B) = W^T dZ.
void gemm_t(const Tensor& W, const ConstMatMap& dZ, MatMap& out) {
  if (W.d.bd == 1) {
    gemm(out.data(), W.v, true, dZ.data(), false, W.d.cols(), unsigned(dZ.cols()), W.d.rows(), 0.f);
    return;
  }
  for (long b = 0; b < dZ.cols(); ++b) out.col(b).noalias() = W.mat(b).transpose() * dZ.col(b);
}
// dx (vector, maybe batch 1) += rows [row, row + len) of G, over the batch.
void add_rows(const MatMap& G, unsigned row, Tensor& dx) {
  const unsigned len = dx.d.rows();
  for (long b = 0; b < G.cols(); ++b) VecMap(dx.batch_ptr(b), len) += G.col(b).segment(row, len);
}

void gates_fwd(OpContext& ctx, const Node& n, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned bd = y.d.bd;
  GateArgs a = gate_args(n, xs);
  n.mem = nullptr;
  if (n.f0 > 0.f) {  // noisy copies of Wx, Wh, b
    const size_t sx = xs[kWx].d.size(), sh = xs[kWh].d.size(), sb = xs[kB].d.size();
    n.mem = scratch(ctx, sx + sh + sb);
    std::memcpy(n.mem, xs[kWx].v, sizeof(float) * sx);
    std::memcpy(n.mem + sx, xs[kWh].v, sizeof(float) * sh);
    std::memcpy(n.mem + sx + sh, xs[kB].v, sizeof(float) * sb);
    const size_t total = sx + sh + sb;
    const uint64_t counter = ctx.cpu_counter;
    ctx.cpu_counter += 2 * total;  // two words per normal (Box-Muller)
    for (size_t k = 0; k < total; ++k)
      n.mem[k] += n.f0 * kern::standard_normal(ctx.device_seed, counter, static_cast<uint32_t>(k));
  }
  Weights w = weights_of(n, xs);
  const unsigned H = a.H;
  MatMap Z(y.v, 4 * H, bd);
  for (unsigned b = 0; b < bd; ++b) Z.col(b) = VecMap(w.b.batch_ptr(b), 4 * H);
  gemm_batch(w.Wx, gather_x(ctx, a, xs, bd, true), bd, Z);
  gemm_batch(w.Wh, gather_h(ctx, a, xs, bd, true), bd, Z);
  Z.middleRows(H, H).array() += 1.f;  // forget-gate bias
  Z.topRows(3 * H) = (1.f + (-Z.topRows(3 * H).array()).exp()).inverse().matrix();
  Z.bottomRows(H) = Z.bottomRows(H).array().tanh().matrix();
}

// dZ = dL/d(pre-activations), through sigmoid (i, f, o) and tanh (g). Computed
// once per node and backward pass (the backward runs once per argument) into
// scratch memory, where it also serves as a deferred weight-gradient factor.
float* gates_dz(OpContext& ctx, const Node& n, const Tensor& y, const Tensor& dy, unsigned H) {
  thread_local struct {
    const OpContext* ctx = nullptr;
    const Node* node = nullptr;
    uint64_t serial = 0;
    float* dz = nullptr;
  } last;
  if (last.ctx == &ctx && last.node == &n && last.serial == ctx.backward_serial) return last.dz;
  const unsigned bd = y.d.bd;
  ConstMatMap G(y.v, 4 * H, bd), D(dy.v, 4 * H, bd);
  float* dz = scratch(ctx, size_t(4) * H * bd);
  MatMap dZ(dz, 4 * H, bd);
  dZ.topRows(3 * H) = (D.topRows(3 * H).array() * G.topRows(3 * H).array() * (1.f - G.topRows(3 * H).array())).matrix();
  dZ.bottomRows(H) = (D.bottomRows(H).array() * (1.f - G.bottomRows(H).array().square())).matrix();
  last = {&ctx, &n, ctx.backward_serial, dz};
  return dz;
}

void gates_bwd(OpContext& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
               Tensor& dx) {
  const unsigned bd = y.d.bd;
  GateArgs a = gate_args(n, xs);
  const unsigned H = a.H;
  Weights w = weights_of(n, xs);
  float* dz = gates_dz(ctx, n, y, dy, H);
  MatMap dZ(dz, 4 * H, bd);
  if (i == kB) {
    for (unsigned b = 0; b < bd; ++b) VecMap(dx.batch_ptr(b), 4 * H) += dZ.col(b);
    return;
  }
  if (i == kWx || i == kWh) {  // dW += dZ X^T (summed over the batch when W has batch 1)
    const unsigned k = i == kWx ? a.I : H;
    const float* X = i == kWx ? gather_x(ctx, a, xs, bd, true) : gather_h(ctx, a, xs, bd, true);
    if (dx.d.bd == 1) {
      ctx.add_outer_product(dx, Tensor(Dim({4 * H}, bd), dz), Tensor(Dim({k}, bd), const_cast<float*>(X)));
    } else {
      for (unsigned b = 0; b < bd; ++b)
        dx.mat(b).noalias() += dZ.col(b) * ConstMatMap(X + size_t(b) * k, k, 1).transpose();
    }
    return;
  }
  const bool through_h = i == kH || (a.dropout && i == 5);
  const Tensor& W = through_h ? w.Wh : w.Wx;
  MatMap T(scratch(ctx, size_t(W.d.cols()) * bd), W.d.cols(), bd);
  gemm_t(W, ConstMatMap(dz, 4 * H, bd), T);  // gradient of the masked x (I x B) or h (H x B)
  if (a.dropout && (i == 4 || i == 5)) {  // d mask = T .* (unmasked input)
    const float* raw = i == 4 ? gather_x(ctx, a, xs, bd, false) : gather_h(ctx, a, xs, bd, false);
    T.array() *= ConstMatMap(raw, T.rows(), bd).array();
    add_rows(T, 0, dx);
    return;
  }
  if (a.dropout) {  // d input = T .* mask
    const Tensor& mask = xs[through_h ? 5 : 4];
    for (unsigned b = 0; b < bd; ++b) T.col(b).array() *= ArrMap(mask.batch_ptr(b), T.rows());
  }
  if (i == kH) {
    add_rows(T, 0, dx);
    return;
  }
  unsigned row = 0;
  for (unsigned k = a.first_x; k < i; ++k) row += xs[k].d.rows();
  add_rows(T, row, dx);
}

// ---- vanilla_lstm_c(c_tm1, gates) = i .* g + f .* c_tm1
Dim cell_dim(const OpContext&, const Node& n, const Dim* xs) {
  const char* op = op_impl(n.op).name;
  if (xs[0].batch_size() != xs[0].rows() || xs[1].batch_size() != xs[1].rows())
    shape_error(op, "arguments must be vectors", xs, 2);
  if (xs[1].rows() != 4 * xs[0].rows()) shape_error(op, "gates must be 4 times as long as the cell", xs, 2);
  return Dim({xs[0].rows()}, joint_batch(op, xs, 2));
}
void lstm_c_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned H = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    const float* gt = xs[1].batch_ptr(b);
    ArrMap(y.v + size_t(b) * H, H) = ArrMap(const_cast<float*>(gt), H) * ArrMap(const_cast<float*>(gt) + 3 * H, H) +
                                     ArrMap(const_cast<float*>(gt) + H, H) * ArrMap(xs[0].batch_ptr(b), H);
  }
}
void lstm_c_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                Tensor& dx) {
  const unsigned H = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    float* gt = xs[1].batch_ptr(b);
    ArrMap d(dy.v + size_t(b) * H, H);
    if (i == 0) {
      ArrMap(dx.batch_ptr(b), H) += d * ArrMap(gt + H, H);
      continue;
    }
    float* out = dx.batch_ptr(b);
    ArrMap(out, H) += d * ArrMap(gt + 3 * H, H);               // d i = dy .* g
    ArrMap(out + H, H) += d * ArrMap(xs[0].batch_ptr(b), H);    // d f = dy .* c_tm1
    ArrMap(out + 3 * H, H) += d * ArrMap(gt, H);                // d g = dy .* i
  }
}

// ---- vanilla_lstm_h(c_t, gates) = o .* tanh(c_t)
void lstm_h_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  const unsigned H = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b)
    ArrMap(y.v + size_t(b) * H, H) = ArrMap(xs[1].batch_ptr(b) + 2 * H, H) * ArrMap(xs[0].batch_ptr(b), H).tanh();
}
void lstm_h_bwd(OpContext&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                Tensor& dx) {
  const unsigned H = y.d.rows();
  for (unsigned b = 0; b < y.d.bd; ++b) {
    ArrMap d(dy.v + size_t(b) * H, H), o(xs[1].batch_ptr(b) + 2 * H, H);
    Eigen::ArrayXf t = ArrMap(xs[0].batch_ptr(b), H).tanh();
    if (i == 0) ArrMap(dx.batch_ptr(b), H) += d * o * (1.f - t.square());
    else ArrMap(dx.batch_ptr(b) + 2 * H, H) += d * t;
  }
}

}  // namespace

DG_DEFINE_OP(vanilla_lstm_gates, gates_dim, gates_fwd, gates_bwd)
DG_DEFINE_OP(vanilla_lstm_c, cell_dim, lstm_c_fwd, lstm_c_bwd)
DG_DEFINE_OP(vanilla_lstm_h, cell_dim, lstm_h_fwd, lstm_h_bwd)

}  // namespace dg

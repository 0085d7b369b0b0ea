// The fused LSTM gates op's argument layout and the weights its forward used,
// shared by the CPU op (ops/lstm.cc) and the device ops (device/lstm_ops.h) so
// that both read noisy weights from the same place in node memory.
#pragma once
#include "core/tensor.h"
#include "ops/node.h"

namespace dg::lstm {

// [h, Wx, Wh, b, (mask_x, mask_h), x_1, ..., x_k]
constexpr unsigned kH = 0, kWx = 1, kWh = 2, kB = 3;

// The arguments, or with weight noise (n.f0 > 0) their noisy copies
// (Wx | Wh | b in node memory, drawn in forward and kept for backward).
struct Weights {
  Tensor Wx, Wh, b;
};
inline Weights weights_of(const Node& n, const Tensor* xs) {
  Weights w{xs[kWx], xs[kWh], xs[kB]};
  if (n.f0 > 0.f && n.mem) {
    w.Wx.v = n.mem;
    w.Wh.v = w.Wx.v + w.Wx.d.size();
    w.b.v = w.Wh.v + w.Wh.d.size();
  }
  return w;
}

}  // namespace dg::lstm

// Device ops of the values that enter the graph (csrc/ops/inputs.cc).
// Parameters stay in host storage, where the trainers update them: a
// parameter node copies its values to the device once per graph, and its
// backward brings the gradient back and adds it to the host gradient.
// Lookups copy only the rows they use; their gradient rows are added back on
// the host (sparse, as on the CPU).
#pragma once
#include "device/common.h"
#include "params/parameter.h"

namespace dg::dev {

template <class B>
struct InputOps {
  static void input_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    if (n.ptr) {  // made from a device array: already in graph memory (api::input_from_device)
      y.v = static_cast<float*>(n.ptr);
      return;
    }
    alloc(ctx, y);
    B::to_device(y.v, ctx.floats + n.aux0, sizeof(float) * y.d.size());
  }
  static void constant_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    alloc(ctx, y);
    fill<B>(y.v, y.d.size(), n.f0);
  }
  static void parameter_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    alloc(ctx, y);
    B::to_device(y.v, static_cast<ParameterStorage*>(n.ptr)->values.data(), sizeof(float) * y.d.size());
  }
  static void parameter_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                            Tensor&) {
    auto* p = static_cast<ParameterStorage*>(n.ptr);
    host_add(p->grad.data(), download<B>(dy.v, p->grad.size()), p->grad.size());
    p->nonzero_grad = true;
  }
  static void lookup_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    alloc(ctx, y);
    const unsigned rs = p->row_size();
    for (unsigned b = 0; b < n.naux; ++b)
      B::to_device(y.v + size_t(b) * rs, p->row(ctx.ints[n.aux0 + b]), sizeof(float) * rs);
  }
  static void lookup_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                         Tensor&) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    const unsigned rs = p->row_size();
    const float* g = download<B>(dy.v, size_t(rs) * n.naux);
    for (unsigned b = 0; b < n.naux; ++b) {
      const int32_t r = ctx.ints[n.aux0 + b];
      host_add(p->grad_row(r), g + size_t(b) * rs, rs);
      p->touch(r);
    }
  }
  static void lookup_table_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    alloc(ctx, y);
    B::to_device(y.v, static_cast<LookupParameterStorage*>(n.ptr)->values.data(), sizeof(float) * y.d.size());
  }
  static void lookup_table_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                               Tensor&) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    host_add(p->grad.data(), download<B>(dy.v, p->grad.size()), p->grad.size());
    p->all_touched = true;
  }

  // to_device onto this device: from the host, or within the device.
  static void to_device_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    const size_t bytes = sizeof(float) * y.d.size();
    if (xs[0].device == kCpuDevice) B::to_device(y.v, xs[0].v, bytes);
    else B::copy(y.v, xs[0].v, bytes);
  }
  static void to_device_bwd(DeviceCtx&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                            Tensor& dx) {
    const size_t n = dy.d.size();
    if (dx.device == kCpuDevice) host_add(dx.v, download<B>(dy.v, n), n);
    else axpy<B>(dy.v, dx.v, n);
  }
};

template <class B>
void register_inputs(DeviceOpTable& t) {
  using O = InputOps<B>;
  t.set(OpId::input, O::input_fwd, no_backward);
  t.set(OpId::constant, O::constant_fwd, no_backward);
  t.set(OpId::parameter, O::parameter_fwd, O::parameter_bwd);
  t.set(OpId::lookup, O::lookup_fwd, O::lookup_bwd);
  t.set(OpId::lookup_table, O::lookup_table_fwd, O::lookup_table_bwd);
  t.set(OpId::to_device, O::to_device_fwd, O::to_device_bwd);
}

}  // namespace dg::dev

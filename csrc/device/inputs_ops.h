// Device ops of the values that enter the graph (csrc/ops/inputs.cc).
// Parameters and lookup tables placed on this device are resident there
// (params/resident.h): a parameter node points at the resident values, its
// backward adds into the resident gradient; a lookup gathers its rows from
// the resident table and scatter-adds its gradient rows into the resident
// gradient (the touched rows are recorded on the host, for sparse updates).
#pragma once
#include "device/common.h"
#include "kernels/lookup.h"
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
  static void parameter_fwd(DeviceCtx&, const Node& n, const Tensor*, Tensor& y) {
    y.v = static_cast<ParameterStorage*>(n.ptr)->values.dev_read();
  }
  static void parameter_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                            Tensor&) {
    auto* p = static_cast<ParameterStorage*>(n.ptr);
    axpy<B>(dy.v, p->grad.dev_write(), p->grad.size());
    p->nonzero_grad = true;
  }
  static void lookup_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    alloc(ctx, y);
    const uint32_t rs = static_cast<uint32_t>(p->row_size());
    B::launch(static_cast<uint32_t>(y.d.size()), kern::GatherRows{p->values.dev_read(), y.v, ints_on_device<B>(ctx, n), rs});
  }
  static void lookup_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                         Tensor&) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    const uint32_t rs = static_cast<uint32_t>(p->row_size());
    B::launch(static_cast<uint32_t>(dy.d.size()),
              kern::ScatterAddRows{dy.v, p->grad.dev_write(), ints_on_device<B>(ctx, n), rs});
    for (unsigned b = 0; b < n.naux; ++b) p->touch(static_cast<unsigned>(ctx.ints[n.aux0 + b]));
  }
  static void lookup_table_fwd(DeviceCtx&, const Node& n, const Tensor*, Tensor& y) {
    y.v = static_cast<LookupParameterStorage*>(n.ptr)->values.dev_read();
  }
  static void lookup_table_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                               Tensor&) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    axpy<B>(dy.v, p->grad.dev_write(), p->grad.size());
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

// Device ops of the values that enter the graph (csrc/ops/inputs.cc).
// Parameters and lookup tables placed on this device are resident there
// (params/resident.h): a parameter node points at the resident values, its
// backward adds into the resident gradient; a lookup gathers its rows from
// the resident table and scatter-adds its gradient rows into the resident
// gradient (the touched rows are recorded on the host, for sparse updates).
#pragma once
#include <algorithm>
#include <vector>

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
  // Streaming parameters (device/swap.h, under a budget): the values live on the
  // host and come in as a graph value -- brought in by the plan's hook (prefetched
  // or on demand) -- and the gradient is added on the host.
  static bool streams(const DeviceCtx& ctx, const Resident& r) { return ctx.plan && r.streams(); }
  static void stream_in(DeviceCtx& ctx, const Resident& values, Tensor& y) {
    if ((y.v = plan_streamed_in(ctx.plan))) return;
    alloc(ctx, y);
    B::to_device(y.v, values.read(), sizeof(float) * y.d.size());
  }
  static void stream_grad(DeviceCtx& ctx, const Tensor& dy, Resident& grad) {
    const size_t n = dy.d.size();
    host_add(grad.write(), download<B>(dy.v, n), n);
    plan_count_to_host(ctx.plan, sizeof(float) * n);
  }
  static void parameter_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    auto* p = static_cast<ParameterStorage*>(n.ptr);
    if (streams(ctx, p->values)) return stream_in(ctx, p->values, y);
    y.v = p->values.dev_read();
  }
  static void parameter_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                            Tensor&) {
    auto* p = static_cast<ParameterStorage*>(n.ptr);
    if (streams(ctx, p->values)) stream_grad(ctx, dy, p->grad);
    else axpy<B>(dy.v, p->grad.dev_write(), p->grad.size());
    p->nonzero_grad = true;
  }
  static void lookup_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    if (streams(ctx, p->values)) {  // the rows gathered on the host, then copied in (a group's: here)
      if ((y.v = plan_streamed_in(ctx.plan))) return;
      const size_t rs = p->row_size();
      thread_local std::vector<float> rows;
      rows.resize(y.d.size());
      for (unsigned b = 0; b < n.naux; ++b) {
        const float* src = p->row_read(static_cast<unsigned>(ctx.ints[n.aux0 + b]));
        std::copy(src, src + rs, rows.begin() + b * rs);
      }
      alloc(ctx, y);
      B::to_device(y.v, rows.data(), sizeof(float) * y.d.size());
      return;
    }
    alloc(ctx, y);
    const uint32_t rs = static_cast<uint32_t>(p->row_size());
    B::launch(static_cast<uint32_t>(y.d.size()), kern::GatherRows{p->values.dev_read(), y.v, ints_on_device<B>(ctx, n), rs});
  }
  static void lookup_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                         Tensor&) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    const uint32_t rs = static_cast<uint32_t>(p->row_size());
    if (streams(ctx, p->values)) {  // the gradient rows added on the host
      const float* g = download<B>(dy.v, dy.d.size());
      for (unsigned b = 0; b < n.naux; ++b) host_add(p->grad_row(static_cast<unsigned>(ctx.ints[n.aux0 + b])), g + size_t(b) * rs, rs);
      plan_count_to_host(ctx.plan, sizeof(float) * dy.d.size());
    } else {
      B::launch(static_cast<uint32_t>(dy.d.size()),
                kern::ScatterAddRows{dy.v, p->grad.dev_write(), ints_on_device<B>(ctx, n), rs});
    }
    for (unsigned b = 0; b < n.naux; ++b) p->touch(static_cast<unsigned>(ctx.ints[n.aux0 + b]));
  }
  static void lookup_table_fwd(DeviceCtx& ctx, const Node& n, const Tensor*, Tensor& y) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    if (streams(ctx, p->values)) return stream_in(ctx, p->values, y);
    y.v = p->values.dev_read();
  }
  static void lookup_table_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                               Tensor&) {
    auto* p = static_cast<LookupParameterStorage*>(n.ptr);
    if (streams(ctx, p->values)) stream_grad(ctx, dy, p->grad);
    else axpy<B>(dy.v, p->grad.dev_write(), p->grad.size());
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

// The autobatching executor's device side (autobatch.cc calls these for a
// group whose nodes live on a device; the CPU path stays inline there): the
// group's gathered arguments, outputs and gradient blocks come from the
// device's pools (device/dispatch.h), the gather and the scatter-add of a
// gathered argument's gradient are one kernel launch per group over a device
// array of the members' addresses (in forward, the address arrays of all of a
// group's gathered arguments go up as one copy), and the group's op runs through the
// device op table with the group prototype. Ops on a device accumulate
// weight gradients directly (no deferred outer products: those are a CPU
// optimisation over Eigen), so flush_outer_products has nothing to do for them.
#include <vector>

#include "device/dispatch.h"
#include "graph/graph.h"

namespace dg {

bool ComputationGraph::batched_executor_ok() const {
  if (!has_device_nodes_) return true;
  // Under a device memory budget the swap plan works node by node (device/swap.h):
  // such graphs run on the per-node executor (docs/memory.md).
  for (DeviceId id = 1; id < kMaxDevices; ++id)
    if (device_budget(id)) return false;
  return true;
}

float* ComputationGraph::group_device_floats(DeviceId dev, size_t n, bool grad) {
  DeviceMemory::Pools& p = device_memory().on(dev);
  return (grad ? p.grads : p.values)->allocate_floats(n);
}

namespace {
// The members' addresses in device memory (from the pool of the pass: values
// in forward, gradients in backward), one copy for the whole array.
template <class T>
T* const* addresses_on_device(DeviceArena& pool, const DeviceOpTable& ops, const std::vector<T*>& host) {
  auto* p = static_cast<T**>(pool.allocate(sizeof(T*) * host.size()));
  ops.to_device(p, host.data(), sizeof(T*) * host.size());
  return p;
}
}  // namespace

void ComputationGraph::group_device_gather(DeviceId dev, const DeviceGather* g, unsigned n, unsigned N,
                                           Tensor* xs) {
  const DeviceOpTable& ops = device_ops(Device::from_id(dev).kind);
  DeviceArena& pool = *device_memory().on(dev).values;
  std::vector<const float*> src(size_t(n) * N);  // argument i's addresses at offset i * N
  for (unsigned i = 0; i < n; ++i)
    for (unsigned b = 0; b < N; ++b) src[size_t(i) * N + b] = values_[g[i].ak[b]].v;
  const float* const* addresses = addresses_on_device(pool, ops, src);
  for (unsigned i = 0; i < n; ++i) {
    float* dst = pool.allocate_floats(size_t(N) * g[i].sz);
    ops.gather_slices(dst, addresses + size_t(i) * N, N, static_cast<uint32_t>(g[i].sz));
    xs[g[i].k].v = dst;
  }
}

void ComputationGraph::group_device_scatter_add(DeviceId dev, const float* src, const uint32_t* ak, unsigned N,
                                                size_t sz) {
  const DeviceOpTable& ops = device_ops(Device::from_id(dev).kind);
  std::vector<float*> dst(N);
  for (unsigned b = 0; b < N; ++b) dst[b] = grads_[ak[b]].v;
  ops.scatter_add_slices(addresses_on_device(*device_memory().on(dev).grads, ops, dst), src, N,
                         static_cast<uint32_t>(sz));
}

void ComputationGraph::group_device_fill(DeviceId dev, float* p, size_t n, float v) {
  device_ops(Device::from_id(dev).kind).fill(p, n, v);
}

void ComputationGraph::group_forward(const Node& proto, const Tensor* xs, Tensor& y) {
  y.device = proto.device;
  if (proto.device != kCpuDevice) device_forward(*this, proto, xs, y);
  else op_impl(proto.op).forward(*this, proto, xs, y);
}

void ComputationGraph::group_backward(const Node& proto, const Tensor* xs, const Tensor& y, const Tensor& dy,
                                      unsigned k, Tensor& dx) {
  if (proto.device != kCpuDevice) device_backward(*this, proto, xs, y, dy, k, dx);
  else op_impl(proto.op).backward(*this, proto, xs, y, dy, k, dx);
}

}  // namespace dg

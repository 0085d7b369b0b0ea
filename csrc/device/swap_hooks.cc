// The executor's hooks into the swap plans (device/swap.h), for graphs with
// device nodes: the plans of the devices a node and its arguments live on (a
// node and its arguments may be on different devices: to_device) get ready
// for it, and every copy in flight is done when forward() or backward() returns.
#include "device/dispatch.h"
#include "device/swap.h"
#include "graph/graph.h"

namespace dg {

namespace {
template <class F>
void for_plans(ComputationGraph& g, const Node& n, F f) {
  DeviceMemory& mem = g.device_memory();
  SwapPlan* seen[4] = {};
  unsigned count = 0;
  auto visit = [&](DeviceId d) {
    if (d == kCpuDevice) return;
    SwapPlan* p = mem.plan(d);
    if (!p) return;
    for (unsigned k = 0; k < count; ++k)
      if (seen[k] == p) return;
    if (count < 4) seen[count++] = p;
    f(p);
  };
  visit(n.device);
  const uint32_t* a = g.args(n);
  for (unsigned k = 0; k < n.nargs; ++k) visit(g.nodes[a[k]].device);
}
}  // namespace

void swap_before_forward(ComputationGraph& g, uint32_t i) {
  const Node& n = g.nodes[i];
  for_plans(g, n, [&](SwapPlan* p) {
    if (g.nodes[i].device == p->device()) p->before_forward(i);
    else p->args_resident(i);
    p->prefetch_ahead();
  });
}

void swap_after_forward(ComputationGraph& g, uint32_t i) {
  if (g.nodes[i].device == kCpuDevice) return;
  if (SwapPlan* p = g.device_memory().plan(g.nodes[i].device)) p->after_forward(i);
}

void swap_before_backward(ComputationGraph& g, uint32_t j) {
  const Node& n = g.nodes[j];
  // Backward skips a node without a gradient: nothing to bring back for it.
  SwapPlan* own = n.device == kCpuDevice ? nullptr : g.device_memory().plan(n.device);
  const bool runs = n.device == kCpuDevice ? SwapPlan::has_host_grad(g, j) : !own || own->wants_grad(j);
  for_plans(g, n, [&](SwapPlan* p) {
    p->before_backward(j, runs);
    p->prefetch_ahead();
  });
}

void swap_before_group(ComputationGraph& g, const uint32_t* members, unsigned n, bool backward) {
  const DeviceId d = g.nodes[members[0]].device;  // a group never mixes devices
  if (d == kCpuDevice) return;
  if (SwapPlan* p = g.device_memory().plan_if_made(d)) p->before_group(members, n, backward);
}

void swap_after_group(ComputationGraph& g, const uint32_t* members, unsigned n, const Tensor& y) {
  const DeviceId d = g.nodes[members[0]].device;
  if (d == kCpuDevice) return;
  if (SwapPlan* p = g.device_memory().plan_if_made(d)) p->after_group(members, n, y);
}

void swap_resident(ComputationGraph& g, uint32_t i) {
  if (g.nodes[i].device == kCpuDevice) return;
  if (SwapPlan* p = g.device_memory().plan(g.nodes[i].device)) p->resident_value(i);
}

bool SwapPlan::has_host_grad(const ComputationGraph& g, uint32_t j) { return j < g.grads_.size() && g.grads_[j].v; }

void swap_finish(ComputationGraph& g) {
  DeviceMemory& mem = g.device_memory();
  for (DeviceId d = 1; d < kMaxDevices; ++d)
    if (SwapPlan* p = mem.plan_if_made(d)) p->drain();
}

void swap_forward_from(ComputationGraph& g, uint32_t first) {
  DeviceMemory& mem = g.device_memory();
  for (DeviceId d = 1; d < kMaxDevices; ++d)
    if (SwapPlan* p = mem.plan_if_made(d)) p->forward_from(first);
}

}  // namespace dg

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
// Under a device memory budget the groups run in the agenda's order taken
// ahead, so the swap plan schedules by groups (device/swap.h, docs/memory.md).
#include <vector>

#include "device/dispatch.h"
#include "graph/autobatch_agenda.h"
#include "graph/autobatch_profile.h"
#include "graph/graph.h"

namespace dg {

namespace {
// Device memory for a group: under a budget a block of the swap plan held for
// the step (device/swap.h), else from the graph's pool of the pass.
float* step_floats(DeviceMemory& mem, DeviceId dev, size_t n, bool grad) {
  if (SwapPlan* plan = mem.plan_if_made(dev)) return plan->step_floats(n);
  DeviceMemory::Pools& p = mem.on(dev);
  return (grad ? p.grads : p.values)->allocate_floats(n);
}

// The members' addresses in device memory, one copy for the whole array.
template <class T>
T* const* addresses_on_device(DeviceMemory& mem, DeviceId dev, bool grad, const std::vector<T*>& host) {
  const DeviceOpTable& ops = device_ops(Device::from_id(dev).kind);
  const size_t bytes = sizeof(T*) * host.size();
  auto* p = reinterpret_cast<T**>(step_floats(mem, dev, (bytes + sizeof(float) - 1) / sizeof(float), grad));
  ops.to_device(p, host.data(), bytes);
  return p;
}
}  // namespace

float* ComputationGraph::group_device_floats(DeviceId dev, size_t n, bool grad) {
  return step_floats(device_memory(), dev, n, grad);
}

void ComputationGraph::group_device_gather(DeviceId dev, const DeviceGather* g, unsigned n, unsigned N,
                                           Tensor* xs) {
  const DeviceOpTable& ops = device_ops(Device::from_id(dev).kind);
  std::vector<const float*> src(size_t(n) * N);  // argument i's addresses at offset i * N
  for (unsigned i = 0; i < n; ++i)
    for (unsigned b = 0; b < N; ++b) src[size_t(i) * N + b] = values_[g[i].ak[b]].v;
  const float* const* addresses = addresses_on_device(device_memory(), dev, false, src);
  for (unsigned i = 0; i < n; ++i) {
    float* dst = step_floats(device_memory(), dev, size_t(N) * g[i].sz, false);
    ops.gather_slices(dst, addresses + size_t(i) * N, N, static_cast<uint32_t>(g[i].sz));
    xs[g[i].k].v = dst;
  }
}

void ComputationGraph::group_device_scatter_add(DeviceId dev, const float* src, const uint32_t* ak, unsigned N,
                                                size_t sz) {
  const DeviceOpTable& ops = device_ops(Device::from_id(dev).kind);
  std::vector<float*> dst(N);
  for (unsigned b = 0; b < N; ++b) dst[b] = grads_[ak[b]].v;
  ops.scatter_add_slices(addresses_on_device(device_memory(), dev, true, dst), src, N, static_cast<uint32_t>(sz));
}

// ---- under a device memory budget (docs/memory.md)

// The agenda's order depends on the graph alone, so it is taken first without
// running anything: the swap plans then know every step ahead (last and next
// uses counted in groups, prefetches K groups ahead). The groups then run in
// that order; a group whose working set would not fit runs node by node.
bool ComputationGraph::forward_batched_under_budget(uint32_t upto) {
  if (!has_device_nodes_) return false;
  const uint32_t begin = evaluated_, end = upto + 1;
  bool used[kMaxDevices] = {};
  for (uint32_t j = begin; j < end; ++j) used[nodes[j].device] = true;
  std::vector<SwapPlan*> plans;
  for (DeviceId id = 1; id < kMaxDevices; ++id)
    if (used[id] && device_budget(id))
      if (SwapPlan* p = device_memory().plan(id)) plans.push_back(p);
  if (plans.empty()) return false;
  AutobatchScratch& S = autobatch_scratch();
  Agenda& agenda = S.agenda;
  agenda.start(*this, begin, end);
  std::vector<std::vector<uint32_t>> order;
  while (!agenda.empty()) {
    agenda.pick(S.batch);
    if (S.batch.size() > 1 && group_too_large(S.batch)) {
      agenda.run_alone(S.batch.data() + 1, S.batch.data() + S.batch.size());
      S.batch.resize(1);
    }
    agenda.release(S.batch);
    order.push_back(S.batch);
  }
  for (SwapPlan* p : plans) p->add_steps(order);
  PhaseClock clock(autobatch_profile());
  stacked_weights_.clear();
  // One thread: the plans are not shared between threads. A group appended to
  // groups_ and group_nodes_ runs at once (run_group).
  const size_t groups_before = groups_.size(), nodes_before = group_nodes_.size();
  auto run = [&](const uint32_t* members, unsigned n) {
    Group grp;
    grp.first = static_cast<uint32_t>(group_nodes_.size());
    grp.count = n;
    group_nodes_.insert(group_nodes_.end(), members, members + n);
    groups_.push_back(std::move(grp));
    run_group(groups_.size() - 1, clock);
    ++batch_stats.groups;
  };
  try {
    for (const std::vector<uint32_t>& batch : order) {
      const DeviceId dev = nodes[batch[0]].device;
      const unsigned n = static_cast<unsigned>(batch.size());
      SwapPlan* plan = n > 1 && dev != kCpuDevice ? device_memory().plan_if_made(dev) : nullptr;
      if (plan && !plan->group_fits(batch.data(), n, false)) {
        ++device_mem_stats(dev).groups_unbatched;
        for (uint32_t j : batch) run(&j, 1);
      } else {
        if (plan) ++device_mem_stats(dev).batched_steps;
        run(batch.data(), n);
      }
      batch_stats.nodes += n;
    }
  } catch (...) {  // the nodes stay unevaluated: no groups of them
    groups_.resize(groups_before);
    group_nodes_.resize(nodes_before);
    throw;
  }
  evaluated_ = end;
  return true;
}

// The plan allocates a group's gradient block at its first use (one slot, the
// members views of it); a lone node's, as the per-node executor's.
bool ComputationGraph::group_grads_under_budget(uint32_t gi, uint32_t from) {
  const Group& grp = groups_[gi];
  const uint32_t* m = group_nodes_.data() + grp.first;
  const DeviceId dev = nodes[m[0]].device;
  if (dev == kCpuDevice) return false;
  SwapPlan* plan = device_memory().plan_if_made(dev);
  if (!plan) return false;
  if (grp.count == 1) plan->lazy_grad(m[0], m[0] == from);
  else if (plan->group_fits(m, grp.count, true)) plan->group_grads(m, grp.count, from);
  else {  // its backward runs node by node; the plan zeroes each member's gradient at its first use
    plan->split_group_grads(m, grp.count, from);
    group_zeroed_[gi] = 1;
  }
  for (unsigned b = 0; b < grp.count; ++b) {
    grads_[m[b]].d = nodes[m[b]].dim;
    grads_[m[b]].device = dev;
  }
  return true;
}

bool ComputationGraph::grad_under_budget(uint32_t j) const {
  if (nodes[j].device == kCpuDevice || !device_memory_) return false;
  const SwapPlan* plan = device_memory_->plan_if(nodes[j].device);
  return plan && plan->wants_grad(j);
}

// Before a group's backward: its members' values and gradients and their
// arguments' resident and held; the blocks may have moved since forward, so
// the output and the arguments are read (gathered) again where they are now.
// False: the group's working set did not fit when backward began, so its
// members have gradients of their own and run one by one (backward_node).
bool ComputationGraph::group_backward_under_budget(uint32_t gi) {
  Group& grp = groups_[gi];
  const uint32_t* m = group_nodes_.data() + grp.first;
  const unsigned N = grp.count;
  const DeviceId dev = nodes[m[0]].device;
  if (dev == kCpuDevice) return true;
  SwapPlan* plan = device_memory().plan_if_made(dev);
  if (!plan) return true;
  if (!plan->grouped_grads(m[0])) return false;
  swap_before_group(*this, m, N, true);
  grp.y.v = values_[m[0]].v;  // the first member's slice starts the block
  const Node& first = nodes[m[0]];
  std::vector<uint32_t> ak(size_t(N) * first.nargs);  // argument-major: [k * N + b]
  std::vector<DeviceGather> gathers;
  for (unsigned k = 0; k < first.nargs; ++k) {
    uint32_t* a = ak.data() + size_t(k) * N;
    for (unsigned b = 0; b < N; ++b) a[b] = args(nodes[m[b]])[k];
    const Tensor& v0 = values_[a[0]];
    const size_t sz = v0.d.size();
    bool contiguous = true;
    for (unsigned b = 0; b < N && contiguous; ++b) contiguous = values_[a[b]].v == v0.v + size_t(b) * sz;
    grp.xs[k].v = v0.v;  // shared (batch 1, broadcast) or in place
    if (grp.xs[k].d.bd != v0.d.bd && !contiguous) gathers.push_back({k, a, sz});
  }
  if (!gathers.empty())
    group_device_gather(dev, gathers.data(), static_cast<unsigned>(gathers.size()), N, grp.xs.data());
  return true;
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

#include "device/dispatch.h"

#include <cstring>
#include <mutex>
#include <string>

#include "graph/graph.h"
#include "ops/registry.h"

namespace dg {

const DeviceOpTable& device_ops(DeviceKind kind) {
  static DeviceOpTable emu, cuda;
  static std::once_flag emu_once, cuda_once;
  if (kind == DeviceKind::emu) {
    std::call_once(emu_once, [] { register_emu_ops(emu); });
    return emu;
  }
  if (kind == DeviceKind::cuda) {
#ifdef DG_HAVE_CUDA
    std::call_once(cuda_once, [] { register_cuda_ops(cuda); });
#endif
    return cuda;
  }
  throw Error("device_ops: the CPU has no device op table (its ops are csrc/ops/)");
}

std::string device_op_names(DeviceKind kind) {
  const DeviceOpTable& t = device_ops(kind);
  std::string out;
  for (unsigned k = 0; k < static_cast<unsigned>(OpId::kCount); ++k)
    if (t.ops[k].forward) out += (out.empty() ? "" : " ") + std::string(op_impl(static_cast<OpId>(k)).name);
  return out;
}

namespace {
// Scratch chunks under a budget: small blocks from the top end of the plan's
// pool (SwapPlan::allocate_scratch), given back at renew_cg.
class PlanChunks : public Allocator {
 public:
  explicit PlanChunks(SwapPlan& plan) : plan_(plan) {}
  void* allocate(size_t bytes) override { return plan_.allocate_scratch(bytes); }
  void deallocate(void* p, size_t) override { plan_.free_scratch(p); }
  size_t chunk_limit() const override { return plan_.scratch_chunk(); }

 private:
  SwapPlan& plan_;
};
}  // namespace

DeviceMemory::~DeviceMemory() {
  for (Pools& p : pools) release(p);
}

void DeviceMemory::release(Pools& p) {
  p.scratch.reset();
  p.grads.reset();
  p.values.reset();
  p.plan_chunks.reset();
  p.plan.reset();
}

DeviceMemory::Pools& DeviceMemory::on(DeviceId id) {
  Pools& p = pools[id];
  if (!p.values) {
    made = true;
    Allocator& a = device_allocator(id);
    p.budget = device_budget(id);
    p.policy = device_policy(id);
    if (p.budget) {
      p.plan = std::make_unique<SwapPlan>(graph, id, p.budget, p.policy);
      p.plan_chunks = std::make_unique<PlanChunks>(*p.plan);
    }
    p.values = std::make_unique<DeviceArena>(a, size_t(1) << 20);  // unused under a budget
    p.grads = std::make_unique<DeviceArena>(a, size_t(1) << 20);
    p.scratch = p.plan_chunks ? std::make_unique<ScratchArena>(*p.plan_chunks, p.plan->scratch_chunk())
                              : std::make_unique<ScratchArena>(a, size_t(1) << 16);
  }
  return p;
}

void DeviceMemory::reset() {
  if (!made) return;
  for (unsigned id = 0; id < kMaxDevices; ++id) {
    Pools& p = pools[id];
    if (!p.values) continue;
    if (p.budget != device_budget(id) || (p.budget && p.policy != device_policy(id))) {
      release(p);  // a new budget: made again at the next use
      continue;
    }
    p.values->reset();
    p.grads->reset();
    if (p.plan) {  // the scratch chunks go back to the plan's pool: the next graph starts with it whole
      p.scratch = std::make_unique<ScratchArena>(*p.plan_chunks, p.plan->scratch_chunk());
      p.plan->reset();
    } else {
      p.scratch->reset();
    }
  }
}

void DeviceMemory::reset_grads() {
  if (!made) return;
  for (Pools& p : pools) {
    if (p.grads) p.grads->reset();
    if (p.plan) p.plan->reset_grads();
  }
}

size_t DeviceMemory::used_bytes(DeviceId id) const {
  const Pools& p = pools[id];
  if (!p.values) return 0;
  if (p.plan) return p.plan->in_use();
  return p.values->used_bytes() + p.grads->used_bytes() + p.scratch->used_bytes();
}

std::shared_ptr<ChunkPin> DeviceMemory::pin(DeviceId id, const void* p) {
  Pools& pools_of = pools[id];
  if (!pools_of.values) return nullptr;
  if (auto pin = pools_of.values->pin(p)) return pin;
  return pools_of.scratch->pin(p);
}

size_t DeviceMemory::capacity_bytes(DeviceId id) const {
  const Pools& p = pools[id];
  if (!p.values) return 0;
  if (p.plan) return p.plan->budget();  // reserved whole; scratch chunks lie inside it
  return p.values->capacity_bytes() + p.grads->capacity_bytes() + p.scratch->capacity_bytes();
}

void assign_device(const ComputationGraph& g, Node& n, const uint32_t* args, unsigned nargs, const Dim* dims) {
  const OpImpl& impl = op_impl(n.op);
  if (n.op == OpId::to_device) {
    n.device = static_cast<DeviceId>(n.i0);
    const DeviceId from = g.nodes[args[0]].device;
    // One hop through the host: a device value goes to the CPU or stays on its device.
    if (from != kCpuDevice && n.device != kCpuDevice && from != n.device)
      throw ValueError("to_device: cannot copy from " + Device::from_id(from).name() + " to " +
                       Device::from_id(n.device).name() + " directly; go through 'CPU'");
  } else if (nargs > 0) {
    n.device = g.nodes[args[0]].device;
    for (unsigned k = 1; k < nargs; ++k) {
      const DeviceId d = g.nodes[args[k]].device;
      if (d != n.device)
        throw ValueError(std::string(impl.name) + ": arguments live on different devices (argument 0 on " +
                         Device::from_id(n.device).name() + ", argument " + std::to_string(k) + " on " +
                         Device::from_id(d).name() + "); move one with to_device()");
    }
  }
  if (n.device == kCpuDevice) return;
  const Device dev = Device::from_id(n.device);
  const DeviceOp& op = device_ops(dev.kind)[n.op];
  if (!op.forward)
    throw ValueError(std::string(impl.name) + ": this op has no kernel on device " + dev.name() +
                     "; compute it on the CPU (to_device(x, 'CPU')) or see docs/gpu.md for the ops devices run");
  if (op.check)
    if (const char* why = op.check(n, dims)) throw ValueError(std::string(impl.name) + " on " + dev.name() + ": " + why);
}

namespace {

DeviceCtx make_ctx(ComputationGraph& g, DeviceId id) {
  DeviceMemory& mem = g.device_memory();
  DeviceMemory::Pools& p = mem.on(id);
  return DeviceCtx{id, p.values.get(), p.scratch.get(), g.int_data.data(), g.float_data.data(), g.device_seed,
                   &mem.rng_counter, p.plan.get()};
}

}  // namespace

void device_forward(ComputationGraph& g, const Node& n, const Tensor* xs, Tensor& y) {
  DeviceCtx ctx = make_ctx(g, n.device);
  y.device = n.device;
  device_ops(Device::from_id(n.device).kind)[n.op].forward(ctx, n, xs, y);
}

void device_backward(ComputationGraph& g, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                     unsigned i, Tensor& dx) {
  DeviceCtx ctx = make_ctx(g, n.device);
  device_ops(Device::from_id(n.device).kind)[n.op].backward(ctx, n, xs, y, dy, i, dx);
}

Tensor device_grad_buffer(ComputationGraph& g, uint32_t j, bool seed) {
  const Node& n = g.nodes[j];
  Tensor t;
  t.d = n.dim;
  t.device = n.device;
  if (SwapPlan* plan = g.device_memory().plan(n.device)) {
    plan->lazy_grad(j, seed);
    return t;  // no memory yet
  }
  const float value = seed ? 1.f : 0.f;
  t.v = g.device_memory().on(n.device).grads->allocate_floats(n.dim.size());
  device_ops(Device::from_id(n.device).kind).fill(t.v, n.dim.size(), value);
  return t;
}

void copy_to_host(const Tensor& t, float* dst) {
  if (t.device == kCpuDevice) {
    std::memcpy(dst, t.v, sizeof(float) * t.d.size());
    return;
  }
  device_ops(Device::from_id(t.device).kind).to_host(dst, t.v, sizeof(float) * t.d.size());
}

}  // namespace dg

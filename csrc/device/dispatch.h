// The graph's side of devices: which device a node runs on, the device op
// that runs it, and the graph's memory on each device. ComputationGraph calls
// these (graph.cc) for nodes whose device is not the CPU.
#pragma once
#include <memory>
#include <vector>

#include "device/device_ops.h"
#include "device/swap.h"

namespace dg {

class ComputationGraph;

// The graph's memory on the devices it uses (created when first used).
// Under a device memory budget (device/swap.h) values and gradients come from
// the plan's BlockPool and scratch chunks from it too; else from bump arenas.
struct DeviceMemory {
  explicit DeviceMemory(ComputationGraph& g) : graph(g) {}
  ~DeviceMemory();
  struct Pools {
    // Declared first, destroyed last: the scratch arena gives its chunks back to the plan.
    std::unique_ptr<SwapPlan> plan;
    std::unique_ptr<Allocator> plan_chunks;
    std::unique_ptr<DeviceArena> values, grads;
    std::unique_ptr<ScratchArena> scratch;
    size_t budget = 0;
    MemoryPolicy policy = MemoryPolicy::automatic;
  };
  ComputationGraph& graph;
  Pools pools[kMaxDevices];
  uint64_t rng_counter = 0;
  bool made = false;  // some device's pools were made (a CPU-only graph's resets skip the loop)
  // The last node of the running forward(): a streamed parameter's first copy
  // is prefetched only for nodes up to it (one past it would read the values
  // before an update that may come first).
  uint32_t forward_end = UINT32_MAX;
  Pools& on(DeviceId id);
  SwapPlan* plan(DeviceId id) { return on(id).plan.get(); }
  const SwapPlan* plan_if(DeviceId id) const { return pools[id].plan.get(); }
  SwapPlan* plan_if_made(DeviceId id) { return pools[id].plan.get(); }
  void reset();
  void reset_grads();  // a new backward pass
  size_t capacity_bytes(DeviceId id) const;
  size_t used_bytes(DeviceId id) const;  // what the graph holds now (the peak, for bump arenas)
  // A pin on the values or scratch chunk of device `id` holding p (null if none).
  std::shared_ptr<ChunkPin> pin(DeviceId id, const void* p);

 private:
  static void release(Pools& p);
};

// Sets n.device for a node being added and checks that its device can run
// it: arguments on one device (to_device excepted), an op with a kernel on
// that device. Throws ValueError naming the op and the device(s).
void assign_device(const ComputationGraph& g, Node& n, const uint32_t* args, unsigned nargs, const Dim* dims);

void device_forward(ComputationGraph& g, const Node& n, const Tensor* xs, Tensor& y);
void device_backward(ComputationGraph& g, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                     unsigned i, Tensor& dx);
// A gradient buffer for node j on its device, filled with 0 (1 for the seed);
// under a budget, its allocation waits for its first use (SwapPlan::need_grad).
Tensor device_grad_buffer(ComputationGraph& g, uint32_t j, bool seed);
// n floats of a device tensor copied to host memory.
void copy_to_host(const Tensor& t, float* dst);

}  // namespace dg

// The graph's side of devices: which device a node runs on, the device op
// that runs it, and the graph's memory on each device. ComputationGraph calls
// these (graph.cc) for nodes whose device is not the CPU.
#pragma once
#include <memory>
#include <vector>

#include "device/device_ops.h"

namespace dg {

class ComputationGraph;

// The graph's memory on the devices it uses (created when first used).
struct DeviceMemory {
  struct Pools {
    std::unique_ptr<DeviceArena> values, grads, scratch;
  };
  Pools pools[kMaxDevices];
  uint64_t rng_counter = 0;
  Pools& on(DeviceId id);
  void reset();
  void reset_grads();  // a new backward pass
  size_t capacity_bytes(DeviceId id) const;
  // A pin on the values or scratch chunk of device `id` holding p (null if none).
  std::shared_ptr<ChunkPin> pin(DeviceId id, const void* p);
};

// Sets n.device for a node being added and checks that its device can run
// it: arguments on one device (to_device excepted), an op with a kernel on
// that device. Throws ValueError naming the op and the device(s).
void assign_device(const ComputationGraph& g, Node& n, const uint32_t* args, unsigned nargs, const Dim* dims);

void device_forward(ComputationGraph& g, const Node& n, const Tensor* xs, Tensor& y);
void device_backward(ComputationGraph& g, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                     unsigned i, Tensor& dx);
// A gradient buffer for node n on its device, filled with `value` (0, or 1 for the seed).
Tensor device_grad_buffer(ComputationGraph& g, const Node& n, float value);
// n floats of a device tensor copied to host memory.
void copy_to_host(const Tensor& t, float* dst);

}  // namespace dg

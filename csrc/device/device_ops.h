// The device op registry: for each device kind, the device implementation of
// every op that has one, keyed by OpId, plus the few runtime calls the graph
// needs (fill, copies). The CPU ops stay in csrc/ops/; these run the kernel
// bodies of csrc/kernels/ through a backend (csrc/emu/emu.h on EMU:0,
// csrc/cuda/launch.cuh on a GPU).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/arena.h"
#include "core/device.h"
#include "core/tensor.h"
#include "ops/node.h"

namespace dg {

using DeviceArena = BumpArena<Allocator>;
class SwapPlan;  // device/swap.h: the graph's memory under a device budget
float* plan_allocate(SwapPlan* plan, size_t n_floats);

// What a device op sees: its device, the graph's memory on that device and
// the graph's attribute arrays (host memory).
struct DeviceCtx {
  DeviceId device;
  DeviceArena* values;   // forward values (reset by renew_cg)
  DeviceArena* scratch;  // per-node memory kept from forward to backward
  const int32_t* ints;   // the graph's int_data
  const float* floats;   // the graph's float_data
  uint64_t seed;         // counter-based RNG (dropout): key ...
  uint64_t* counter;     // ... and the next unused counter, advanced by each draw
  SwapPlan* plan = nullptr;  // under a budget, values come from the plan (which may evict others)
  float* alloc(size_t n) const { return plan ? plan_allocate(plan, n) : values->allocate_floats(n); }
};

using DeviceForward = void (*)(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y);
using DeviceBackward = void (*)(DeviceCtx& ctx, const Node& n, const Tensor* xs, const Tensor& y, const Tensor& dy,
                                unsigned i, Tensor& dx);
// Returns why this node cannot run on the device (an attribute the kernels
// do not cover), or nullptr.
using DeviceCheck = const char* (*)(const Node& n, const Dim* xs);

struct DeviceOp {
  DeviceForward forward = nullptr;
  DeviceBackward backward = nullptr;
  DeviceCheck check = nullptr;
};

struct DeviceOpTable {
  DeviceOp ops[static_cast<unsigned>(OpId::kCount)];
  // Runtime calls of this device kind (device pointers on the device side).
  void (*fill)(float* p, size_t n, float v) = nullptr;
  void (*to_host)(void* dst, const void* src, size_t bytes) = nullptr;
  void (*to_device)(void* dst, const void* src, size_t bytes) = nullptr;
  void (*copy)(void* dst, const void* src, size_t bytes) = nullptr;  // within the device
  void (*add_from_host)(float* dst, const float* host_src, size_t n) = nullptr;  // dst += src
  void (*synchronize)() = nullptr;
  // Trainer updates on host parameters, run by the device's kernels (device/trainer_ops.h).
  void (*sgd_update)(float* w, const float* g, size_t n, float lr, float scale) = nullptr;
  void (*adam_update)(float* w, const float* g, float* m, float* v, size_t n, float lr_t, float scale, float b1,
                      float b2, float eps) = nullptr;

  const DeviceOp& operator[](OpId op) const { return ops[static_cast<unsigned>(op)]; }
  void set(OpId op, DeviceForward f, DeviceBackward b, DeviceCheck c = nullptr) {
    ops[static_cast<unsigned>(op)] = {f, b, c};
  }
};

// The table of a device kind (CPU has none: its ops are csrc/ops/).
const DeviceOpTable& device_ops(DeviceKind kind);
// Fill functions, called once when the table is first used.
void register_emu_ops(DeviceOpTable& t);   // csrc/emu/register.cc
void register_cuda_ops(DeviceOpTable& t);  // csrc/cuda/register.cu (CUDA builds only)

// Names of the ops with a kernel on `kind`, in op-table order.
std::string device_op_names(DeviceKind kind);

}  // namespace dg

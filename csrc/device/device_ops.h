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
// Scratch (per-node memory: masks, index lists, log Z) is mostly a few bytes a
// node: packed at 16 bytes (enough for any element type and cuBLAS), not 256.
using ScratchArena = BumpArena<Allocator, 16>;
class SwapPlan;  // device/swap.h: the graph's memory under a device budget
float* plan_allocate(SwapPlan* plan, size_t n_floats);
float* plan_streamed_in(SwapPlan* plan);
void plan_count_to_host(SwapPlan* plan, size_t bytes);

// What a device op sees: its device, the graph's memory on that device and
// the graph's attribute arrays (host memory).
struct DeviceCtx {
  DeviceId device;
  DeviceArena* values;   // forward values (reset by renew_cg)
  ScratchArena* scratch;  // per-node memory kept from forward to backward
  const int32_t* ints;   // the graph's int_data
  const float* floats;   // the graph's float_data
  uint64_t seed;         // counter-based RNG (dropout): key ...
  uint64_t* counter;     // ... and the next unused counter, advanced by each draw
  SwapPlan* plan = nullptr;  // under a budget, values come from the plan (which may evict others)
  float* alloc(size_t n) const { return plan ? plan_allocate(plan, n) : values->allocate_floats(n); }
};

// One launch of an update kernel on a parameter's resident memory: all of its
// n elements, or (rows != nullptr, device memory) n / row_size rows of a lookup table.
struct UpdateLaunch {
  enum class Rule : uint8_t { sgd, momentum, adagrad, adadelta, rmsprop, adam, amsgrad, fill, scale };
  Rule rule = Rule::sgd;
  float h[4] = {0.f, 0.f, 0.f, 0.f};  // the rule's hyper-parameters in its kernel's field order
                                      // (fill: the value; scale: the factor)
  float* w = nullptr;        // values updated (or filled / scaled)
  const float* g = nullptr;  // gradient
  float* s = nullptr;        // state slots, slot-major over `stride` elements
  size_t stride = 0;         // elements of the whole parameter
  size_t n = 0;              // elements visited
  float scale = 1.f;         // gradient clipping factor
  const uint32_t* rows = nullptr;
  uint32_t row_size = 1;
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
  // dst (m x n) += U V^T from host factors U (m x k), V (n x k), all column-major
  void (*outer_from_host)(float* dst, const float* u, const float* v, uint32_t m, uint32_t n, uint32_t k) = nullptr;
  void (*synchronize)() = nullptr;
  // The autobatching executor (graph/autobatch_device.cc): n slices of `size`
  // floats, their addresses in a device array, gathered into dst (one batch),
  // or src's slices added into them (null addresses skipped).
  void (*gather_slices)(float* dst, const float* const* src, uint32_t n, uint32_t size) = nullptr;
  void (*scatter_add_slices)(float* const* dst, const float* src, uint32_t n, uint32_t size) = nullptr;
  // The copy stream: a host<->device copy ordered after the compute issued so
  // far, running beside the compute that follows; it returns an event (a
  // sequence number, increasing; copies complete in order). wait_event makes
  // the compute that follows wait for it (a GPU: a stream wait, the host goes
  // on; EMU:0: the host blocks); host_wait blocks the host until it is done.
  uint64_t (*copy_async)(void* dst, const void* src, size_t bytes, bool to_device) = nullptr;
  bool (*event_done)(uint64_t ev) = nullptr;
  void (*wait_event)(uint64_t ev) = nullptr;
  void (*host_wait)(uint64_t ev) = nullptr;
  // Parameters resident on the device (params/resident.h; kernels: device/trainer_ops.h):
  // a trainer's rule (or a fill / scale) over the visited elements, and the
  // squared norm of a gradient's visited elements (a device reduction).
  void (*update)(const UpdateLaunch& u) = nullptr;
  double (*squared_norm)(const float* g, size_t n, const uint32_t* rows, uint32_t row_size) = nullptr;

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

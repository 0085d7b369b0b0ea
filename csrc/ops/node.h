// Node: one op application in a ComputationGraph. Plain data, no heap.
// It lives beside the ops, which read it, so csrc/ops/ needs nothing from graph/.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dim.h"
#include "ops/op_id.h"

namespace dg {

struct Node {
  OpId op;
  bool needs_grad = false;  // some argument (transitively) reaches a parameter
  DeviceId device = kCpuDevice;  // where it runs (its arguments' device; set by the graph)
  uint16_t nargs = 0;
  bool large = false;  // its value holds 2^32 or more values (set by the graph; only ops that allow it)
  uint32_t arg0 = 0;  // first argument's slot in ComputationGraph::arg_pool
  Dim dim;            // output shape, fixed at construction
  // Small attributes whose meaning belongs to the op (scalars, axes, flags).
  float f0 = 0.f, f1 = 0.f;
  int32_t i0 = 0, i1 = 0;
  // Variable-length attributes: a span of ComputationGraph::int_data or float_data.
  uint32_t aux0 = 0, naux = 0;
  void* ptr = nullptr;          // the parameter behind parameter/lookup nodes
  mutable float* mem = nullptr;  // per-node memory an op keeps from forward to backward
};

}  // namespace dg

// The op enum and the vocabulary of op_table.def's columns.
#pragma once
#include <cstdint>

namespace dg {

// How an op can join an autobatch group (op_table.def's batch column).
// `plain`: forward/backward treat batch elements independently; its int
// attributes (if any) are the same for the whole node, so nodes join a group
// only when those agree. `per_element`: the same, with an int attribute holding
// one index per batch element (a group's indices are the members' indices in
// order). `none`: the op always runs alone.
enum class BatchKind : uint8_t { none, plain, per_element };

// Devices that implement an op (op_table.def's devices column, a bitmask).
// DG_DEV_GPU: the op has a CUDA kernel (the emulated device runs the same kernel).
#define DG_DEV_CPU 0x1u
#define DG_DEV_GPU 0x2u

enum class OpId : uint16_t {
#define DG_OP(name, family, arity, diff, batch, devices, functions) name,
#include "ops/op_table.def"
#undef DG_OP
  kCount
};

}  // namespace dg

// The op enum, generated from op_table.def.
#pragma once
#include <cstdint>

namespace dg {

enum class OpId : uint16_t {
#define DG_OP(name, arity, diff) name,
#include "ops/op_table.def"
#undef DG_OP
  kCount
};

}  // namespace dg

#include "ops/registry.h"

namespace dg {

const OpImpl* const kOpImpls[] = {
#define DG_OP(name, family, arity, diff, batch, devices, functions) &impl_##name,
#include "ops/op_table.def"
#undef DG_OP
};

}  // namespace dg

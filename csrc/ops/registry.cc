#include "ops/registry.h"

namespace dg {

namespace {
const OpImpl* const kTable[] = {
#define DG_OP(name, family, arity, diff, batch, devices, functions) &impl_##name,
#include "ops/op_table.def"
#undef DG_OP
};
}  // namespace

const OpImpl& op_impl(OpId op) { return *kTable[static_cast<unsigned>(op)]; }

}  // namespace dg

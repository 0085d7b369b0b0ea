#include "graph/api.h"

#include <algorithm>
#include <string>

#include "device/dispatch.h"

namespace dg::api {

// Nodes are built in place (ComputationGraph::new_node / commit): all checks
// that can fail come first, then the node's attributes, then commit.

Expression input(const float* data, const Dim& d, int device) {
  ComputationGraph& g = G();
  // Node::aux0/naux are 32-bit offsets into float_data.
  if (g.float_data.size() + d.size() > UINT32_MAX)
    throw OverflowError("input: the current graph's inputs would hold " +
                        std::to_string(g.float_data.size() + d.size()) + " values (shape " + d.str() +
                        "); at most 2^32 - 1 per graph");
  const uint32_t at = static_cast<uint32_t>(g.float_data.size());
  g.float_data.insert(g.float_data.end(), data, data + d.size());
  Node& n = g.new_node(OpId::input);
  n.device = device >= 0 ? static_cast<DeviceId>(device) : g.default_device;
  n.dim = d;
  n.aux0 = at;
  n.naux = d.size();
  try {
    return g.commit(nullptr, 0);
  } catch (...) {
    g.float_data.resize(at);
    throw;
  }
}

Expression input_from_device(const float* src, const Dim& d, DeviceId device) {
  ComputationGraph& g = G();
  const DeviceKind kind = Device::from_id(device).kind;
  if (kind == DeviceKind::cpu) throw ValueError("input_from_device: the CPU is not a device");
  float* dst = g.device_memory().on(device).values->allocate_floats(d.size());
  device_ops(kind).copy(dst, src, sizeof(float) * d.size());
  Node& n = g.new_node(OpId::input);
  n.device = device;
  n.dim = d;
  n.ptr = dst;  // the device input op aliases it (device/inputs_ops.h)
  return g.commit(nullptr, 0);
}

Expression constant(const Dim& d, float value) {
  ComputationGraph& g = G();
  Node& n = g.new_node(OpId::constant);
  n.device = g.default_device;
  n.dim = d;
  n.f0 = value;
  return g.commit(nullptr, 0);
}

Expression random(OpId op, const Dim& d, float a, float b) {
  ComputationGraph& g = G();
  Node& n = g.new_node(op);
  n.device = g.default_device;
  n.dim = d;
  n.f0 = a;
  n.f1 = b;
  return g.commit(nullptr, 0);
}

namespace {
// One node per parameter (and constness) per graph: later uses share it. The
// storage's node_epoch/node_index/node_const remember it.
template <class Storage>
Expression shared_node(Storage& p, OpId op, const Dim& d, bool update) {
  ComputationGraph& g = G();
  if (p.node_epoch == g.epoch() && p.node_const == !update) return Expression{p.node_index, g.version()};
  Node& n = g.new_node(op);
  n.dim = d;
  n.ptr = &p;
  n.device = p.device;
  n.needs_grad = update;
  Expression e = g.commit(nullptr, 0);
  g.keep_alive(p);
  p.node_epoch = g.epoch();
  p.node_index = e.i;
  p.node_const = !update;
  return e;
}
}  // namespace

Expression parameter(ParameterStorage& p, bool update) { return shared_node(p, OpId::parameter, p.dim, update); }

bool absorb_parameter_bias(Expression& product, ParameterStorage& b) {
  ComputationGraph& g = G();
  if (!ComputationGraph::absorb_bias_on() || product.version != g.version() || size_t(product.i) + 1 != g.size())
    return false;
  if (g.nodes[product.i].op != OpId::matmul) return false;  // (before b's node is made and moved)
  const bool made_now = !(b.node_epoch == g.epoch() && !b.node_const);
  const Expression bias = parameter(b, true);
  if (!made_now) return g.absorb_bias(product, bias);
  const uint32_t i = product.i;
  if (!g.swap_with_next_leaf(i)) return false;  // (b's node stays where it is: the add reads it)
  b.node_index = i;
  const Expression moved{i + 1, g.version()};
  if (g.absorb_bias(moved, Expression{i, g.version()})) {
    product = moved;
    return true;
  }
  g.swap_adjacent(i);  // back as they were
  b.node_index = i + 1;
  return false;
}

Expression lookup_table(LookupParameterStorage& p, bool update) {
  return shared_node(p, OpId::lookup_table, p.full_dim(), update);
}

Expression lookup(LookupParameterStorage& p, const int32_t* idx, unsigned count, bool batched, bool update) {
  ComputationGraph& g = G();
  if (count == 0) throw ValueError("lookup_batch: needs at least one index");
  const uint32_t at = static_cast<uint32_t>(g.int_data.size());
  g.int_data.insert(g.int_data.end(), idx, idx + count);
  Node& n = g.new_node(OpId::lookup);
  n.dim = p.row_dim;
  n.dim.bd = batched ? count : 1;
  n.ptr = &p;
  n.device = p.device;
  n.needs_grad = update;
  n.aux0 = at;
  n.naux = count;
  Expression e;
  try {
    e = g.commit(nullptr, 0);
  } catch (...) {
    g.int_data.resize(at);
    throw;
  }
  g.keep_alive(p);  // a compare and a branch per lookup; the reference is taken once per graph
  return e;
}

void set_input_values(const Expression& e, const float* values, size_t n) {
  ComputationGraph& g = G();
  g.check(e);
  Node& node = g.nodes[e.i];
  if (node.op == OpId::input && node.ptr)
    throw ValueError("set(): this input was made from a device array (inputTensor of a CUDA array); make a new "
                     "input instead");
  if (node.op != OpId::input)
    throw ValueError(std::string("set() can only be called on an input expression (inputVector, vecInput, "
                                 "matInput, inputTensor) or a lookup, not on the result of ") +
                     op_impl(node.op).name);
  if (n != node.naux)
    throw ValueError("set(): " + std::to_string(n) + " values for an input of shape " + node.dim.str() + " (" +
                     std::to_string(node.naux) + " values)");
  std::copy(values, values + n, g.float_data.begin() + node.aux0);
  g.invalidate();
}

bool is_lookup(const Expression& e) {
  ComputationGraph& g = G();
  g.check(e);
  return g.nodes[e.i].op == OpId::lookup;
}

void set_lookup_indices(const Expression& e, const long* indices, size_t n) {
  ComputationGraph& g = G();
  g.check(e);
  Node& node = g.nodes[e.i];
  if (node.op != OpId::lookup) throw ValueError("set(indices) can only be called on a lookup expression");
  auto& table = *static_cast<LookupParameterStorage*>(node.ptr);
  if (n != node.naux)
    throw ValueError("set(): " + std::to_string(n) + " indices for a lookup of " + std::to_string(node.naux) +
                     " rows (a lookup keeps its batch size)");
  for (size_t k = 0; k < n; ++k)
    if (indices[k] < 0 || indices[k] >= static_cast<long>(table.rows))
      throw IndexError("set(): index " + std::to_string(indices[k]) + " out of range for " + table.name + " with " +
                       std::to_string(table.rows) + " rows");
  std::copy(indices, indices + n, g.int_data.begin() + node.aux0);
  g.invalidate();
}

Expression op1(OpId op, const Expression& x, float f0, float f1, int i0, int i1) {
  ComputationGraph& g = G();
  g.check(x);
  const uint32_t arg = x.i;
  Node& n = g.new_node(op);
  n.f0 = f0;
  n.f1 = f1;
  n.i0 = i0;
  n.i1 = i1;
  return g.commit(&arg, 1);
}

Expression to_device(const Expression& x, DeviceId device) { return op1(OpId::to_device, x, 0.f, 0.f, device); }

Expression op2(OpId op, const Expression& a, const Expression& b, float f0, int i0, int i1) {
  ComputationGraph& g = G();
  g.check(a);
  g.check(b);
  const uint32_t args[2] = {a.i, b.i};
  Node& n = g.new_node(op);
  n.f0 = f0;
  n.i0 = i0;
  n.i1 = i1;
  return g.commit(args, 2);
}

namespace {
// Checks xs (live), then builds the node: `set` writes its attributes.
template <class Set>
Expression add_many(OpId op, const Expression* xs, size_t count, Set set) {
  ComputationGraph& g = G();
  uint32_t small[8];
  std::vector<uint32_t> big;
  uint32_t* args = small;
  if (count > 8) {
    big.resize(count);
    args = big.data();
  }
  for (size_t k = 0; k < count; ++k) {
    g.check(xs[k]);
    args[k] = xs[k].i;
  }
  set(g.new_node(op));
  return g.commit(args, static_cast<unsigned>(count));
}
}  // namespace

Expression opn(OpId op, const Expression* xs, size_t count, float f0, int i0, int i1) {
  return add_many(op, xs, count, [&](Node& n) {
    n.f0 = f0;
    n.i0 = i0;
    n.i1 = i1;
  });
}

Expression opn(OpId op, const std::vector<Expression>& xs, float f0, int i0, int i1) {
  return opn(op, xs.data(), xs.size(), f0, i0, i1);
}

Expression op_ints(OpId op, const Expression* xs, size_t count, const int32_t* ints, size_t nints, float f0,
                   float f1, int i0, int i1) {
  ComputationGraph& g = G();
  const uint32_t at = static_cast<uint32_t>(g.int_data.size());
  g.int_data.insert(g.int_data.end(), ints, ints + nints);
  try {
    return add_many(op, xs, count, [&](Node& n) {
      n.f0 = f0;
      n.f1 = f1;
      n.i0 = i0;
      n.i1 = i1;
      n.aux0 = at;
      n.naux = static_cast<uint32_t>(nints);
    });
  } catch (...) {
    g.int_data.resize(at);
    throw;
  }
}

Expression op_ints(OpId op, const std::vector<Expression>& xs, const std::vector<int32_t>& ints, float f0,
                   float f1, int i0, int i1) {
  return op_ints(op, xs.data(), xs.size(), ints.data(), ints.size(), f0, f1, i0, i1);
}

}  // namespace dg::api

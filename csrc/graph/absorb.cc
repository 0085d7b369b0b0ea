// Nodes merged as they are built: W x + b as one affine_transform node
// (ComputationGraph::absorb_bias), and f(W x + b) for f = logistic, tanh or
// rectify as that node with f folded in (absorb_activation; ops/affine_activation.h).
//
// `f(W * x + b)` is the most common chain of nodes in a DyNet program (every gate
// of every cell). As one node it is one group for the autobatching executor rather
// than three, one pass over the output rather than three, and two nodes less to
// build and schedule: ~6 % of a Tree-LSTM's autobatched training step for the bias
// (issue 26). Only a node nothing can see any more is changed: no node reads it
// (no node with arguments follows it) and the Python side holds no other
// reference to it.
#include "graph/graph.h"

#include <initializer_list>
#include <utility>

#include "core/error.h"
#include "ops/affine_activation.h"
#include "ops/registry.h"

namespace dg {

bool& ComputationGraph::absorb_bias_on() {
  static bool on = true;
  return on;
}

bool& ComputationGraph::absorb_activation_on() {
  static bool on = true;
  return on;
}

// Evaluated nodes, checkpoints (a revert could keep i but drop a later node),
// nodes handed out by index, device graphs, immediate evaluation and validity
// checks keep the graph as built. (On a device, a budget's split groups gave
// affine_transform results 1 ulp off the unbudgeted run, where the separate nodes
// are bit-identical: devices wait for that.)
bool ComputationGraph::may_rewrite(uint32_t i) const {
  return i >= evaluated_ && i >= aliased_below_ && checkpoints_.empty() && !has_device_nodes_ && !immediate_compute &&
         !check_validity;
}

// Whether node m is the graph's last node with arguments: no node reads it yet.
bool ComputationGraph::read_by_none(uint32_t m) const {
  for (size_t j = m + 1; j < nodes.size(); ++j)
    if (nodes[j].nargs) return false;
  return true;
}

bool ComputationGraph::absorb_bias(const Expression& product, const Expression& bias) {
  if (!absorb_bias_on() || product.version != version_ || bias.version != version_) return false;
  const uint32_t m = product.i;
  // Arguments come before their node (graphs run in node order): a bias made after W x waits for the add.
  if (m >= nodes.size() || bias.i >= m) return false;
  if (!may_rewrite(m)) return false;
  Node& n = nodes[m];
  if (n.op != OpId::matmul || n.nargs != 2 || n.device != kCpuDevice || n.large) return false;
  if (!read_by_none(m) || n.arg0 + 2 != arg_pool.size()) return false;
  const Node& b = nodes[bias.i];
  if (b.device != kCpuDevice || b.large || !b.dim.single_equal(n.dim) || (b.dim.bd != 1 && b.dim.bd != n.dim.bd))
    return false;
  // affine_transform must give the add's shape exactly (a vector stays a vector).
  // Dim's == ignores trailing axes of 1, which y.dim() and npvalue() show: a {3} product plus
  // a {3, 1} bias is {3, 1}, where affine_transform gives {3}. Both shapes, axes counted,
  // for either order of the add's operands (W x + b, b + W x).
  // The usual case, a vector product and a vector bias (batch 1 or the product's), needs no
  // check: all three shapes are the product's (the shape rules' three calls cost what the
  // merge saves in building a node).
  if (n.dim.nd != 1 || b.dim.nd != 1) {
    const Dim dims[3] = {b.dim, nodes[arg_pool[n.arg0]].dim, nodes[arg_pool[n.arg0 + 1]].dim};
    const Dim add_dims[2] = {n.dim, b.dim}, add_dims_swapped[2] = {b.dim, n.dim};
    Node fused = n, sum = n;
    fused.op = OpId::affine_transform;
    fused.nargs = 3;
    sum.op = OpId::add;
    try {
      const Dim got = op_impl(OpId::affine_transform).dim_forward(*this, fused, dims);
      for (const Dim* in : {add_dims, add_dims_swapped}) {
        const Dim want = op_impl(OpId::add).dim_forward(*this, sum, in);
        if (!(got == want) || got.nd != want.nd) return false;
      }
    } catch (const Error&) {
      return false;
    }
  }
  const uint32_t w = arg_pool[n.arg0], x = arg_pool[n.arg0 + 1];
  arg_pool.push_back(x);
  arg_pool[n.arg0 + 1] = w;
  arg_pool[n.arg0] = bias.i;
  n.op = OpId::affine_transform;
  n.nargs = 3;
  n.needs_grad = n.needs_grad || b.needs_grad;
  return true;
}

bool ComputationGraph::absorb_activation(const Expression& x, OpId op) {
  const int32_t kind = affine_activation::of_op(op);
  if (!absorb_activation_on() || kind == affine_activation::kNone || x.version != version_) return false;
  const uint32_t m = x.i;
  if (m >= nodes.size() || !may_rewrite(m)) return false;
  Node& n = nodes[m];
  if (n.op != OpId::affine_transform || n.i0 != affine_activation::kNone || n.device != kCpuDevice || n.large)
    return false;
  if (!read_by_none(m)) return false;
  n.i0 = kind;  // the activation keeps the shape: nothing else changes
  return true;
}

bool ComputationGraph::swap_with_next_leaf(uint32_t i) {
  if (size_t(i) + 2 != nodes.size() || nodes[i + 1].nargs || !may_rewrite(i)) return false;
  swap_adjacent(i);
  return true;
}

}  // namespace dg

// Stacked products in the autobatching executor (set_autobatch_stacking, off
// by default): ready groups that multiply different parameter matrices by the
// same members' operands (a Tree-LSTM cell's gates U_i e ... U_r e) run as one
// GEMM over the weights stacked, the stacked copy made once per forward. In
// backward the shared operand's gradient is one GEMM over the stacked output
// gradients; the weights' gradients take the deferred outer-product path.
#include <algorithm>
#include <cstring>

#include "core/gemm.h"
#include "graph/autobatch_agenda.h"
#include "graph/autobatch_profile.h"
#include "graph/graph.h"

namespace dg {

namespace {

// Products over fewer members run apart: OpenBLAS (one core, 256-deep weights)
// ran five 128-row products faster than one 640-row product up to ~25 columns,
// and the stacked one 10-20 % faster from 32 columns on.
constexpr size_t kStackMinMembers = 32;

// A group of products W * x_b that can join a stacked set: W a parameter
// matrix (batch 1), each x_b one column (the member's own, not shared).
bool stackable(const ComputationGraph& g, const Node& n) {
  if (n.op != OpId::matmul || n.nargs != 2 || n.dim.bd != 1 || n.device != kCpuDevice) return false;
  const Node& w = g.nodes[g.args(n)[0]];
  const Node& x = g.nodes[g.args(n)[1]];
  return w.op == OpId::parameter && w.dim.nd == 2 && w.dim.bd == 1 && x.dim.cols() == 1 && x.dim.bd == 1 &&
         x.dim.nd <= 2;
}

}  // namespace

bool ComputationGraph::take_stacked_partners(Agenda& agenda, const std::vector<uint32_t>& batch,
                                             uint64_t chosen_height, std::vector<std::vector<uint32_t>>& set) {
  set.clear();
  bool distinct = false;  // members' operands (all one node: it would not be batched)
  if (stack_products && batch.size() >= kStackMinMembers && stackable(*this, nodes[batch[0]]))
    for (size_t b = 1; !distinct && b < batch.size(); ++b)
      distinct = args(nodes[batch[b]])[1] != args(nodes[batch[0]])[1];
  if (!distinct) return false;
  const Node& first = nodes[batch[0]];
  const unsigned cols = nodes[args(first)[0]].dim.cols();
  auto& buckets = agenda.buckets();
  for (auto it = buckets.begin(); it != buckets.end();) {
    const std::vector<uint32_t>& other = it->second.nodes;
    const Node& o = nodes[other[0]];
    bool join = other.size() == batch.size() && args(o)[1] == args(first)[1] && stackable(*this, o) &&
                args(o)[0] != args(first)[0] && nodes[args(o)[0]].dim.cols() == cols;
    for (size_t b = 1; join && b < batch.size(); ++b) join = args(nodes[other[b]])[1] == args(nodes[batch[b]])[1];
    // Under the height rule a partner nearer the end of the graph (an o gate) waits,
    // as it would alone, to run with more members.
    join = join && !group_too_large(other) &&
           (batch_policy != BatchPolicy::height || it->second.height_sum >= chosen_height);
    if (!join) {
      ++it;
      continue;
    }
    if (set.empty()) set.push_back(batch);
    set.push_back(std::move(it->second.nodes));
    it = buckets.erase(it);
  }
  // Same weights in the same order each time: the stacked copy is reused.
  std::sort(set.begin(), set.end(), [this](const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
    return args(nodes[a[0]])[0] < args(nodes[b[0]])[0];
  });
  return !set.empty();
}

void ComputationGraph::run_stacked_set(size_t first_group, unsigned sets, PhaseClock& clock) {
  // One gather of the shared operand; the product into a (rows of all weights) x N
  // block; each group's rows copied out so its outputs stay one contiguous block.
  const unsigned N = groups_[first_group].count;
  auto members = [&](unsigned k) { return group_nodes_.data() + groups_[first_group + k].first; };
  std::vector<uint32_t>& wn = autobatch_scratch().set_weights;
  wn.clear();
  unsigned rows = 0;
  for (unsigned k = 0; k < sets; ++k) {
    wn.push_back(args(nodes[members(k)[0]])[0]);
    rows += nodes[members(k)[0]].dim.rows();
  }
  const unsigned cols = nodes[wn[0]].dim.cols();
  const float* W = stacked_weights(wn, rows);
  gather_group(groups_[first_group], members(0), N);
  for (unsigned k = 1; k < sets; ++k) {  // the same operand as the set's first group
    Group& grp = groups_[first_group + k];
    grp.proto = nodes[members(k)[0]];
    grp.proto.dim.bd = N;
    grp.xs = {values_[wn[k]], groups_[first_group].xs[1]};
  }
  for (unsigned k = 0; k < sets; ++k) groups_[first_group + k].in_stacked_set = true;
  clock.charge(autobatch_profile().fwd_gather);
  const Tensor& x = groups_[first_group].xs[1];
  float* all = fx_pool.allocate_floats(size_t(rows) * N);
  gemm(all, W, false, x.v, false, rows, N, cols, 0.f);
  unsigned off = 0;
  for (unsigned k = 0; k < sets; ++k) {
    Group& grp = groups_[first_group + k];
    const unsigned m = grp.proto.dim.rows();
    grp.y.d = grp.proto.dim;
    grp.y.v = fx_pool.allocate_floats(size_t(m) * N);
    for (unsigned b = 0; b < N; ++b)
      std::memcpy(grp.y.v + size_t(b) * m, all + size_t(b) * rows + off, sizeof(float) * m);
    off += m;
  }
  Group& last = groups_[first_group + sets - 1];
  last.stacked_set = sets;
  last.wstack = W;
  last.wstack_rows = rows;
  autobatch_profile().products_stacked += sets;
  ++autobatch_profile().stacked_sets;
  clock.charge(autobatch_profile().fwd_kernel);
  for (unsigned k = 0; k < sets; ++k) slice_group_outputs(groups_[first_group + k], members(k), N);
}

const float* ComputationGraph::stacked_weights(const std::vector<uint32_t>& weight_nodes, unsigned rows) {
  for (const auto& [key, w] : stacked_weights_)
    if (key == weight_nodes) return w;
  const unsigned cols = nodes[weight_nodes[0]].dim.cols();
  float* w = fx_pool.allocate_floats(size_t(rows) * cols);
  for (unsigned c = 0; c < cols; ++c) {  // column c: column c of each weight, one under the other
    float* out = w + size_t(c) * rows;
    for (uint32_t j : weight_nodes) {
      const unsigned m = nodes[j].dim.rows();
      std::memcpy(out, values_[j].v + size_t(c) * m, sizeof(float) * m);
      out += m;
    }
  }
  stacked_weights_.emplace_back(weight_nodes, w);
  return w;
}

// A stacked set's operand gradient, when its last group comes up (the users of
// all its groups have run): dx += [W_1; W_2; ...]^T [dy_1; dy_2; ...], one GEMM.
void ComputationGraph::stacked_set_backward(size_t gi, const uint32_t* operand_args, PhaseClock& clock) {
  AutobatchProfile& prof = autobatch_profile();
  const Group& last = groups_[gi];
  const size_t g0 = gi + 1 - last.stacked_set;
  const unsigned N = last.count, rows = last.wstack_rows;
  bool any = false;
  for (size_t g = g0; g <= gi; ++g) {
    const Group& grp = groups_[g];
    for (unsigned b = 0; b < N; ++b) flush_outer_products(group_nodes_[grp.first + b]);
    any = any || (grads_[group_nodes_[grp.first]].v && group_zeroed_[g]);
  }
  clock.charge(prof.bwd_outer);
  if (!any) return;
  float* dys = dx_pool.allocate_floats(size_t(rows) * N);
  unsigned off = 0;
  for (size_t g = g0; g <= gi; ++g) {
    const Group& grp = groups_[g];
    const unsigned m = grp.proto.dim.rows();
    const float* dyg = grads_[group_nodes_[grp.first]].v;
    const bool reached = dyg && group_zeroed_[g];
    for (unsigned b = 0; b < N; ++b) {
      float* out = dys + size_t(b) * rows + off;
      if (reached) std::memcpy(out, dyg + size_t(b) * m, sizeof(float) * m);
      else std::memset(out, 0, sizeof(float) * m);
    }
    off += m;
  }
  const Tensor& x = last.xs[1];
  Tensor xs2[2] = {Tensor(Dim({rows, x.d.rows()}), const_cast<float*>(last.wstack)), x};
  Node proto = last.proto;
  proto.dim = Dim({rows}, N);
  Tensor dy(proto.dim, dys);
  clock.charge(prof.bwd_scatter);
  group_arg_backward(op_impl(OpId::matmul), proto, xs2, Tensor(), dy, 1, operand_args, N, clock);
}

}  // namespace dg

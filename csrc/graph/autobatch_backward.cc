// The autobatching executor's backward (forward: autobatch.cc): the groups
// run in reverse with the forward's prototypes, so a shared weight's gradient
// is one GEMM over the whole group. Each group's gradients are one contiguous
// block, zeroed just before the first gradient reaches it.
#include <cstring>
#include <optional>

#include "core/thread_pool.h"
#include "core/transpose.h"
#include "graph/autobatch_agenda.h"
#include "graph/autobatch_profile.h"
#include "graph/autobatch_threads.h"
#include "graph/graph.h"

namespace dg {

// Where dx for a batched argument of a group of N members (their arguments ak)
// goes: the arguments' gradient block when it is one in member order (zeroed
// first if no gradient has reached it yet), else a zeroed scratch block added
// back member by member after (scatter). False: no member's gradient is wanted.
bool ComputationGraph::arg_grad_target(const Tensor& x, const uint32_t* ak, unsigned N, Tensor& dx, bool& scatter,
                                       PhaseClock& clock) {
  AutobatchProfile& prof = autobatch_profile();
  const uint32_t a0 = ak[0];
  const unsigned sz = nodes[a0].dim.size();
  // The usual case: the arguments are one CPU group's members in order, so they lie
  // in its block in order. Checked on the group lists (read in order) rather than on
  // every member's gradient record (a cache miss each in a large graph).
  bool one_group = false;
  if (grads_[a0].v && nodes[a0].device == kCpuDevice) {
    const Group& ag = groups_[group_of_[a0]];
    const uint32_t* m = group_nodes_.data() + ag.first;
    one_group = ag.count == N;
    for (unsigned b = 0; one_group && b < N; ++b) one_group = m[b] == ak[b];
  }
  bool any = one_group, contiguous = one_group || grads_[a0].v != nullptr;
  if (one_group) {
    touch_grad(a0);
  } else {
    for (unsigned b = 0; b < N; ++b) {
      const Tensor& gb = grads_[ak[b]];
      any = any || gb.v;
      contiguous = contiguous && gb.v == grads_[a0].v + size_t(b) * sz;
    }
    if (!any) return false;
    for (unsigned b = 0; b < N; ++b)
      if (grads_[ak[b]].v) touch_grad(ak[b]);
  }
  clock.charge(prof.bwd_memset);
  dx = Tensor(x.d, grads_[a0].v);
  dx.device = x.device;
  scatter = !contiguous;
  if (contiguous) {
    ++prof.grads_in_place;
    return true;
  }
  ++prof.grads_scattered;
  if (x.device != kCpuDevice) {  // zeroed, computed and added to the members on the device
    dx.v = group_device_floats(x.device, size_t(sz) * N, true);
    group_device_fill(x.device, dx.v, size_t(sz) * N, 0.f);
  } else {
    dx.v = dx_pool.allocate_floats(size_t(sz) * N);
    std::memset(dx.v, 0, sizeof(float) * sz * N);
  }
  clock.charge(prof.bwd_scatter);
  return true;
}

// The members' gradients += their slices of a scratch block (arg_grad_target), in member order.
void ComputationGraph::scatter_arg_grad(const Tensor& dx, const uint32_t* ak, unsigned N) {
  const unsigned sz = nodes[ak[0]].dim.size();
  if (dx.device != kCpuDevice) {
    group_device_scatter_add(dx.device, dx.v, ak, N, sz);
    return;
  }
  for (unsigned b = 0; b < N; ++b) {
    Tensor& gb = grads_[ak[b]];
    if (gb.v) VecMap(gb.v, sz) += VecMap(dx.v + size_t(b) * sz, sz);
  }
}

// dx += d(op)/dx_k for a batched argument k of a group of N members (their
// arguments ak): into the arguments' gradient block when it is one in member
// order, else through a scratch block added back member by member.
void ComputationGraph::group_arg_backward(const OpImpl& impl, const Node& proto, const Tensor* xs, const Tensor& y,
                                          const Tensor& dy, unsigned k, const uint32_t* ak, unsigned N,
                                          PhaseClock& clock) {
  AutobatchProfile& prof = autobatch_profile();
  Tensor dx;
  bool scatter;
  if (!arg_grad_target(xs[k], ak, N, dx, scatter, clock)) return;
  if (dx.device != kCpuDevice) group_backward(proto, xs, y, dy, k, dx);
  else arg_backward_by_members(*this, impl, proto, xs, y, dy, k, dx, N);
  clock.charge(prof.bwd_kernel);
  if (!scatter) return;
  scatter_arg_grad(dx, ak, N);
  clock.charge(prof.bwd_scatter);
}

bool& autobatch_share_grads() {
  static bool on = true;
  return on;
}

namespace {

// Whether an op's gradient for argument k is dy itself when the argument has the
// op's shape (op_table.def: DG_OP_PASSES_GRADIENT): then an argument used by
// nothing else can share dy's block.
bool passes_gradient(OpId op, unsigned k) {
#define DG_OP_PASSES_GRADIENT(name, when) \
  if (op == OpId::name && (when)) return true;
#include "ops/op_table.def"
#undef DG_OP_PASSES_GRADIENT
  return false;
}

}  // namespace

// Decides which groups share their user's gradient block (grad_root_ then names
// the user's group; backward_batched places the blocks). Group A shares group G's
// block when G's op passes the gradient through for argument k, the k-th arguments
// of G's members are exactly A's members in order, with G's shape, and each is
// used by its G member alone (and is not the node backward starts from): A's
// gradient is then G's, so A's block needs no zeroing and G no dx += dy pass.
// In the Tree-LSTM cell, W x feeding W x + b and the products summed into c.
void ComputationGraph::share_gradient_blocks(uint32_t from, bool full) {
  const uint32_t ng = static_cast<uint32_t>(groups_.size());
  grad_root_.resize(ng);
  for (uint32_t gi = 0; gi < ng; ++gi) grad_root_[gi] = gi;
  grad_shared_args_.assign(ng, 0);
  if (!autobatch_share_grads()) return;
  use_count_.assign(evaluated_, 0);
  for (uint32_t j = 0; j < evaluated_; ++j) {
    const uint32_t* a = args(nodes[j]);
    for (unsigned k = 0; k < nodes[j].nargs; ++k)
      if (use_count_[a[k]] < 2) ++use_count_[a[k]];
  }
  uint64_t& shared = autobatch_profile().grads_aliased;
  for (uint32_t gi = ng; gi-- > 0;) {
    const Group& grp = groups_[gi];
    const uint32_t* members = group_nodes_.data() + grp.first;
    const Node& first = nodes[members[0]];
    const unsigned N = grp.count;
    if (N < 2 || grp.in_stacked_set || first.device != kCpuDevice || !(full || first.needs_grad)) continue;
    for (unsigned k = 0; k < first.nargs && k < 32; ++k) {
      if (!passes_gradient(first.op, k)) continue;
      const uint32_t a0 = args(first)[k];
      const uint32_t ai = group_of_[a0];
      const Group& ag = groups_[ai];
      const Node& an = nodes[a0];
      if (ai >= gi || ag.count != N || ag.in_stacked_set || grad_root_[ai] != ai || group_nodes_[ag.first] != a0 ||
          an.device != kCpuDevice || !(an.dim == first.dim) || !(full || an.needs_grad))
        continue;
      bool ok = true;
      // The members' k-th arguments as forward's gather read them, else from their nodes.
      const uint32_t* kept = grp.args_at != UINT32_MAX && group_args_epoch_ == epoch_
                                 ? group_args_.data() + grp.args_at + size_t(k) * N : nullptr;
      for (unsigned b = 0; ok && b < N; ++b) {
        const uint32_t x = kept ? kept[b] : args(nodes[members[b]])[k];
        ok = x == group_nodes_[ag.first + b] && use_count_[x] == 1 && x != from;
      }
      if (!ok) continue;
      grad_root_[ai] = gi;
      grad_shared_args_[gi] |= 1u << k;
      ++shared;
    }
  }
}

void ComputationGraph::backward_batched(uint32_t from, bool full) {
  std::optional<BlasOnOneThread> one;  // on the engine's threads: see autobatch_threads.h
  std::optional<PoolHot> hot;          // (the pool polls for the next job: core/thread_pool.h)
  if (engine_threads() > 1) {
    one.emplace();
    hot.emplace();
  }
  AutobatchProfile& prof = autobatch_profile();
  PhaseClock clock(prof);
  // Gradient buffers, contiguous per group so a group's dy is one batch.
  grads_.assign(evaluated_, Tensor());
  // Each group's block is zeroed lazily, just before the first gradient flows
  // into it (touch_grad): the memset then runs on memory about to be used, and
  // groups that receive no gradient are skipped without being touched.
  group_of_.resize(evaluated_);
  group_zeroed_.assign(groups_.size(), 0);
  for (uint32_t gi = 0; gi < groups_.size(); ++gi) {
    const Group& grp = groups_[gi];
    for (unsigned b = 0; b < grp.count; ++b) group_of_[group_nodes_[grp.first + b]] = gi;
  }
  share_gradient_blocks(from, full);
  for (Group& grp : groups_) grp.place_grads = nullptr;
  // Users' groups first (descending): a group sharing its user's block takes its
  // members' slices of a block already placed.
  for (uint32_t gi = static_cast<uint32_t>(groups_.size()); gi-- > 0;) {
    const Group& grp = groups_[gi];
    const Node& first = nodes[group_nodes_[grp.first]];
    if (!(full || first.needs_grad)) continue;
    const uint32_t owner = grad_root_[gi];
    if (owner != gi) {
      const Group& user = groups_[owner];
      grad_root_[gi] = grad_root_[owner];
      for (unsigned b = 0; b < grp.count; ++b) {
        uint32_t j = group_nodes_[grp.first + b];
        grads_[j] = Tensor(first.dim, grads_[group_nodes_[user.first + b]].v);
      }
      continue;
    }
    if (group_grads_under_budget(gi, from)) continue;  // allocated at first use
    const unsigned sz = first.dim.size();
    float* block;
    if (first.device != kCpuDevice) {
      block = group_device_floats(first.device, size_t(sz) * grp.count, true);
    } else if (grp.place_lead != UINT32_MAX) {
      // Its output was placed beside other groups' for one reader (place_group_outputs): the
      // gradients alike, so the reader's backward adds into them in place, not through a scratch block.
      Group& lead = groups_[grp.place_lead];
      if (!lead.place_grads) lead.place_grads = dx_pool.allocate_floats(lead.place_floats);
      block = lead.place_grads + (grp.place - lead.place);
    } else {
      block = dx_pool.allocate_floats(size_t(sz) * grp.count);
    }
    for (unsigned b = 0; b < grp.count; ++b) {  // the members share first's shape
      uint32_t j = group_nodes_[grp.first + b];
      grads_[j].d = first.dim;
      grads_[j].v = block + size_t(b) * sz;
      grads_[j].device = first.device;
    }
  }
  clock.charge(prof.bwd_setup);
  if (!grads_[from].v && !grad_under_budget(from)) return;  // the loss does not depend on anything differentiable
  lazy_grads_ = true;
  transposed_on_ = true;  // copies from this backward only: the values may change between passes
  transposed_used_ = 0;
  struct LazyOff {  // also when an op raises: touch_grad's records are this backward's
    bool& on;
    bool& transposed_on;
    ~LazyOff() { on = transposed_on = false; }
  } lazy_off{lazy_grads_, transposed_on_};
  touch_grad(from);
  if (!grads_[from].v) {  // under a budget: the plan fills the seed with 1 when it allocates it
  } else if (nodes[from].device != kCpuDevice) {
    group_device_fill(nodes[from].device, grads_[from].v, nodes[from].dim.size(), 1.f);
  } else {
    grads_[from].arr().setConstant(1.f);
  }
  // A shared weight's gradient terms from all its groups are deferred and applied
  // as one wide GEMM when the weight's own node comes up (see add_outer_product).
  outer_slot_.assign(evaluated_, -1);
  outer_used_ = 0;
  outer_scratch_v_.clear();  // (a new pass: memory may hold other values at the same addresses)

  // On the engine's threads: runs of consecutive groups that may go at once (backward_wave).
  const bool waves = engine_threads() > 1 && !has_device_nodes_ && autobatch_backward_waves();
  std::vector<Tensor> xs;
  for (size_t gi = groups_.size(); gi-- > 0;) {
    if (waves)
      if (const size_t ran = backward_wave(gi, clock)) {
        gi -= ran - 1;
        continue;
      }
    backward_group(gi, xs, clock);
  }
  // Blocks no gradient reached read as zeros through gradient().
  for (uint32_t gi = 0; gi < groups_.size(); ++gi)
    if (!group_zeroed_[gi]) touch_grad(group_nodes_[groups_[gi].first]);
  clock.charge(prof.bwd_memset);
  lazy_grads_ = false;
}

// One group's backward: its members node by node when it is a lone node or a
// device budget split it, else its arguments' gradients as batched calls.
void ComputationGraph::backward_group(size_t gi, std::vector<Tensor>& xs, PhaseClock& clock) {
  AutobatchProfile& prof = autobatch_profile();
  const Group& grp = groups_[gi];
  // A lone node, or a group a device budget split: node by node (it runs even without gradient, as unbatched).
  if (grp.count == 1 || (has_device_nodes_ && !group_backward_under_budget(static_cast<uint32_t>(gi)))) {
    for (unsigned b = grp.count; b-- > 0;) {
      touch_grad(group_nodes_[grp.first + b]);
      clock.charge(prof.bwd_memset);
      backward_node(group_nodes_[grp.first + b], xs);
      clock.charge(prof.bwd_kernel);
    }
    return;
  }
  const uint32_t* members = group_nodes_.data() + grp.first;
  const unsigned N = grp.count;
  // The members' arguments as forward read them (else read once from the nodes),
  // their gradients prefetched.
  const unsigned na = nodes[members[0]].nargs;
  for (unsigned b = 0; b < N; ++b) __builtin_prefetch(&outer_slot_[members[b]]);
  const uint32_t* margs;
  if (grp.args_at != UINT32_MAX && group_args_epoch_ == epoch_) {
    margs = group_args_.data() + grp.args_at;
    for (size_t i = 0; i < size_t(N) * na; ++i) {
      __builtin_prefetch(&grads_[margs[i]]);
      __builtin_prefetch(&group_of_[margs[i]]);
    }
  } else {
    std::vector<uint32_t>& read = autobatch_scratch().member_args;
    read.resize(size_t(N) * na);
    for (unsigned b = 0; b < N; ++b) __builtin_prefetch(&nodes[members[b]]);
    for (unsigned b = 0; b < N; ++b) __builtin_prefetch(args(nodes[members[b]]));
    for (unsigned b = 0; b < N; ++b) {
      const uint32_t* a = args(nodes[members[b]]);
      for (unsigned k = 0; k < na; ++k) {
        read[size_t(k) * N + b] = a[k];
        __builtin_prefetch(&grads_[a[k]]);
        __builtin_prefetch(&group_of_[a[k]]);
      }
    }
    margs = read.data();
  }
  clock.charge(prof.bwd_setup);
  for (unsigned b = 0; b < N; ++b)  // their users have all run (a weight's deferred terms: rare)
    if (outer_slot_[members[b]] >= 0) flush_outer_products(members[b]);
  clock.charge(prof.bwd_outer);
  if (grp.stacked_set) stacked_set_backward(gi, margs + N, clock);
  const Node& first = nodes[members[0]];
  Tensor& dy0 = grads_[members[0]];
  if (!dy0.v) return;
  if (!group_zeroed_[grad_root_[gi]]) {
    if (first.nargs != 0) return;  // no gradient reached this group: nothing to pass on
    touch_grad(members[0]);  // lookups still mark their rows, as unbatched
  }
  Tensor dy(grp.proto.dim, dy0.v);
  dy.device = first.device;
  const OpImpl& impl = op_impl(first.op);
  if (first.nargs) {
    dy = preactivation_grad(grp.proto, grp.y, dy);  // (a folded activation: ops/affine_activation.h)
    clock.charge(prof.bwd_kernel);
  }
  if (first.nargs == 0) {  // a group of lookups: scatter the rows' gradients
    if (first.needs_grad) {
      clock.charge(prof.bwd_memset);
      group_backward(grp.proto, nullptr, grp.y, dy, 0, dy);
      clock.charge(prof.bwd_kernel);
      if (on_param_grad) on_param_grad(first.ptr, first.op == OpId::lookup || first.op == OpId::lookup_table);
    }
    return;
  }
  autobatch_fault_check(N);
  for (unsigned k = 0; k < first.nargs; ++k) {
    if (!(impl.diff_mask >> (k < 31 ? k : 31) & 1u)) continue;
    const Tensor& x = grp.xs[k];
    uint32_t a0 = args(first)[k];
    if (x.d.bd == 1 && grp.proto.dim.bd > 1) {  // shared argument: the op sums over the group
      if (grads_[a0].v) {
        touch_grad(a0);
        clock.charge(prof.bwd_memset);
        current_target_ = a0;
        group_backward(grp.proto, grp.xs.data(), grp.y, dy, k, grads_[a0]);
        current_target_ = UINT32_MAX;
        clock.charge(prof.bwd_kernel);
      }
      continue;
    }
    if (grp.in_stacked_set && k == 1) continue;  // the set's last group did it for all (stacked_set_backward)
    if (grad_shared_args_[gi] >> k & 1u) continue;  // its gradient is dy itself, in dy's block
    group_arg_backward(impl, grp.proto, grp.xs.data(), grp.y, dy, k, margs + size_t(k) * N, N, clock);
  }
}

namespace {
// Matrices worth a transposed copy: not tiny (the copy and the lookup would cost
// more than they save), and not so large that a copy leaves the cache (the
// products then read A once anyway: gemm_skinny.h).
constexpr size_t kTransposeMinFloats = 4096, kTransposeMaxFloats = 262144;
}  // namespace

const float* ComputationGraph::transposed(const Tensor& A) {
  const unsigned rows = A.d.rows(), cols = A.d.cols();
  const size_t n = size_t(rows) * cols;
  if (!transposed_on_ || A.device != kCpuDevice || A.d.bd != 1 || A.d.nd != 2 || n < kTransposeMinFloats ||
      n > kTransposeMaxFloats)
    return nullptr;
  std::lock_guard<std::mutex> lock(transposed_mutex_);  // pieces of a group may ask at once
  for (size_t i = 0; i < transposed_used_; ++i) {
    const TransposedCopy& c = transposed_[i];
    if (c.of == A.v && c.rows == rows && c.cols == cols) return c.t.data();
  }
  if (transposed_used_ == transposed_.size()) transposed_.emplace_back();
  TransposedCopy& c = transposed_[transposed_used_++];
  c.of = A.v;
  c.rows = rows;
  c.cols = cols;
  c.t.resize(n);
  transpose_copy(c.t.data(), A.v, rows, cols);
  ++autobatch_profile().weights_transposed;
  return c.t.data();
}

void ComputationGraph::touch_grad(uint32_t j) {
  if (!lazy_grads_) return;
  const uint32_t gi = grad_root_[group_of_[j]];
  if (group_zeroed_[gi]) return;
  group_zeroed_[gi] = 1;
  const Group& grp = groups_[gi];
  const uint32_t first = group_nodes_[grp.first];
  if (!grads_[first].v) return;
  const size_t n = nodes[first].dim.size() * grp.count;
  if (nodes[first].device != kCpuDevice) group_device_fill(nodes[first].device, grads_[first].v, n, 0.f);
  else std::memset(grads_[first].v, 0, sizeof(float) * n);
}

}  // namespace dg

// Backward on the engine's threads (set_num_threads(n > 1)): independent groups at once.
//
// Backward runs the groups in reverse plan order, one at a time (autobatch_backward.cc);
// a large group's batched arguments' gradients are split by members over the threads
// (autobatch_threads.cc). The groups too small to split are many: a cell's gates and
// the element-wise ops of one tree level. A run of consecutive groups (a wave) goes at
// once when
//   - none reads another's output: every group's output gradient is then complete;
//   - the gradients they pass on go to distinct nodes, except a shared argument (a
//     weight, a bias) several of them sum into: each node's gradient then receives
//     the same terms in the same order as on one thread, so results are bit-identical;
//   - each is a CPU group of an op that treats each batch element on its own
//     (DG_OP_SPLITS_BY_MEMBER: its batched gradient writes dx alone, allocates
//     nothing), not one a split would serve better.
// A wave then runs in three steps:
//   1. here, in order: each group's deferred weight terms, its output gradient
//      through a folded activation (ComputationGraph::preactivation_grad), and where
//      each batched argument's gradient goes (blocks zeroed on first use, scratch blocks);
//   2. on the threads, one task per group, largest first: its batched arguments'
//      gradients (whole calls, BLAS on one thread), added back to gathered members;
//   3. here, in order: the shared arguments' gradients (a weight's deferred product
//      terms, a bias's sum over the group), as on one thread.
#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "graph/autobatch_agenda.h"
#include "graph/autobatch_profile.h"
#include "graph/autobatch_threads.h"
#include "graph/graph.h"

namespace dg {

bool& autobatch_backward_waves() {
  static bool on = true;
  return on;
}

namespace {

// A batched argument's gradient prepared in step 1 for step 2.
struct WaveArg {
  unsigned k;
  bool scatter;
  Tensor dx;
};

// A group of the wave with work for step 2: its place in the wave's live groups
// (and their output gradients), and its WaveArgs [arg0, arg1).
struct WaveTask {
  uint32_t live;
  uint32_t arg0, arg1;
  double work;
};

bool shared_arg(const Tensor& x, const Node& proto) { return x.d.bd == 1 && proto.dim.bd > 1; }

}  // namespace

size_t ComputationGraph::backward_wave(size_t end, PhaseClock& clock) {
  AutobatchProfile& prof = autobatch_profile();
  if (wave_read_.size() < evaluated_) {
    wave_read_.resize(evaluated_, 0);
    wave_written_.resize(evaluated_, 0);
  }
  const uint32_t wave = ++wave_id_;
  if (wave == 0) {  // wrapped: old marks could collide
    std::fill(wave_read_.begin(), wave_read_.end(), 0);
    std::fill(wave_written_.begin(), wave_written_.end(), 0);
    wave_id_ = 1;
    return backward_wave(end, clock);
  }
  const bool kept_args = group_args_epoch_ == epoch_;
  // The wave's extent: groups end, end - 1, ... while each may join.
  thread_local std::vector<size_t> live_here;
  std::vector<size_t>& live = live_here;  // the groups with gradients to pass on
  live.clear();
  double work = 0;
  size_t g = end + 1;
  while (g-- > 0) {
    const Group& grp = groups_[g];
    if (grp.count < 2 || grp.stacked_set || grp.in_stacked_set || !kept_args || grp.args_at == UINT32_MAX) break;
    const uint32_t* members = group_nodes_.data() + grp.first;
    const Node& first = nodes[members[0]];
    if (first.device != kCpuDevice || first.nargs == 0 || !splits_by_member(first)) break;
    const unsigned N = grp.count;
    bool read = false;  // by a group of the wave
    for (unsigned b = 0; b < N && !read; ++b) read = wave_read_[members[b]] == wave;
    if (read) break;
    if (!grads_[members[0]].v || !group_zeroed_[grad_root_[g]]) continue;  // no gradient reached it: nothing to do
    if (backward_splits(grp.proto, grp.xs.data(), N)) break;  // split over the threads on its own
    const uint32_t* margs = group_args_.data() + grp.args_at;
    const unsigned mask = op_impl(first.op).diff_mask;
    auto wanted = [&](unsigned k) { return (mask >> (k < 31 ? k : 31) & 1u) && !(grad_shared_args_[g] >> k & 1u); };
    // Its gradients' destinations: none read by the wave (a batched one), none written by a task (a shared one).
    bool clash = false;
    for (unsigned k = 0; k < first.nargs && !clash; ++k) {
      if (!wanted(k)) continue;
      const uint32_t* ak = margs + size_t(k) * N;
      if (shared_arg(grp.xs[k], grp.proto)) {
        clash = grads_[ak[0]].v && wave_written_[ak[0]] == wave;
        continue;
      }
      for (unsigned b = 0; b < N && !clash; ++b) clash = grads_[ak[b]].v && wave_read_[ak[b]] == wave;
    }
    if (clash) break;
    for (unsigned k = 0; k < first.nargs; ++k) {
      if (!wanted(k) || shared_arg(grp.xs[k], grp.proto)) continue;
      const uint32_t* ak = margs + size_t(k) * N;
      for (unsigned b = 0; b < N; ++b) wave_read_[ak[b]] = wave_written_[ak[b]] = wave;
    }
    // A shared argument also among its own batched ones: the order of its terms would change.
    for (unsigned k = 0; k < first.nargs && !clash; ++k)
      if (wanted(k) && shared_arg(grp.xs[k], grp.proto)) {
        const uint32_t s = margs[size_t(k) * N];
        clash = grads_[s].v && wave_written_[s] == wave;
        wave_read_[s] = wave;
      }
    if (clash) break;
    live.push_back(g);
    work += group_work(grp.proto, grp.xs.data());
  }
  const size_t ran = end - g;  // groups end - ran + 1 .. end
  if (live.size() < 2 || work < pool_min_work()) return live.empty() ? ran : 0;  // (none live: nothing to do)
  clock.charge(prof.bwd_setup);

  // 1. Deferred weight terms, the batched arguments' gradient targets.
  thread_local std::vector<WaveArg> args_here;
  thread_local std::vector<WaveTask> tasks_here;
  thread_local std::vector<Tensor> dys_here;
  std::vector<WaveArg>& wargs = args_here;
  std::vector<WaveTask>& tasks = tasks_here;
  std::vector<Tensor>& dys = dys_here;  // per live group, as `live`
  wargs.clear();
  tasks.clear();
  dys.clear();
  for (size_t q = 0; q < live.size(); ++q) {
    const size_t gi = live[q];
    const Group& grp = groups_[gi];
    const uint32_t* members = group_nodes_.data() + grp.first;
    const unsigned N = grp.count;
    for (unsigned b = 0; b < N; ++b)
      if (outer_slot_[members[b]] >= 0) flush_outer_products(members[b]);
    clock.charge(prof.bwd_outer);
    dys.push_back(preactivation_grad(grp.proto, grp.y, Tensor(grp.proto.dim, grads_[members[0]].v)));
    clock.charge(prof.bwd_kernel);
    const Node& first = nodes[members[0]];
    const uint32_t* margs = group_args_.data() + grp.args_at;
    const unsigned mask = op_impl(first.op).diff_mask;
    const uint32_t arg0 = static_cast<uint32_t>(wargs.size());
    for (unsigned k = 0; k < first.nargs; ++k) {
      if (!(mask >> (k < 31 ? k : 31) & 1u) || (grad_shared_args_[gi] >> k & 1u) || shared_arg(grp.xs[k], grp.proto))
        continue;
      WaveArg a{k, false, Tensor()};
      if (arg_grad_target(grp.xs[k], margs + size_t(k) * N, N, a.dx, a.scatter, clock)) wargs.push_back(a);
    }
    if (wargs.size() > arg0)
      tasks.push_back({uint32_t(q), arg0, static_cast<uint32_t>(wargs.size()), group_work(grp.proto, grp.xs.data())});
  }
  std::stable_sort(tasks.begin(), tasks.end(), [](const WaveTask& x, const WaveTask& y) { return x.work > y.work; });

  // 2. The batched arguments' gradients, a task per group.
  {
    SharedPools shared(fx_pool, scratch_pool);
    auto task = [&](size_t t) {
      const WaveTask& w = tasks[t];
      const Group& grp = groups_[live[w.live]];
      autobatch_fault_check(grp.count);
      const Tensor& dy = dys[w.live];
      const OpImpl& impl = op_impl(grp.proto.op);
      const uint32_t* margs = group_args_.data() + grp.args_at;
      for (uint32_t i = w.arg0; i < w.arg1; ++i) {
        WaveArg& a = wargs[i];
        impl.backward(*this, grp.proto, grp.xs.data(), grp.y, dy, a.k, a.dx);
        if (a.scatter) scatter_arg_grad(a.dx, margs + size_t(a.k) * grp.count, grp.count);
      }
    };
    parallel_run(tasks.size(), task);
  }
  prof.groups_waved_backward += tasks.size();
  ++prof.waves_backward;
  clock.charge(prof.bwd_kernel);

  // 3. The shared arguments' gradients, in order.
  for (size_t q = 0; q < live.size(); ++q) {
    const Group& grp = groups_[live[q]];
    const Node& first = nodes[group_nodes_[grp.first]];
    const unsigned mask = op_impl(first.op).diff_mask;
    const Tensor& dy = dys[q];
    const uint32_t* margs = group_args_.data() + grp.args_at;
    for (unsigned k = 0; k < first.nargs; ++k) {
      if (!(mask >> (k < 31 ? k : 31) & 1u) || !shared_arg(grp.xs[k], grp.proto)) continue;
      const uint32_t s = margs[size_t(k) * grp.count];
      if (!grads_[s].v) continue;
      touch_grad(s);
      clock.charge(prof.bwd_memset);
      current_target_ = s;
      group_backward(grp.proto, grp.xs.data(), grp.y, dy, k, grads_[s]);
      current_target_ = UINT32_MAX;
      clock.charge(prof.bwd_kernel);
    }
  }
  return ran;
}

}  // namespace dg

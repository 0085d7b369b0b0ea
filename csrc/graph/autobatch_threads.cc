// The autobatching executor on the engine's threads (set_num_threads(n > 1)).
//
// The plan (autobatch.cc) is cut into waves: runs of consecutive items none
// of which reads another's output (a cell's gate products, ready together
// under different weights). In a wave, every item runs on this thread in plan
// order (lone nodes, random ones among them, keep their order) except the
// large batched groups on the CPU: those are gathered here, then their ops run
// at once on the pool, BLAS inside them on one thread, the graph's pools
// taking a lock. Each such op writes only its own output, so values are
// bit-identical to one thread; the groups, and their order in backward, are the plan's.
#include <exception>
#include <mutex>

#include "core/gemm.h"
#include "core/thread_pool.h"
#include "graph/autobatch_agenda.h"
#include "graph/autobatch_profile.h"
#include "graph/graph.h"

namespace dg {

namespace {

// Ops whose groups stay on the calling thread (op_table.def: DG_OP_DRAWS_RANDOM).
bool draws_random(const Node& n) {
#define DG_OP_DRAWS_RANDOM(name, when) \
  if (n.op == OpId::name && (when)) return true;
#include "ops/op_table.def"
#undef DG_OP_DRAWS_RANDOM
  return false;
}

// A group runs on the pool only above this much work (values read and
// written, or multiply-adds of a product): below it handing it to another
// thread costs about what it saves.
constexpr double kPoolMinWork = 32768;

// The pools of the graph take a lock, and BLAS runs on one thread, while groups
// run on the engine's threads; both are restored however the wave ends.
class SharedPools {
 public:
  SharedPools(MemoryPool& fx, MemoryPool& scratch) : fx_(fx), scratch_(scratch), blas_threads_(blas::threads()) {
    fx_.share(&lock_);
    scratch_.share(&lock_);
    if (blas_threads_ > 1) blas::set_threads(1);
  }
  ~SharedPools() {
    fx_.share(nullptr);
    scratch_.share(nullptr);
    if (blas_threads_ > 1) blas::set_threads(blas_threads_);
  }

 private:
  MemoryPool& fx_;
  MemoryPool& scratch_;
  int blas_threads_;
  std::mutex lock_;
};

}  // namespace

void ComputationGraph::run_plan_threaded(uint32_t begin, uint32_t end, PhaseClock& clock) {
  AutobatchScratch& S = autobatch_scratch();
  AutobatchProfile& prof = autobatch_profile();
  const auto& plan = S.plan;
  S.item_of.resize(end - begin);
  for (uint32_t i = 0; i < plan.size(); ++i)
    for (uint32_t m = 0; m < plan[i].count; ++m) S.item_of[S.plan_nodes[plan[i].first + m] - begin] = i;
  // Whether item i reads the output of an item at or after `from`.
  auto reads_from = [&](uint32_t i, uint32_t from) {
    const uint32_t* members = S.plan_nodes.data() + plan[i].first;
    for (uint32_t m = 0; m < plan[i].count; ++m) {
      const Node& n = nodes[members[m]];
      const uint32_t* a = args(n);
      for (unsigned k = 0; k < n.nargs; ++k)
        if (a[k] >= begin && S.item_of[a[k] - begin] >= from) return true;
    }
    return false;
  };
  auto poolable = [&](uint32_t i) {
    const AutobatchScratch::PlanItem& it = plan[i];
    if (it.sets || it.count < 2) return false;
    const Node& n = nodes[S.plan_nodes[it.first]];
    if (n.device != kCpuDevice || draws_random(n)) return false;
    double work = n.dim.size();
    for (unsigned k = 0; k < n.nargs; ++k) work += nodes[args(n)[k]].dim.size();
    if (n.op == OpId::matmul) work += double(n.dim.size()) * nodes[args(n)[0]].dim.cols();
    return work * it.count >= kPoolMinWork;
  };
  std::vector<uint32_t>& pooled = S.pooled;  // pairs: (plan item, its group)
  for (uint32_t w = 0; w < plan.size();) {
    uint32_t e = w + 1;
    while (e < plan.size() && !reads_from(e, w)) ++e;
    pooled.clear();
    for (uint32_t i = w; i < e; ++i)
      if (poolable(i)) pooled.push_back(i);
    if (pooled.size() < 2) {
      for (uint32_t i = w; i < e; ++i) run_plan_item(i, clock);
      clock.charge(prof.fwd_release);
      w = e;
      continue;
    }
    // In plan order: the others run, the pooled ones are gathered.
    size_t p = 0;
    for (uint32_t i = w; i < e; ++i) {
      if (p < pooled.size() && pooled[p] == i) {
        const AutobatchScratch::PlanItem& it = plan[i];
        const uint32_t* members = S.plan_nodes.data() + it.first;
        Group grp;
        grp.first = static_cast<uint32_t>(group_nodes_.size());
        grp.count = it.count;
        group_nodes_.insert(group_nodes_.end(), members, members + it.count);
        gather_group(grp, members, it.count);
        pooled[p++] = static_cast<uint32_t>(groups_.size());
        groups_.push_back(std::move(grp));
        clock.charge(prof.fwd_gather);
      } else {
        run_plan_item(i, clock);
      }
    }
    {
      SharedPools shared(fx_pool, scratch_pool);
      parallel_run(pooled.size(), [&](size_t q) {
        Group& grp = groups_[pooled[q]];
        autobatch_fault_check(grp.count);
        group_forward(grp.proto, grp.xs.data(), grp.y);
      });
    }
    prof.groups_pooled += pooled.size();
    ++prof.waves_pooled;
    clock.charge(prof.fwd_kernel);
    for (uint32_t g : pooled) {
      const Group& grp = groups_[g];
      slice_group_outputs(grp, group_nodes_.data() + grp.first, grp.count);
    }
    clock.charge(prof.fwd_release);
    w = e;
  }
}

}  // namespace dg

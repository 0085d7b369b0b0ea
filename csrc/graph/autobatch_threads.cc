// The autobatching executor on the engine's threads (set_num_threads(n > 1)).
//
// The plan (autobatch.cc) runs level by level: an item's level is one more
// than that of the last item it reads from, so the items of a level read none
// of each other's outputs (a cell's gate products under different weights, the
// two directions of a BiLSTM). In a level, every item runs on this thread in
// plan order except the large batched groups on the CPU: those are gathered
// here, then their ops run at once on the pool, BLAS inside them on one
// thread, the graph's pools taking a lock. Each such op writes only its own
// output, and items that may draw random numbers keep their plan order, so
// values are bit-identical to one thread; the groups, and their order in
// backward, are the plan's.
#include <algorithm>
#include <exception>
#include <mutex>

#include <Eigen/Core>

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
// written, plus the multiply-adds of a product). Measured on a loaded 2-core
// box (benchmarks/README.md, issue 26): handing a level to the pool cost
// ~70 us there, and two threads were 2-4x slower than one below ~0.5 M and
// 0.85-0.9x above it; it never paid there, so this is a guess for a quiet machine.
double g_pool_min_work = 262144;

// The pools of the graph take a lock, and BLAS and Eigen's products run on one
// thread, while groups run on the engine's threads; all is restored however the
// level ends.
class SharedPools {
 public:
  SharedPools(MemoryPool& fx, MemoryPool& scratch)
      : fx_(fx), scratch_(scratch), blas_threads_(blas::threads()), eigen_threads_(Eigen::nbThreads()) {
    fx_.share(&lock_);
    scratch_.share(&lock_);
    if (blas_threads_ > 1) blas::set_threads(1);
    if (eigen_threads_ > 1) Eigen::setNbThreads(1);
  }
  ~SharedPools() {
    fx_.share(nullptr);
    scratch_.share(nullptr);
    if (blas_threads_ > 1) blas::set_threads(blas_threads_);
    if (eigen_threads_ > 1) Eigen::setNbThreads(eigen_threads_);
  }

 private:
  MemoryPool& fx_;
  MemoryPool& scratch_;
  int blas_threads_, eigen_threads_;
  std::mutex lock_;
};

}  // namespace

double autobatch_pool_min_work(double work) {
  const double before = g_pool_min_work;
  if (work >= 0) g_pool_min_work = work;
  return before;
}

void ComputationGraph::run_plan_threaded(uint32_t begin, uint32_t end, PhaseClock& clock) {
  AutobatchScratch& S = autobatch_scratch();
  AutobatchProfile& prof = autobatch_profile();
  const auto& plan = S.plan;
  const uint32_t items = static_cast<uint32_t>(plan.size());
  auto member0 = [&](uint32_t i) -> const Node& { return nodes[S.plan_nodes[plan[i].first]]; };
  auto poolable = [&](uint32_t i) {
    const AutobatchScratch::PlanItem& it = plan[i];
    if (it.sets || it.count < 2) return false;
    const Node& n = member0(i);
    if (n.device != kCpuDevice || draws_random(n)) return false;
    double work = n.dim.size();
    for (unsigned k = 0; k < n.nargs; ++k) work += nodes[args(n)[k]].dim.size();
    if (n.op == OpId::matmul) work += double(n.dim.size()) * nodes[args(n)[0]].dim.cols();
    return work * it.count >= g_pool_min_work;
  };
  // Levels: an item runs one level after the last of the items it reads from.
  // Items that may draw random numbers (lone nodes, DG_OP_DRAWS_RANDOM groups)
  // also keep their plan order: none is on a lower level than the one before.
  S.item_of.resize(end - begin);
  S.level.assign(items, 0);
  uint32_t levels = 1, random_level = 0;
  for (uint32_t i = 0; i < items; ++i) {
    const uint32_t* members = S.plan_nodes.data() + plan[i].first;
    uint32_t l = 0;
    for (uint32_t m = 0; m < plan[i].count; ++m) {
      const Node& n = nodes[members[m]];
      const uint32_t* a = args(n);
      for (unsigned k = 0; k < n.nargs; ++k)
        if (a[k] >= begin) l = std::max(l, S.level[S.item_of[a[k] - begin]] + 1);
    }
    if (plan[i].count == 1 || draws_random(member0(i))) random_level = l = std::max(l, random_level);
    S.level[i] = l;
    levels = std::max(levels, l + 1);
    for (uint32_t m = 0; m < plan[i].count; ++m) S.item_of[members[m] - begin] = i;
  }
  // The items by level, in plan order within a level (a counting sort).
  S.level_end.assign(levels + 1, 0);
  for (uint32_t i = 0; i < items; ++i) ++S.level_end[S.level[i] + 1];
  for (uint32_t l = 0; l < levels; ++l) S.level_end[l + 1] += S.level_end[l];
  S.by_level.resize(items);
  {
    std::vector<uint32_t>& fill = S.pooled;
    fill.assign(S.level_end.begin(), S.level_end.end() - 1);
    for (uint32_t i = 0; i < items; ++i) S.by_level[fill[S.level[i]]++] = i;
  }
  clock.charge(prof.fwd_setup);
  std::vector<uint32_t>& pooled = S.pooled;  // a level's pooled items, then their groups
  for (uint32_t l = 0; l < levels; ++l) {
    const uint32_t* lv = S.by_level.data() + S.level_end[l];
    const uint32_t n = S.level_end[l + 1] - S.level_end[l];
    pooled.clear();
    for (uint32_t q = 0; q < n; ++q)
      if (poolable(lv[q])) pooled.push_back(lv[q]);
    if (pooled.size() < 2) pooled.clear();
    // In plan order: the others run, the pooled ones are gathered.
    size_t p = 0;
    for (uint32_t q = 0; q < n; ++q) {
      const uint32_t i = lv[q];
      if (p < pooled.size() && pooled[p] == i) {
        Group& grp = groups_[S.item_group[i]];
        gather_group(grp, group_nodes_.data() + grp.first, grp.count);
        pooled[p++] = S.item_group[i];
        clock.charge(prof.fwd_gather);
      } else {
        run_plan_item(i, clock);
      }
    }
    if (pooled.empty()) continue;
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
  }
}

}  // namespace dg

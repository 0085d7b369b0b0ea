// The autobatching executor's agenda: which nodes are ready, grouped by
// batching signature, and which group runs next (autobatch.cc runs it).
//
// A node's signature mixes its op, attributes, shapes and the identity of its
// parameter arguments: nodes of equal signatures may run as one batched call.
// Ready nodes wait in one bucket per signature; pick() takes the bucket whose
// nodes have the longest paths left to the end of the graph on average (or, as
// DyNet, the lowest average depth). Nodes that can never join a batch wait in
// a separate list and run first, so the buckets stay few and scanning is cheap.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "ops/op_id.h"

namespace dg {

class ComputationGraph;

// Each op's batch kind (BatchKind in ops/op_id.h), from op_table.def.
BatchKind batch_kind(OpId op);

struct ReadyBucket {
  std::vector<uint32_t> nodes;
  uint64_t depth_sum = 0;
  uint64_t height_sum = 0;
};

class Agenda {
 public:
  // Dependency counts, depths, heights and signatures of nodes [begin, end)
  // of g; the nodes with no pending argument in that range are ready.
  void start(const ComputationGraph& g, uint32_t begin, uint32_t end);
  bool empty() const { return alone_.empty() && buckets_.empty(); }
  // Moves the next group into `batch` (a lone node first, if any); returns the
  // chosen bucket's height sum, 0 for a lone node.
  uint64_t pick(std::vector<uint32_t>& batch);
  // Makes these nodes run one by one (a group too large for one tensor).
  void run_alone(const uint32_t* first, const uint32_t* last) { alone_.insert(alone_.end(), first, last); }
  // The members of a group have run: readies their users.
  void release(const std::vector<uint32_t>& batch);
  // The ready buckets by signature: a stacked set joins (and removes) some.
  std::unordered_map<uint64_t, ReadyBucket>& buckets() {
    last_ = nullptr;
    return buckets_;
  }

 private:
  // Per-node scheduling state, one record per node: a group's members lie far
  // apart in a large graph (one per tree of a 256-tree batch), and a record puts
  // what the scheduler reads of a member on one cache line rather than five.
  struct SchedNode {
    uint64_t sig;
    uint32_t pending, depth, height, users_end;  // users of node j: users[users_end of j-1, users_end of j)
  };
  uint64_t signature(uint32_t j) const;
  void push_ready(uint32_t j);
  uint32_t users_begin(uint32_t j) const { return j ? node_[j - 1].users_end : 0u; }

  const ComputationGraph* g_ = nullptr;
  uint32_t begin_ = 0;
  std::vector<SchedNode> node_;
  std::vector<uint32_t> users_, fill_, alone_;
  std::unordered_map<uint64_t, ReadyBucket> buckets_;
  ReadyBucket* last_ = nullptr;  // push_ready's last bucket (null after any erase)
  uint64_t last_sig_ = 0;
  // Emptied vectors of picked buckets, reused by new ones (no regrowth per group).
  std::vector<std::vector<uint32_t>> spare_;
  void batch_spare(std::vector<uint32_t>&& v) {
    v.clear();
    if (v.capacity() && spare_.size() < 64) spare_.push_back(std::move(v));
  }
};

// Reused from graph to graph (per thread), so a forward allocates nothing for
// scheduling once the largest graph has been seen (a few MB at 170 k nodes stay held).
struct AutobatchScratch {
  Agenda agenda;
  // The forward's plan: its groups in the order they run, each a span of
  // plan_nodes (a stacked set: `sets` spans of count / sets members, one after another).
  struct PlanItem {
    uint32_t first, count, sets;
  };
  std::vector<PlanItem> plan;
  std::vector<uint32_t> plan_nodes;
  std::vector<uint32_t> item_group;  // per plan item: its (first) group in groups_
  // Threaded runs: per node of the forward its plan item; per item its level
  // (longest chain of items it reads from); the items by level; a level's pooled items.
  std::vector<uint32_t> item_of, level, by_level, level_end, pooled;
  std::vector<uint32_t> batch;
  std::vector<uint32_t> member_args;       // a group's arguments, argument-major: [k * N + b]
  std::vector<uint32_t> node_group;        // place_group_outputs: per node of the forward its group
  std::vector<uint32_t> producers;         // place_group_outputs: the groups one argument reads, in order
  std::vector<std::vector<uint32_t>> set;  // the buckets of a set of stacked products
  std::vector<uint32_t> set_weights;
};
AutobatchScratch& autobatch_scratch();

}  // namespace dg

// The autobatching executor's agenda (autobatch_agenda.h).
#include "graph/autobatch_agenda.h"

#include <algorithm>
#include <cstring>

#include "graph/graph.h"

namespace dg {

namespace {

constexpr BatchKind kBatchKind[] = {
#define DG_OP(name, family, arity, diff, batch, devices, functions) BatchKind::batch,
#include "ops/op_table.def"
#undef DG_OP
};

// One multiply per word: a signature is a few packed words (an earlier chain of
// add-shift mixes per field cost ~250 instructions a node, the scheduler's largest).
inline void mix(uint64_t& h, uint64_t v) { h = (h ^ v) * 0x9e3779b97f4a7c15ull; }
inline uint64_t fbits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
// A shape as words: axes past nd count as 0 (not read), so equal dims hash equal.
inline void mix_dim(uint64_t& h, const Dim& d) {
  static_assert(kMaxDims == 4, "mix_dim packs four axes");
  const uint64_t a1 = d.nd > 1 ? d.d[1] : 0, a2 = d.nd > 2 ? d.d[2] : 0, a3 = d.nd > 3 ? d.d[3] : 0;
  mix(h, (d.nd ? d.d[0] : 0) | a1 << 32);
  mix(h, a2 | a3 << 32);
  mix(h, d.nd | uint64_t(d.bd) << 32);
}

constexpr uint64_t kAlone = uint64_t(1) << 63;  // signature bit: the node never joins a batch

}  // namespace

BatchKind batch_kind(OpId op) { return kBatchKind[static_cast<unsigned>(op)]; }

AutobatchScratch& autobatch_scratch() {
  static thread_local AutobatchScratch s;
  return s;
}

void Agenda::start(const ComputationGraph& g, uint32_t begin, uint32_t end) {
  g_ = &g;
  begin_ = begin;
  const uint32_t n = end - begin;
  std::vector<SchedNode>& sn = node_;
  // Dependency counts, depths and user counts within [begin, end).
  sn.assign(n, SchedNode{0, 0, 0, 0, 0});
  for (uint32_t j = begin; j < end; ++j) {
    const uint32_t* a = g.args(g.nodes[j]);
    SchedNode& sj = sn[j - begin];
    sj.sig = signature(j);  // while the node and its arguments are in cache
    for (unsigned k = 0; k < g.nodes[j].nargs; ++k)
      if (a[k] >= begin) {
        SchedNode& sa = sn[a[k] - begin];
        ++sj.pending;
        ++sa.users_end;
        if (sa.depth + 1 > sj.depth) sj.depth = sa.depth + 1;
      }
  }
  for (uint32_t j = 1; j < n; ++j) sn[j].users_end += sn[j - 1].users_end;
  users_.resize(n ? sn[n - 1].users_end : 0);
  fill_.resize(n);
  for (uint32_t j = 0; j < n; ++j) fill_[j] = users_begin(j);
  for (uint32_t j = begin; j < end; ++j) {
    const uint32_t* a = g.args(g.nodes[j]);
    for (unsigned k = 0; k < g.nodes[j].nargs; ++k)
      if (a[k] >= begin) users_[fill_[a[k] - begin]++] = j;
  }
  // Height: the longest path from a node to the end of the graph.
  for (uint32_t j = n; j-- > 0;)
    for (uint32_t u = users_begin(j); u < sn[j].users_end; ++u)
      sn[j].height = std::max(sn[j].height, sn[users_[u] - begin].height + 1);
  buckets_.clear();
  last_ = nullptr;
  alone_.clear();
  for (uint32_t j = begin; j < end; ++j)
    if (sn[j - begin].pending == 0) push_ready(j);
}

// Equal signatures may run together.
uint64_t Agenda::signature(uint32_t j) const {
  const ComputationGraph& g = *g_;
  const Node& nd = g.nodes[j];
  const BatchKind kind = batch_kind(nd.op);
  // A minibatched node (bd > 1) joins others of the same bd: the group's
  // batch is the members' batches end to end. Per-element ops need one
  // index per batch element for that.
  const bool alone = kind == BatchKind::none || (kind == BatchKind::per_element && nd.naux != nd.dim.bd);
  if (alone) return kAlone | j;
  uint64_t h = static_cast<uint64_t>(nd.op) | uint64_t(nd.nargs) << 16 | uint64_t(nd.needs_grad) << 32;
  // A group never mixes devices. Only a device other than the first node's is
  // mixed in: a graph on one device then hashes, and so schedules, as on the CPU.
  if (const uint64_t other = nd.device ^ g.nodes[begin_].device) mix(h, other);
  mix_dim(h, nd.dim);
  mix(h, fbits(nd.f0) | fbits(nd.f1) << 32);
  mix(h, uint64_t(static_cast<uint32_t>(nd.i0)) | uint64_t(static_cast<uint32_t>(nd.i1)) << 32);
  if (nd.op == OpId::lookup) mix(h, reinterpret_cast<uintptr_t>(nd.ptr) ^ nd.naux);
  if (kind == BatchKind::plain) {  // attributes (pick_range's span, an axis...) must agree
    mix(h, nd.naux);
    for (unsigned i = 0; i < nd.naux; ++i) mix(h, static_cast<uint32_t>(g.int_data[nd.aux0 + i]));
  }
  const uint32_t* a = g.args(nd);
  for (unsigned k = 0; k < nd.nargs; ++k) {
    const Node& an = g.nodes[a[k]];
    // Parameter arguments are shared by the whole group; others are gathered,
    // so they must be batched like the node itself (no broadcast of bd 1).
    if (an.op == OpId::parameter) mix(h, 0x5000000000000000ull | a[k]);
    else if (an.dim.bd != nd.dim.bd) return kAlone | j;
    else mix_dim(h, an.dim);
  }
  return h & ~kAlone;
}

void Agenda::push_ready(uint32_t j) {
  const SchedNode& sj = node_[j - begin_];
  if (sj.sig & kAlone) {
    alone_.push_back(j);
    return;
  }
  // The users a group readies mostly share one signature (the next op of every
  // tree): the last bucket is looked up again without hashing.
  if (!last_ || last_sig_ != sj.sig) {
    auto [it, inserted] = buckets_.try_emplace(sj.sig);
    if (inserted && !spare_.empty()) {  // a picked bucket's vector, capacity kept
      it->second.nodes = std::move(spare_.back());
      spare_.pop_back();
    }
    last_ = &it->second;
    last_sig_ = sj.sig;
  }
  ReadyBucket& b = *last_;
  b.nodes.push_back(j);
  b.depth_sum += sj.depth;
  b.height_sum += sj.height;
}

uint64_t Agenda::pick(std::vector<uint32_t>& batch) {
  if (!alone_.empty()) {
    batch.assign(1, alone_.back());
    alone_.pop_back();
    return 0;
  }
  // The bucket of highest average height (longest path to the end of the
  // graph) runs first: the critical path advances, and nodes that lead
  // nowhere far (per-step losses, the o gate until h needs it) wait and
  // gather with their later copies into fewer, larger groups. DyNet's rule
  // (lowest average depth first) keeps every sample's frontier together
  // but runs such nodes as soon as they are ready.
  const bool by_height = g_->batch_policy == ComputationGraph::BatchPolicy::height;
  auto before = [by_height](const ReadyBucket& a, const ReadyBucket& b) {
    return by_height ? a.height_sum * b.nodes.size() > b.height_sum * a.nodes.size()
                     : a.depth_sum * b.nodes.size() < b.depth_sum * a.nodes.size();
  };
  auto best = buckets_.begin();
  for (auto it = buckets_.begin(); it != buckets_.end(); ++it)
    if (before(it->second, best->second)) best = it;
  const uint64_t height = best->second.height_sum;
  batch.swap(best->second.nodes);
  batch_spare(std::move(best->second.nodes));
  buckets_.erase(best);
  last_ = nullptr;
  return height;
}

void Agenda::release(const std::vector<uint32_t>& batch) {
  for (uint32_t j : batch) __builtin_prefetch(&node_[j - begin_]);
  for (uint32_t j : batch) __builtin_prefetch(&users_[users_begin(j - begin_)]);
  for (uint32_t j : batch)
    for (uint32_t u = users_begin(j - begin_); u < node_[j - begin_].users_end; ++u)
      if (--node_[users_[u] - begin_].pending == 0) push_ready(users_[u]);
}

}  // namespace dg

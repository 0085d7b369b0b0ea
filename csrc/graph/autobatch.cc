// The autobatching executor (Neubig, Goldberg & Dyer 2017, "On-the-fly
// Operation Batching in Dynamic Computation Graphs").
//
// Forward keeps an agenda of ready nodes bucketed by batching signature (op,
// attributes, shapes, and the identity of parameter arguments). It repeatedly
// runs the bucket whose nodes have the longest paths left to the end of the
// graph on average (or, as DyNet, the lowest average depth), as one call of
// the op with a batch count equal to the bucket size: arguments that all
// nodes share (a weight matrix) stay batch 1, the others are gathered into one
// contiguous batch (no copy when they already are, e.g. outputs of an earlier
// group in the same order). Each node's value is a slice of the group output.
// Minibatched nodes join groups of the same batch size, batches end to end,
// so per-step losses over a minibatch merge into one product with the weight.
// Backward replays the groups in reverse with the same prototypes, so a
// shared weight's gradient is one GEMM over the whole group.
//
// Files: the agenda (signatures, ready buckets, which group runs next) in
// autobatch_agenda.cc; running groups forward here; backward in
// autobatch_backward.cc; stacked products in autobatch_stacked.cc; groups on a
// device in autobatch_device.cc.
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/thread_pool.h"
#include "device/swap.h"
#include "graph/autobatch_agenda.h"
#include "graph/autobatch_profile.h"
#include "graph/graph.h"

namespace dg {

namespace {
AutobatchProfile g_profile;
}  // namespace

AutobatchProfile& autobatch_profile() { return g_profile; }

namespace {
std::atomic<uint32_t> g_fault{0};
}  // namespace

void set_autobatch_fault(uint32_t members) { g_fault.store(members); }

void autobatch_fault_check(unsigned members) {
  const uint32_t f = g_fault.load(std::memory_order_relaxed);
  if (f && members >= f && g_fault.exchange(0) == f)
    throw IndexError("autobatch: a fault injected by a test, in a group of " + std::to_string(f) + "+ members");
}

bool ComputationGraph::group_too_large(const std::vector<uint32_t>& batch) const {
  const Node& first = nodes[batch[0]];
  size_t largest = first.dim.size();
  uint32_t widest_batch = first.dim.bd;
  for (unsigned k = 0; k < first.nargs; ++k) {
    const Dim& d = nodes[args(first)[k]].dim;
    if (d.size() > largest) largest = d.size();
    if (d.bd > widest_batch) widest_batch = d.bd;
  }
  const size_t n = batch.size();
  return largest > UINT32_MAX / n || widest_batch > UINT32_MAX / n;
}

namespace {

// op_table.def: DG_OP_INDICES_CARRY_BATCH.
bool indices_carry_batch(OpId op) {
#define DG_OP_INDICES_CARRY_BATCH(name) \
  if (op == OpId::name) return true;
#include "ops/op_table.def"
#undef DG_OP_INDICES_CARRY_BATCH
  return false;
}

}  // namespace

// A group's prototype (batch N) and its arguments: shared ones as they are,
// batched ones in place when contiguous, else gathered.
void ComputationGraph::gather_group(Group& grp, const uint32_t* batch, unsigned N) {
  AutobatchProfile& prof = g_profile;
  const Node& first = nodes[batch[0]];
  grp.proto = first;
  grp.proto.dim.bd = N * first.dim.bd;
  if (batch_kind(first.op) == BatchKind::per_element) {  // the members' indices, in order
    grp.proto.aux0 = static_cast<uint32_t>(int_data.size());
    grp.proto.naux = N * first.naux;
    for (unsigned b = 0; b < N; ++b)
      for (unsigned i = 0; i < first.naux; ++i) int_data.push_back(int_data[nodes[batch[b]].aux0 + i]);
  }
  // The members' arguments, read once with their values prefetched: in a graph of
  // many trees the members lie far apart, every read is a cache miss, and issued
  // together the misses overlap (the gather's cost grew 2.5x from 16 to 256 trees).
  // Kept for backward in group_args_. A new graph or a revert (a new epoch), or the
  // first group running again, starts it afresh: earlier groups then read their nodes.
  const unsigned na = first.nargs;
  const size_t nm = size_t(N) * na;
  if (group_args_epoch_ != epoch_ || &grp == groups_.data()) {
    for (Group& g : groups_) g.args_at = UINT32_MAX;
    group_args_.clear();
    group_args_epoch_ = epoch_;
  }
  uint32_t* margs;
  if (group_args_.size() + nm < UINT32_MAX) {
    grp.args_at = static_cast<uint32_t>(group_args_.size());
    group_args_.resize(group_args_.size() + nm);
    margs = group_args_.data() + grp.args_at;
  } else {  // more than an offset can index: backward reads them from the nodes again
    grp.args_at = UINT32_MAX;
    std::vector<uint32_t>& scratch = autobatch_scratch().member_args;
    scratch.resize(nm);
    margs = scratch.data();
  }
  for (unsigned b = 0; b < N; ++b) __builtin_prefetch(&nodes[batch[b]]);
  for (unsigned b = 0; b < N; ++b) __builtin_prefetch(args(nodes[batch[b]]));
  for (unsigned b = 0; b < N; ++b) {
    const uint32_t* a = args(nodes[batch[b]]);
    for (unsigned k = 0; k < na; ++k) {
      margs[size_t(k) * N + b] = a[k];
      __builtin_prefetch(&values_[a[k]]);
    }
    __builtin_prefetch(&values_[batch[b]], 1);
  }
  // A batch-1 argument that every member reads stays batch 1, broadcast over the
  // group, only when something else carries the group's batch: a batched argument
  // (an op of several arguments broadcasts a batch-1 one against it: joint_batch in
  // ops/common.h) or the members' indices. Otherwise (tanh(x) twice, W x twice with
  // one x) the last argument is gathered, a copy per member, so the op computes
  // every member, not the first alone; backward adds the copies' gradients into it.
  bool carried = na == 0 || indices_carry_batch(first.op);
  for (unsigned k = 0; k < na && !carried; ++k) {
    const uint32_t* ak = margs + size_t(k) * N;
    carried = values_[ak[0]].d.bd != 1;
    for (unsigned b = 1; b < N && !carried; ++b) carried = ak[b] != ak[0];
  }
  const unsigned gathered_anyway = carried ? na : na - 1;
  grp.xs.resize(na);
  std::vector<DeviceGather> device_gathers;  // a device group's gathered arguments: one upload for all
  for (unsigned k = 0; k < na; ++k) {
    const uint32_t* ak = margs + size_t(k) * N;
    uint32_t a0 = ak[0];
    bool shared = true, contiguous = true;
    const Tensor& v0 = values_[a0];
    const size_t sz = v0.d.size();
    for (unsigned b = 0; b < N; ++b) {
      uint32_t ab = ak[b];
      shared = shared && ab == a0;
      contiguous = contiguous && values_[ab].v == v0.v + size_t(b) * sz;
    }
    Tensor& x = grp.xs[k];
    x.d = v0.d;
    x.device = v0.device;
    if (shared && v0.d.bd == 1 && k != gathered_anyway) {  // the op broadcasts it over the group's batch
      x.v = v0.v;
      continue;
    }
    x.d.bd = N * v0.d.bd;
    if (contiguous) {
      x.v = v0.v;
      ++prof.args_in_place;
    } else {
      ++prof.args_gathered;
      if (x.device != kCpuDevice) {  // below: one launch over the members' addresses
        device_gathers.push_back({k, ak, sz});
        continue;
      }
      x.v = fx_pool.allocate_floats(size_t(N) * sz);
      for (unsigned b = 0; b < N; ++b)
        std::memcpy(x.v + size_t(b) * sz, values_[ak[b]].v, sizeof(float) * sz);
    }
  }
  if (!device_gathers.empty())
    group_device_gather(grp.xs[device_gathers[0].k].device, device_gathers.data(),
                        static_cast<unsigned>(device_gathers.size()), N, grp.xs.data());
  grp.y.d = grp.proto.dim;
  grp.y.v = grp.place;  // the op allocates it when null (ops/common.h alloc)
}

bool& autobatch_place_outputs() {
  static bool on = true;
  return on;
}

// A group whose batched argument is the outputs of several earlier groups of this
// forward, each whole and in its order, end to end (a cell's gates, each its own
// bias add, read by one logistic group) would gather them: instead the producers
// write their outputs into one block in that order and the argument is read in
// place. Each producer's slice starts 64-byte aligned, as a pool block of its own
// would, so its kernel computes the same bits. A producer serves its first reader only.
void ComputationGraph::place_group_outputs(size_t first_group, uint32_t begin, uint32_t end) {
  for (size_t g = first_group; g < groups_.size(); ++g) {
    groups_[g].place = nullptr;
    groups_[g].place_lead = UINT32_MAX;
  }
  if (!autobatch_place_outputs() || groups_.size() - first_group < 3) return;
  AutobatchScratch& S = autobatch_scratch();
  // Per node of this forward its group; stacked sets and lone nodes place nothing.
  std::vector<uint32_t>& owner = S.node_group;
  owner.assign(end - begin, UINT32_MAX);
  for (size_t i = 0; i < S.plan.size(); ++i) {
    if (S.plan[i].sets) continue;
    const Group& grp = groups_[S.item_group[i]];
    if (grp.count < 2) continue;
    for (unsigned b = 0; b < grp.count; ++b) owner[group_nodes_[grp.first + b] - begin] = S.item_group[i];
  }
  constexpr size_t kAlignFloats = MemoryPool::kAlign / sizeof(float);
  std::vector<uint32_t>& producers = S.producers;
  for (size_t gi = first_group; gi < groups_.size(); ++gi) {
    const Group& grp = groups_[gi];
    const unsigned N = grp.count;
    if (N < 4) continue;
    const uint32_t* members = group_nodes_.data() + grp.first;
    const Node& first = nodes[members[0]];
    if (first.device != kCpuDevice || owner[members[0] - begin] != gi) continue;
    for (unsigned k = 0; k < first.nargs; ++k) {
      const uint32_t a0 = args(first)[k];
      if (a0 < begin || owner[a0 - begin] == UINT32_MAX) continue;
      const Group& p0 = groups_[owner[a0 - begin]];
      // Quick rejections from the first member: one producer is in place already.
      if (p0.count >= N || p0.place || group_nodes_[p0.first] != a0) continue;
      const size_t sz = nodes[a0].dim.size();
      producers.clear();
      bool ok = true;
      for (unsigned b = 0; ok && b < N;) {
        const uint32_t a = args(nodes[members[b]])[k];
        const uint32_t pi = a < begin ? UINT32_MAX : owner[a - begin];
        if (pi == UINT32_MAX || pi >= gi) { ok = false; break; }
        const Group& p = groups_[pi];
        const uint32_t* pm = group_nodes_.data() + p.first;
        ok = !p.place && pm[0] == a && b + p.count <= N && nodes[a].device == kCpuDevice &&
             nodes[a].dim.size() == sz && (size_t(b) * sz) % kAlignFloats == 0;
        for (unsigned c = 1; ok && c < p.count; ++c) ok = args(nodes[members[b + c]])[k] == pm[c];
        for (uint32_t q : producers) ok = ok && q != pi;
        producers.push_back(pi);
        b += p.count;
      }
      if (!ok || producers.size() < 2) continue;
      float* block = fx_pool.allocate_floats(size_t(N) * sz);
      size_t at = 0;
      for (uint32_t pi : producers) {
        groups_[pi].place = block + at;
        groups_[pi].place_lead = producers[0];
        at += size_t(groups_[pi].count) * sz;
      }
      groups_[producers[0]].place_floats = at;
    }
  }
}

// Each member's value is its slice of the group's output.
void ComputationGraph::slice_group_outputs(const Group& grp, const uint32_t* batch, unsigned N) {
  // Members share one shape (it is part of their signature): no member's node is read.
  const Dim d = nodes[batch[0]].dim;
  const size_t sz = d.size();
  // Counted here, not when planned: an op may return other memory (dropout at p = 0).
  if (grp.place && grp.y.v == grp.place) ++autobatch_profile().outputs_placed;
  for (unsigned b = 0; b < N; ++b) {
    Tensor& yb = values_[batch[b]];
    yb.d = d;
    yb.v = grp.y.v + b * sz;
    yb.device = grp.y.device;
  }
}

// One group: a lone node runs as unbatched; others as one call of the op over
// the gathered arguments.
void ComputationGraph::run_group(size_t gi, PhaseClock& clock) {
  Group& grp = groups_[gi];
  const uint32_t* batch = group_nodes_.data() + grp.first;
  const unsigned N = grp.count;
  if (N == 1) {
    eval_node(batch[0]);
    clock.charge(g_profile.fwd_kernel);
    grp.proto = nodes[batch[0]];
  } else {
    if (has_device_nodes_) swap_before_group(*this, batch, N, false);  // under a budget
    gather_group(grp, batch, N);
    clock.charge(g_profile.fwd_gather);
    autobatch_fault_check(N);
    group_forward(grp.proto, grp.xs.data(), grp.y);
    clock.charge(g_profile.fwd_kernel);
    slice_group_outputs(grp, batch, N);
    if (has_device_nodes_) swap_after_group(*this, batch, N, grp.y);
  }
}

void ComputationGraph::run_plan_item(size_t i, PhaseClock& clock) {
  const AutobatchScratch& S = autobatch_scratch();
  if (S.plan[i].sets) run_stacked_set(S.item_group[i], S.plan[i].sets, clock);
  else run_group(S.item_group[i], clock);
}

void ComputationGraph::forward_batched(uint32_t upto) {
  if (upto < evaluated_) return;  // already computed (n = end - begin would wrap around)
  if (forward_batched_under_budget(upto)) return;  // autobatch_device.cc
  auto t0 = std::chrono::steady_clock::now();
  PhaseClock clock(g_profile);
  const uint32_t begin = evaluated_, end = upto + 1;
  AutobatchScratch& S = autobatch_scratch();
  Agenda& agenda = S.agenda;
  agenda.start(*this, begin, end);
  stacked_weights_.clear();  // parameters may have changed since the last call
  std::vector<uint32_t>& batch = S.batch;
  // The plan first: which nodes run together, and in what order, follows from
  // the graph's structure alone (no value is read), so the groups are the same
  // however many threads then run them.
  S.plan.clear();
  S.plan_nodes.clear();
  auto add = [&](const std::vector<uint32_t>& batch) {
    S.plan_nodes.insert(S.plan_nodes.end(), batch.begin(), batch.end());
    batch_stats.nodes += batch.size();
    ++batch_stats.groups;
    agenda.release(batch);
  };
  while (!agenda.empty()) {
    const uint64_t chosen_height = agenda.pick(batch);
    if (batch.size() > 1 && group_too_large(batch)) {  // its members run one by one
      agenda.run_alone(batch.data() + 1, batch.data() + batch.size());
      batch.resize(1);
    }
    const uint32_t first = static_cast<uint32_t>(S.plan_nodes.size());
    // Ready products of other weights over the same members' operands (a cell's
    // gates W_i x, W_o x, ...) join this one: one GEMM over the weights stacked.
    std::vector<std::vector<uint32_t>>& set = S.set;
    if (!take_stacked_partners(agenda, batch, chosen_height, set)) {
      add(batch);
      S.plan.push_back({first, static_cast<uint32_t>(batch.size()), 0});
    } else {
      for (const auto& bucket : set) add(bucket);
      S.plan.push_back({first, static_cast<uint32_t>(S.plan_nodes.size() - first), static_cast<uint32_t>(set.size())});
    }
  }
  batch_stats.scheduler_ns +=
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  // The groups in plan order (backward runs them in reverse, whatever order they ran in).
  const size_t groups_before = groups_.size(), nodes_before = group_nodes_.size();
  S.item_group.resize(S.plan.size());
  size_t gi = groups_before;
  for (size_t i = 0; i < S.plan.size(); ++i) {
    S.item_group[i] = static_cast<uint32_t>(gi);
    gi += S.plan[i].sets ? S.plan[i].sets : 1;
  }
  groups_.resize(gi);
  group_nodes_.insert(group_nodes_.end(), S.plan_nodes.begin(), S.plan_nodes.end());
  for (size_t i = 0; i < S.plan.size(); ++i) {
    const AutobatchScratch::PlanItem& it = S.plan[i];
    const unsigned sets = it.sets ? it.sets : 1, N = it.count / sets;
    for (unsigned k = 0; k < sets; ++k) {
      Group& grp = groups_[S.item_group[i] + k];
      grp.first = static_cast<uint32_t>(nodes_before + it.first + k * N);
      grp.count = N;
    }
  }
  place_group_outputs(groups_before, begin, end);
  clock.charge(g_profile.fwd_setup);
  try {
    if (engine_threads() > 1) run_plan_threaded(begin, end, clock);
    else
      for (size_t i = 0; i < S.plan.size(); ++i) {
        run_plan_item(i, clock);
        clock.charge(g_profile.fwd_release);
      }
  } catch (...) {  // the nodes stay unevaluated: no groups of them
    groups_.resize(groups_before);
    group_nodes_.resize(nodes_before);
    throw;
  }
  evaluated_ = end;
}

}  // namespace dg

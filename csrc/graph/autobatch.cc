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
#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include "core/gemm.h"
#include "graph/autobatch_profile.h"
#include "graph/graph.h"

namespace dg {

namespace {

// Each op's batch kind (BatchKind in ops/op_id.h), from op_table.def.
constexpr BatchKind kBatchKind[] = {
#define DG_OP(name, family, arity, diff, batch, devices, functions) BatchKind::batch,
#include "ops/op_table.def"
#undef DG_OP
};
inline BatchKind batch_kind(OpId op) { return kBatchKind[static_cast<unsigned>(op)]; }

inline void mix(uint64_t& h, uint64_t v) { h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); }
inline uint64_t fbits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
uint64_t dim_hash(const Dim& d) {
  uint64_t h = d.nd;
  for (unsigned i = 0; i < d.nd; ++i) mix(h, d.d[i]);
  mix(h, d.bd);
  return h;
}

}  // namespace

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

// Per-node scheduling state, one record per node: a group's members lie far
// apart in a large graph (one per tree of a 256-tree batch), and a record puts
// what the scheduler reads of a member on one cache line rather than five.
struct SchedNode {
  uint64_t sig;
  uint32_t pending, depth, height, users_end;  // users of node j: users[users_end of j-1, users_end of j)
};
struct ReadyBucket {
  std::vector<uint32_t> nodes;
  uint64_t depth_sum = 0;
  uint64_t height_sum = 0;
};
// Reused from graph to graph (per thread), so a forward allocates nothing here
// once the largest graph has been seen (a few MB at 170 k nodes stay held).
struct SchedScratch {
  std::vector<SchedNode> node;
  std::vector<uint32_t> users, fill, alone, batch;
  std::vector<uint32_t> member_args;  // a group's arguments, argument-major: [k * N + b]
  std::vector<std::vector<uint32_t>> set;  // the buckets of a set of stacked products
  std::vector<uint32_t> set_weights;
  std::unordered_map<uint64_t, ReadyBucket> agenda;
};
AutobatchProfile g_profile;

// Products over fewer members run apart: OpenBLAS (one core, 256-deep weights)
// ran five 128-row products faster than one 640-row product up to ~25 columns,
// and the stacked one 10-20 % faster from 32 columns on.
constexpr size_t kStackMinMembers = 32;

// A group of products W * x_b that can join a stacked set: W a parameter
// matrix (batch 1), each x_b one column (the member's own, not shared).
bool stackable(const ComputationGraph& g, const Node& n) {
  if (n.op != OpId::matmul || n.nargs != 2 || n.dim.bd != 1) return false;
  const Node& w = g.nodes[g.args(n)[0]];
  const Node& x = g.nodes[g.args(n)[1]];
  return w.op == OpId::parameter && w.dim.nd == 2 && w.dim.bd == 1 && x.dim.cols() == 1 && x.dim.bd == 1 &&
         x.dim.nd <= 2;
}

SchedScratch& sched_scratch() {
  static thread_local SchedScratch s;
  return s;
}

}  // namespace

AutobatchProfile& autobatch_profile() { return g_profile; }

void ComputationGraph::forward_batched(uint32_t upto) {
  if (upto < evaluated_) return;  // already computed (n = end - begin would wrap around)
  auto t0 = std::chrono::steady_clock::now();
  PhaseClock clock(g_profile);
  const uint32_t begin = evaluated_, end = upto + 1;
  const uint32_t n = end - begin;
  SchedScratch& S = sched_scratch();
  std::vector<SchedNode>& sn = S.node;
  // Dependency counts, depths and user counts within [begin, end).
  sn.assign(n, SchedNode{0, 0, 0, 0, 0});
  for (uint32_t j = begin; j < end; ++j) {
    const uint32_t* a = args(nodes[j]);
    SchedNode& sj = sn[j - begin];
    for (unsigned k = 0; k < nodes[j].nargs; ++k)
      if (a[k] >= begin) {
        SchedNode& sa = sn[a[k] - begin];
        ++sj.pending;
        ++sa.users_end;
        if (sa.depth + 1 > sj.depth) sj.depth = sa.depth + 1;
      }
  }
  for (uint32_t j = 1; j < n; ++j) sn[j].users_end += sn[j - 1].users_end;
  std::vector<uint32_t>& users = S.users;
  users.resize(n ? sn[n - 1].users_end : 0);
  auto users_begin = [&](uint32_t j) { return j ? sn[j - 1].users_end : 0u; };
  {
    std::vector<uint32_t>& fill = S.fill;
    fill.resize(n);
    for (uint32_t j = 0; j < n; ++j) fill[j] = users_begin(j);
    for (uint32_t j = begin; j < end; ++j) {
      const uint32_t* a = args(nodes[j]);
      for (unsigned k = 0; k < nodes[j].nargs; ++k)
        if (a[k] >= begin) users[fill[a[k] - begin]++] = j;
    }
  }
  // Height: the longest path from a node to the end of the graph.
  for (uint32_t j = n; j-- > 0;)
    for (uint32_t u = users_begin(j); u < sn[j].users_end; ++u)
      sn[j].height = std::max(sn[j].height, sn[users[u] - begin].height + 1);
  // Signature of a node: equal signatures may run together.
  auto signature = [&](uint32_t j) -> uint64_t {
    const Node& nd = nodes[j];
    const BatchKind kind = batch_kind(nd.op);
    // A minibatched node (bd > 1) joins others of the same bd: the group's
    // batch is the members' batches end to end. Per-element ops need one
    // index per batch element for that.
    const bool alone = kind == BatchKind::none || (kind == BatchKind::per_element && nd.naux != nd.dim.bd);
    if (alone) return (uint64_t(1) << 63) | j;
    uint64_t h = static_cast<uint64_t>(nd.op);
    mix(h, dim_hash(nd.dim));
    mix(h, nd.nargs);
    mix(h, nd.needs_grad);
    mix(h, fbits(nd.f0));
    mix(h, fbits(nd.f1));
    mix(h, static_cast<uint32_t>(nd.i0));
    mix(h, static_cast<uint32_t>(nd.i1));
    if (nd.op == OpId::lookup) mix(h, reinterpret_cast<uintptr_t>(nd.ptr) ^ nd.naux);
    if (kind == BatchKind::plain) {  // attributes (pick_range's span, an axis...) must agree
      mix(h, nd.naux);
      for (unsigned i = 0; i < nd.naux; ++i) mix(h, static_cast<uint32_t>(int_data[nd.aux0 + i]));
    }
    const uint32_t* a = args(nd);
    for (unsigned k = 0; k < nd.nargs; ++k) {
      const Node& an = nodes[a[k]];
      // Parameter arguments are shared by the whole group; others are gathered,
      // so they must be batched like the node itself (no broadcast of bd 1).
      if (an.op == OpId::parameter) mix(h, 0x5000000000000000ull | a[k]);
      else if (an.dim.bd != nd.dim.bd) return (uint64_t(1) << 63) | j;
      else mix(h, dim_hash(an.dim));
    }
    return h & ~(uint64_t(1) << 63);
  };
  std::unordered_map<uint64_t, ReadyBucket>& agenda = S.agenda;
  agenda.clear();
  stacked_weights_.clear();  // parameters may have changed since the last call
  // Nodes that can never join a batch run as soon as they are ready, outside
  // the agenda, so the agenda holds only a few signatures and scanning it is cheap.
  std::vector<uint32_t>& alone = S.alone;
  alone.clear();
  auto push_ready = [&](uint32_t j) {
    const SchedNode& sj = sn[j - begin];
    if (sj.sig >> 63) {
      alone.push_back(j);
      return;
    }
    ReadyBucket& b = agenda[sj.sig];
    b.nodes.push_back(j);
    b.depth_sum += sj.depth;
    b.height_sum += sj.height;
  };
  for (uint32_t j = begin; j < end; ++j) sn[j - begin].sig = signature(j);
  for (uint32_t j = begin; j < end; ++j)
    if (sn[j - begin].pending == 0) push_ready(j);

  auto t_sched = std::chrono::steady_clock::now() - t0;
  clock.charge(g_profile.fwd_setup);
  std::vector<uint32_t>& batch = S.batch;
  // A group's prototype (batch N) and its arguments: shared ones as they are,
  // batched ones in place when contiguous, else gathered.
  auto gather = [&](Group& grp, const std::vector<uint32_t>& batch) {
    const Node& first = nodes[batch[0]];
    const unsigned N = static_cast<unsigned>(batch.size());
    grp.proto = first;
    grp.proto.dim.bd = N * first.dim.bd;
    if (batch_kind(first.op) == BatchKind::per_element) {  // the members' indices, in order
      grp.proto.aux0 = static_cast<uint32_t>(int_data.size());
      grp.proto.naux = N * first.naux;
      for (uint32_t j : batch)
        for (unsigned i = 0; i < first.naux; ++i) int_data.push_back(int_data[nodes[j].aux0 + i]);
    }
    // The members' arguments, read once with their values prefetched: in a graph of
    // many trees the members lie far apart, every read is a cache miss, and issued
    // together the misses overlap (the gather's cost grew 2.5x from 16 to 256 trees).
    const unsigned na = first.nargs;
    std::vector<uint32_t>& margs = S.member_args;
    margs.resize(size_t(N) * na);
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
    grp.xs.resize(na);
    for (unsigned k = 0; k < na; ++k) {
      const uint32_t* ak = margs.data() + size_t(k) * N;
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
      if (shared && v0.d.bd == 1) {  // the op broadcasts it over the group's batch
        x.v = v0.v;
        continue;
      }
      x.d.bd = N * v0.d.bd;
      if (contiguous) {
        x.v = v0.v;
        ++g_profile.args_in_place;
      } else {
        ++g_profile.args_gathered;
        x.v = fx_pool.allocate_floats(size_t(N) * sz);
        for (unsigned b = 0; b < N; ++b)
          std::memcpy(x.v + size_t(b) * sz, values_[ak[b]].v, sizeof(float) * sz);
      }
    }
    grp.y.d = grp.proto.dim;
    grp.y.v = nullptr;
  };
  // Each member's value is its slice of the group's output.
  auto slice_outputs = [&](const Group& grp, const std::vector<uint32_t>& batch) {
    const size_t sz = nodes[batch[0]].dim.size();
    for (size_t b = 0; b < batch.size(); ++b) {
      Tensor& yb = values_[batch[b]];
      yb.d = nodes[batch[b]].dim;
      yb.v = grp.y.v + b * sz;
    }
  };
  // Counts the group and readies the members' users.
  auto release = [&](const std::vector<uint32_t>& batch) {
    batch_stats.nodes += batch.size();
    ++batch_stats.groups;
    for (uint32_t j : batch) __builtin_prefetch(&sn[j - begin]);
    for (uint32_t j : batch) __builtin_prefetch(&users[users_begin(j - begin)]);
    for (uint32_t j : batch)
      for (uint32_t u = users_begin(j - begin); u < sn[j - begin].users_end; ++u)
        if (--sn[users[u] - begin].pending == 0) push_ready(users[u]);
  };
  while (!alone.empty() || !agenda.empty()) {
    auto t1 = std::chrono::steady_clock::now();
    uint64_t chosen_height = 0;
    if (!alone.empty()) {
      batch.assign(1, alone.back());
      alone.pop_back();
    } else {
      // The bucket of highest average height (longest path to the end of the
      // graph) runs first: the critical path advances, and nodes that lead
      // nowhere far (per-step losses, the o gate until h needs it) wait and
      // gather with their later copies into fewer, larger groups. DyNet's rule
      // (lowest average depth first) keeps every sample's frontier together
      // but runs such nodes as soon as they are ready.
      const bool by_height = batch_policy == BatchPolicy::height;
      auto before = [by_height](const ReadyBucket& a, const ReadyBucket& b) {
        return by_height ? a.height_sum * b.nodes.size() > b.height_sum * a.nodes.size()
                         : a.depth_sum * b.nodes.size() < b.depth_sum * a.nodes.size();
      };
      auto best = agenda.begin();
      for (auto it = agenda.begin(); it != agenda.end(); ++it)
        if (before(it->second, best->second)) best = it;
      chosen_height = best->second.height_sum;
      batch = std::move(best->second.nodes);
      agenda.erase(best);
    }
    t_sched += std::chrono::steady_clock::now() - t1;
    clock.charge(g_profile.fwd_setup);
    if (batch.size() > 1 && group_too_large(batch)) {  // its members run one by one
      alone.insert(alone.end(), batch.begin() + 1, batch.end());
      batch.resize(1);
    }

    // Ready products of other weights over the same members' operands (a cell's
    // gates W_i x, W_o x, ...) join this one: one GEMM over the weights stacked.
    std::vector<std::vector<uint32_t>>& set = S.set;
    set.clear();
    bool distinct = false;  // members' operands (all one node: it would not be batched)
    if (stack_products && batch.size() >= kStackMinMembers && stackable(*this, nodes[batch[0]]))
      for (size_t b = 1; !distinct && b < batch.size(); ++b)
        distinct = args(nodes[batch[b]])[1] != args(nodes[batch[0]])[1];
    if (distinct) {
      const Node& first = nodes[batch[0]];
      const unsigned cols = nodes[args(first)[0]].dim.cols();
      for (auto it = agenda.begin(); it != agenda.end();) {
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
        it = agenda.erase(it);
      }
      // Same weights in the same order each time: the stacked copy is reused.
      std::sort(set.begin(), set.end(), [this](const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
        return args(nodes[a[0]])[0] < args(nodes[b[0]])[0];
      });
    }
    if (set.empty()) {
      Group grp;
      grp.first = static_cast<uint32_t>(group_nodes_.size());
      grp.count = static_cast<uint32_t>(batch.size());
      group_nodes_.insert(group_nodes_.end(), batch.begin(), batch.end());
      if (batch.size() == 1) {
        eval_node(batch[0]);
        clock.charge(g_profile.fwd_kernel);
        grp.proto = nodes[batch[0]];
      } else {
        gather(grp, batch);
        clock.charge(g_profile.fwd_gather);
        op_impl(grp.proto.op).forward(*this, grp.proto, grp.xs.data(), grp.y);
        clock.charge(g_profile.fwd_kernel);
        slice_outputs(grp, batch);
      }
      groups_.push_back(std::move(grp));
      release(batch);
    } else {
      // One gather of the shared operand; the product into a (rows of all weights) x N
      // block; each group's rows copied out so its outputs stay one contiguous block.
      const unsigned N = static_cast<unsigned>(batch.size());
      std::vector<uint32_t>& wn = S.set_weights;
      wn.clear();
      unsigned rows = 0;
      for (const auto& bucket : set) {
        wn.push_back(args(nodes[bucket[0]])[0]);
        rows += nodes[bucket[0]].dim.rows();
      }
      const unsigned cols = nodes[wn[0]].dim.cols();
      const float* W = stacked_weights(wn, rows);
      const size_t first_group = groups_.size();
      for (const auto& bucket : set) {
        Group grp;
        grp.first = static_cast<uint32_t>(group_nodes_.size());
        grp.count = N;
        group_nodes_.insert(group_nodes_.end(), bucket.begin(), bucket.end());
        if (groups_.size() == first_group) gather(grp, bucket);
        else {  // the same operand as the set's first group
          grp.proto = nodes[bucket[0]];
          grp.proto.dim.bd = N;
          grp.xs = {values_[wn[groups_.size() - first_group]], groups_[first_group].xs[1]};
        }
        grp.in_stacked_set = true;
        groups_.push_back(std::move(grp));
      }
      clock.charge(g_profile.fwd_gather);
      const Tensor& x = groups_[first_group].xs[1];
      float* all = fx_pool.allocate_floats(size_t(rows) * N);
      gemm(all, W, false, x.v, false, rows, N, cols, 0.f);
      unsigned off = 0;
      for (size_t g = first_group; g < groups_.size(); ++g) {
        Group& grp = groups_[g];
        const unsigned m = grp.proto.dim.rows();
        grp.y.d = grp.proto.dim;
        grp.y.v = fx_pool.allocate_floats(size_t(m) * N);
        for (unsigned b = 0; b < N; ++b)
          std::memcpy(grp.y.v + size_t(b) * m, all + size_t(b) * rows + off, sizeof(float) * m);
        off += m;
      }
      Group& last = groups_.back();
      last.stacked_set = static_cast<uint32_t>(set.size());
      last.wstack = W;
      last.wstack_rows = rows;
      g_profile.products_stacked += set.size();
      ++g_profile.stacked_sets;
      clock.charge(g_profile.fwd_kernel);
      for (size_t g = 0; g < set.size(); ++g) slice_outputs(groups_[first_group + g], set[g]);
      for (const auto& bucket : set) release(bucket);
    }
    clock.charge(g_profile.fwd_release);
  }
  evaluated_ = end;
  batch_stats.scheduler_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(t_sched).count();
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

void ComputationGraph::backward_batched(uint32_t from, bool full) {
  PhaseClock clock(g_profile);
  // Gradient buffers, contiguous per group so a group's dy is one batch.
  grads_.assign(evaluated_, Tensor());
  // Each group's block is zeroed lazily, just before the first gradient flows
  // into it (touch_grad): the memset then runs on memory about to be used, and
  // groups that receive no gradient are skipped without being touched.
  group_of_.resize(evaluated_);
  group_zeroed_.assign(groups_.size(), 0);
  for (uint32_t gi = 0; gi < groups_.size(); ++gi) {
    const Group& grp = groups_[gi];
    const Node& first = nodes[group_nodes_[grp.first]];
    for (unsigned b = 0; b < grp.count; ++b) group_of_[group_nodes_[grp.first + b]] = gi;
    if (!(full || first.needs_grad)) continue;
    const unsigned sz = first.dim.size();
    float* block = dx_pool.allocate_floats(size_t(sz) * grp.count);
    for (unsigned b = 0; b < grp.count; ++b) {
      uint32_t j = group_nodes_[grp.first + b];
      grads_[j].d = nodes[j].dim;
      grads_[j].v = block + size_t(b) * sz;
    }
  }
  clock.charge(g_profile.bwd_setup);
  if (!grads_[from].v) return;  // the loss does not depend on anything differentiable
  lazy_grads_ = true;
  touch_grad(from);
  grads_[from].arr().setConstant(1.f);
  // A shared weight's gradient terms from all its groups are deferred and applied
  // as one wide GEMM when the weight's own node comes up (see add_outer_product).
  outer_slot_.assign(evaluated_, -1);
  outer_used_ = 0;

  // dx += d(op)/dx_k for a batched argument k of a group of N members (their
  // arguments ak): into the arguments' gradient block when it is one in member
  // order, else through a scratch block added back member by member.
  auto to_batched_arg = [&](const OpImpl& impl, const Node& proto, const Tensor* xs, const Tensor& y,
                            const Tensor& dy, unsigned k, const uint32_t* ak, unsigned N) {
    const Tensor& x = xs[k];
    const uint32_t a0 = ak[0];
    const unsigned sz = nodes[a0].dim.size();
    bool any = false, contiguous = grads_[a0].v != nullptr;
    for (unsigned b = 0; b < N; ++b) {
      const Tensor& gb = grads_[ak[b]];
      any = any || gb.v;
      contiguous = contiguous && gb.v == grads_[a0].v + size_t(b) * sz;
    }
    if (!any) return;
    for (unsigned b = 0; b < N; ++b)
      if (grads_[ak[b]].v) touch_grad(ak[b]);
    clock.charge(g_profile.bwd_memset);
    if (contiguous) {
      ++g_profile.grads_in_place;
      Tensor dx(x.d, grads_[a0].v);
      impl.backward(*this, proto, xs, y, dy, k, dx);
      clock.charge(g_profile.bwd_kernel);
      return;
    }
    ++g_profile.grads_scattered;
    Tensor dx(x.d, dx_pool.allocate_floats(size_t(sz) * N));
    std::memset(dx.v, 0, sizeof(float) * sz * N);
    clock.charge(g_profile.bwd_scatter);
    impl.backward(*this, proto, xs, y, dy, k, dx);
    clock.charge(g_profile.bwd_kernel);
    for (unsigned b = 0; b < N; ++b) {
      Tensor& gb = grads_[ak[b]];
      if (gb.v) VecMap(gb.v, sz) += VecMap(dx.v + size_t(b) * sz, sz);
    }
    clock.charge(g_profile.bwd_scatter);
  };
  // A stacked set's operand gradient, when its last group comes up (the users of
  // all its groups have run): dx += [W_1; W_2; ...]^T [dy_1; dy_2; ...], one GEMM.
  auto stacked_grad = [&](size_t gi, const uint32_t* operand_args) {
    const Group& last = groups_[gi];
    const size_t g0 = gi + 1 - last.stacked_set;
    const unsigned N = last.count, rows = last.wstack_rows;
    bool any = false;
    for (size_t g = g0; g <= gi; ++g) {
      const Group& grp = groups_[g];
      for (unsigned b = 0; b < N; ++b) flush_outer_products(group_nodes_[grp.first + b]);
      any = any || (grads_[group_nodes_[grp.first]].v && group_zeroed_[g]);
    }
    clock.charge(g_profile.bwd_outer);
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
    clock.charge(g_profile.bwd_scatter);
    to_batched_arg(op_impl(OpId::matmul), proto, xs2, Tensor(), dy, 1, operand_args, N);
  };

  std::vector<Tensor> xs;
  for (size_t gi = groups_.size(); gi-- > 0;) {
    const Group& grp = groups_[gi];
    if (grp.count == 1) {
      touch_grad(group_nodes_[grp.first]);  // a lone node runs even without gradient, as unbatched
      clock.charge(g_profile.bwd_memset);
      backward_node(group_nodes_[grp.first], xs);
      clock.charge(g_profile.bwd_kernel);
      continue;
    }
    const uint32_t* members = group_nodes_.data() + grp.first;
    const unsigned N = grp.count;
    // As in forward: the members' arguments read once, their gradients prefetched.
    const unsigned na = nodes[members[0]].nargs;
    std::vector<uint32_t>& margs = sched_scratch().member_args;
    margs.resize(size_t(N) * na);
    for (unsigned b = 0; b < N; ++b) {
      __builtin_prefetch(&nodes[members[b]]);
      __builtin_prefetch(&outer_slot_[members[b]]);
    }
    for (unsigned b = 0; b < N; ++b) __builtin_prefetch(args(nodes[members[b]]));
    for (unsigned b = 0; b < N; ++b) {
      const uint32_t* a = args(nodes[members[b]]);
      for (unsigned k = 0; k < na; ++k) {
        margs[size_t(k) * N + b] = a[k];
        __builtin_prefetch(&grads_[a[k]]);
        __builtin_prefetch(&group_of_[a[k]]);
      }
    }
    clock.charge(g_profile.bwd_setup);
    for (unsigned b = 0; b < N; ++b) flush_outer_products(members[b]);  // their users have all run
    clock.charge(g_profile.bwd_outer);
    if (grp.stacked_set) stacked_grad(gi, margs.data() + N);
    const Node& first = nodes[members[0]];
    Tensor& dy0 = grads_[members[0]];
    if (!dy0.v) continue;
    if (!group_zeroed_[gi]) {
      if (first.nargs != 0) continue;  // no gradient reached this group: nothing to pass on
      touch_grad(members[0]);  // lookups still mark their rows, as unbatched
    }
    Tensor dy(grp.proto.dim, dy0.v);
    const OpImpl& impl = op_impl(first.op);
    if (first.nargs == 0) {  // a group of lookups: scatter the rows' gradients
      if (first.needs_grad) {
        clock.charge(g_profile.bwd_memset);
        impl.backward(*this, grp.proto, nullptr, grp.y, dy, 0, dy);
        clock.charge(g_profile.bwd_kernel);
        if (on_param_grad) on_param_grad(first.ptr, first.op == OpId::lookup || first.op == OpId::lookup_table);
      }
      continue;
    }
    for (unsigned k = 0; k < first.nargs; ++k) {
      if (!(impl.diff_mask >> (k < 31 ? k : 31) & 1u)) continue;
      const Tensor& x = grp.xs[k];
      uint32_t a0 = args(first)[k];
      if (x.d.bd == 1 && grp.proto.dim.bd > 1) {  // shared argument: the op sums over the group
        if (grads_[a0].v) {
          touch_grad(a0);
          clock.charge(g_profile.bwd_memset);
          current_target_ = a0;
          impl.backward(*this, grp.proto, grp.xs.data(), grp.y, dy, k, grads_[a0]);
          current_target_ = UINT32_MAX;
          clock.charge(g_profile.bwd_kernel);
        }
        continue;
      }
      if (grp.in_stacked_set && k == 1) continue;  // the set's last group did it for all (stacked_grad)
      to_batched_arg(impl, grp.proto, grp.xs.data(), grp.y, dy, k, margs.data() + size_t(k) * N, N);
    }
  }
  // Blocks no gradient reached read as zeros through gradient().
  for (uint32_t gi = 0; gi < groups_.size(); ++gi)
    if (!group_zeroed_[gi]) touch_grad(group_nodes_[groups_[gi].first]);
  clock.charge(g_profile.bwd_memset);
  lazy_grads_ = false;
}

void ComputationGraph::touch_grad(uint32_t j) {
  if (!lazy_grads_) return;
  const uint32_t gi = group_of_[j];
  if (group_zeroed_[gi]) return;
  group_zeroed_[gi] = 1;
  const Group& grp = groups_[gi];
  const uint32_t first = group_nodes_[grp.first];
  if (grads_[first].v) std::memset(grads_[first].v, 0, sizeof(float) * nodes[first].dim.size() * grp.count);
}

}  // namespace dg

// A graph's device memory under a budget (device/swap.h): the budgets, the
// schedule (who reads each value when), the eviction plan (swap, recompute or
// refetch; farthest next use first). The copies themselves and the
// prefetching are in swap_transfer.cc, the eviction queue in swap_queue.cc,
// where blocks lie in swap_room.cc, the autobatching executor's groups in
// swap_steps.cc, the executor's hooks in swap_hooks.cc, and how a value
// leaves (dropped, swapped) and is rebuilt in swap_evict.cc.
#include "device/swap.h"

#include <algorithm>
#include <ctime>

#include "core/error.h"
#include "device/dispatch.h"
#include "graph/graph.h"
#include "params/parameter.h"
#include "params/resident.h"

namespace dg {

namespace {
struct BudgetSetting {
  size_t bytes = 0;
  MemoryPolicy policy = MemoryPolicy::automatic;
  unsigned prefetch = 4;
  size_t resident_params = 0;  // bytes of the parameters placed there that do not stream
};
BudgetSetting budgets[kMaxDevices];
DeviceMemStats stats[kMaxDevices];
bool params_block_fault = false;  // tests: the next plan finds no room for the resident parameters
}  // namespace

// An op whose device backward reads neither its arguments' values nor its own
// (the n-ary sum: dx += dy): backward brings back only gradients for it.
bool backward_reads_values(OpId op) { return op != OpId::sum; }

namespace {
// The calling thread's CPU time: what building a schedule costs, without the
// time other processes of a loaded machine took the core meanwhile.
uint64_t thread_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

std::string mb(size_t bytes) {
  std::string s = std::to_string(bytes) + " bytes";
  if (bytes >= (size_t(1) << 20)) s += " (" + std::to_string(bytes / double(1 << 20)).substr(0, 6) + " MiB)";
  return s;
}
}  // namespace

DeviceMemStats& device_mem_stats(DeviceId id) { return stats[id]; }
void reset_device_mem_stats(DeviceId id) { stats[id] = DeviceMemStats{}; }
void fail_next_params_block() { params_block_fault = true; }

void set_device_budget(DeviceId id, size_t bytes, MemoryPolicy policy) {
  budgets[id].bytes = bytes;
  budgets[id].policy = policy;
}
size_t device_budget(DeviceId id) { return budgets[id].bytes; }
void set_device_prefetch(DeviceId id, unsigned nodes) { budgets[id].prefetch = nodes; }
unsigned device_prefetch(DeviceId id) { return budgets[id].prefetch; }
unsigned params_streaming(DeviceId id) {
  return id < kMaxDevices && id != kCpuDevice ? static_cast<unsigned>(streaming_parameters(id)) : 0;
}
size_t params_resident_bytes(DeviceId id) { return id < kMaxDevices ? budgets[id].resident_params : 0; }

bool node_streams(const Node& n) {
  if (n.op == OpId::parameter) return static_cast<const ParameterStorage*>(n.ptr)->values.streams();
  if (n.op == OpId::lookup_table || n.op == OpId::lookup)
    return static_cast<const LookupParameterStorage*>(n.ptr)->values.streams();
  return false;
}
MemoryPolicy device_policy(DeviceId id) { return budgets[id].policy; }
const char* policy_name(MemoryPolicy p) {
  return p == MemoryPolicy::swap ? "swap" : p == MemoryPolicy::recompute ? "recompute" : "auto";
}

float* plan_allocate(SwapPlan* plan, size_t n_floats) { return plan->allocate(n_floats * sizeof(float)); }
float* plan_streamed_in(SwapPlan* plan) { return plan ? plan->take_streamed() : nullptr; }
void plan_count_to_host(SwapPlan* plan, size_t bytes) { plan->count_to_host(bytes); }
void SwapPlan::count_to_host(size_t bytes) { stats[dev_].to_host_bytes += bytes; }

SwapPlan::SwapPlan(ComputationGraph& g, DeviceId dev, size_t budget, MemoryPolicy policy)
    : g_(g), dev_(dev), budget_(BlockPool::round_up(budget)), policy_(policy) {
  // The whole budget is reserved at once, as GeePS reserves its GPU cache: the
  // graph's memory is carved out of it and never grows past it.
  region_ = static_cast<char*>(device_allocator(dev).allocate(budget_));
  pool_.init(region_, budget_);
  account_params();
}

// Parameters placed on the device (values, gradients, trainer state) count
// against the budget: their bytes are held in the pool. When they take more
// than half of it, the largest stream (ties: the older first) until the rest
// fit in half beside the room the largest streamed one takes when its value
// and gradient come in: those live on the host, their values come in under
// the plan like the graph's own. Decided at each renew_cg; a parameter that streams
// keeps streaming while this budget holds (parameters or trainer state made
// since are counted then, and more may stream).
void SwapPlan::account_params() {
  if (params_block_) pool_.free(params_block_);
  params_block_ = nullptr;
  params_bytes_ = 0;
  std::vector<PlacedParameter> placed = placed_parameters(dev_);  // in creation order
  size_t total = 0;
  for (const PlacedParameter& p : placed) total += p.bytes;
  if (total + comes_in_ > budget_ / 2) {
    std::stable_sort(placed.begin(), placed.end(),
                     [](const PlacedParameter& a, const PlacedParameter& b) { return a.bytes > b.bytes; });
    std::vector<const void*> out;
    for (const PlacedParameter& p : placed) {
      if (total + comes_in_ <= budget_ / 2) break;
      out.push_back(p.owner);
      total -= p.bytes;
      comes_in_ = std::max(comes_in_, p.bytes);
    }
    stream_parameters(dev_, out);
  }
  if (total && !params_block_fault) params_block_ = pool_.allocate_top(total);  // at the top, with the scratch: it never moves
  params_block_fault = false;
  if (total && !params_block_) {
    // No room for them in one piece (not seen: the pool is empty here): the
    // rest stream too, rather than stay on the device uncounted.
    std::vector<const void*> rest;
    for (const PlacedParameter& p : placed_parameters(dev_)) {
      rest.push_back(p.owner);
      comes_in_ = std::max(comes_in_, p.bytes);
    }
    stream_parameters(dev_, rest);
    total = 0;
  }
  params_bytes_ = total;
  budgets[dev_].resident_params = params_bytes_;
  DeviceMemStats& st = stats[dev_];
  st.peak_bytes = std::max<uint64_t>(st.peak_bytes, pool_.in_use());
}

SwapPlan::~SwapPlan() {
  drain();
  release_reserved();
  stop_streaming(dev_);
  budgets[dev_].resident_params = 0;
  device_allocator(dev_).deallocate(region_, budget_);
}

const DeviceOpTable& SwapPlan::ops() const { return device_ops(Device::from_id(dev_).kind); }

// Once per graph version: the users of the nodes added since the last call
// are appended (per node), or come with their steps (add_steps); only
// cg_revert() trims what it removed.
void SwapPlan::sync_schedule() {
  const uint32_t n = static_cast<uint32_t>(g_.nodes.size());
  if (n == scheduled_) return;
  const uint64_t t0 = thread_ns();
  DeviceMemStats& st = stats[dev_];
  if (n < scheduled_) {  // cg_revert() removed nodes: their memory and uses go
    drain();
    for (uint32_t i = n; i < vals_.size(); ++i) {
      if ((vals_[i].state == resident || vals_[i].state == incoming) && vals_[i].owner < 0) pool_.free(vals_[i].dev);
      if (i < grads_.size() && (grads_[i].state == resident || grads_[i].state == incoming) && grads_[i].owner < 0)
        pool_.free(grads_[i].dev);
    }
    queue_dirty_ = true;
    vals_.resize(n);
    grads_.resize(std::min<size_t>(grads_.size(), n));
    users_.resize(n);
    step_of_.resize(n);
    ++st.schedule_trims;
    if (steps_mode_) {  // the steps of removed nodes go too, and their uses
      size_t s = 0;
      while (s + 1 < step_first_.size() && step_nodes_[step_first_[s]] < n) ++s;
      step_first_.resize(s + 1);
      step_nodes_.resize(step_first_.back());
      for (auto& u : users_)
        while (!u.empty() && u.back() >= s) u.pop_back();
    } else {
      for (auto& u : users_)
        while (!u.empty() && u.back() >= n) u.pop_back();
    }
    scheduled_ = n;
  }
  vals_.resize(n);
  grads_.resize(n);
  rng_at_.resize(n);
  users_.resize(n);
  views_.resize(n);
  grad_views_.resize(n);
  grad_wanted_.resize(n);
  step_of_.resize(n, UINT32_MAX);
  const uint64_t old_span = span();
  read_.clear();
  if (!steps_mode_) {
    for (uint32_t j = scheduled_; j < n; ++j) {
      const Node& node = g_.nodes[j];
      const uint32_t* a = g_.args(node);
      for (unsigned k = 0; k < node.nargs; ++k)
        if (users_[a[k]].empty() || users_[a[k]].back() != j) {
          users_[a[k]].push_back(j);
          if (a[k] < scheduled_) read_.push_back(a[k]);
        }
    }
    st.schedule_nodes += n - std::min(n, scheduled_);
  }
  scheduled_ = n;
  if (!steps_mode_) grew(old_span, read_);
  st.schedule_ns += thread_ns() - t0;
}

void SwapPlan::add_steps(const std::vector<std::vector<uint32_t>>& steps) {
  const uint64_t t0 = thread_ns();
  steps_mode_ = true;
  sync_schedule();
  uint64_t nodes = 0;
  const uint64_t old_span = span();
  read_.clear();
  // The new steps come after every earlier one: their uses append to the lists in order.
  for (const auto& batch : steps) {
    const uint32_t s = static_cast<uint32_t>(step_first_.size() - 1);
    for (uint32_t j : batch) {
      step_of_[j] = s;
      const Node& node = g_.nodes[j];
      const uint32_t* a = g_.args(node);
      for (unsigned k = 0; k < node.nargs; ++k) {
        const uint32_t r = root(a[k]);  // a value already run in a group or a view: its block's too
        for (uint32_t x : {a[k], r})
          if (users_[x].empty() || users_[x].back() != s) {
            users_[x].push_back(s);
            if (step_of_[x] < old_span) read_.push_back(x);  // run by an earlier forward
          }
      }
    }
    step_nodes_.insert(step_nodes_.end(), batch.begin(), batch.end());
    step_first_.push_back(static_cast<uint32_t>(step_nodes_.size()));
    nodes += batch.size();
  }
  grew(old_span, read_);
  DeviceMemStats& st = stats[dev_];
  st.schedule_nodes += nodes;
  st.schedule_ns += thread_ns() - t0;
}

uint32_t SwapPlan::root(uint32_t i) const {
  while (vals_[i].owner >= 0) i = static_cast<uint32_t>(vals_[i].owner);
  return i;
}

SwapPlan::Key SwapPlan::root(Key k) const {
  if (!k.grad) return {root(k.node), false};
  while (grads_[k.node].owner >= 0) k.node = static_cast<uint32_t>(grads_[k.node].owner);
  return k;
}

// The time of k's next use after now_ (forward of node i is time i, backward
// of node j is 2N-1-j; in steps mode, of its group's step s: s and 2S-1-s);
// UINT64_MAX when nothing scheduled reads it again.
uint64_t SwapPlan::next_use(Key k) const {
  const uint64_t n = span();
  auto backward_use = [&](uint32_t i) -> uint64_t {
    const auto& u = users_[i];
    const uint64_t cur = now_ < n ? n : 2 * n - 1 - now_;  // the node backward is at (n: not started)
    auto it = std::lower_bound(u.begin(), u.end(), static_cast<uint32_t>(std::min<uint64_t>(cur, UINT32_MAX)));
    if (it != u.begin()) return 2 * n - 1 - *(it - 1);  // the last user below cur, visited next
    if (time_of(i) < cur) return 2 * n - 1 - time_of(i);  // its own backward
    return UINT64_MAX;
  };
  auto value_use = [&](uint32_t i) -> uint64_t {
    if (now_ < n) {
      const auto& u = users_[i];
      auto it = std::upper_bound(u.begin(), u.end(), static_cast<uint32_t>(now_));
      if (it != u.end()) return *it;
    }
    return backward_use(i);
  };
  if (k.grad) return backward_use(k.node);
  uint64_t t = value_use(k.node);
  if (steps_mode_) return t;  // a block's users hold its members' and views' (merge_users)
  for (uint32_t a : views_[k.node])  // the views of its block (reshapes)
    if (t > now_ + 1 && a < vals_.size() && vals_[a].owner == static_cast<int32_t>(k.node)) t = std::min(t, value_use(a));
  return t;
}

void SwapPlan::pin(Key k) {
  k = root(k);
  Slot& s = slot(k);
  ++s.pins;
  held_.push_back(k);
  if (s.queued && !s.parked) {  // a pinned key cannot leave: evictions need not step over it
    queue_.erase(QEntry{s.qt, s.qbytes, k.node, k.grad});
    s.parked = true;
  }
}

void SwapPlan::unpin(Key k) {
  Slot& s = slot(k);
  --s.pins;
  if (!s.pins && s.parked) track(k);  // back in the queue, keyed afresh
}

void SwapPlan::unpin_all() {
  for (Key k : held_) unpin(k);
  held_.clear();
}

void SwapPlan::begin(uint32_t node, bool backward) {
  sync_schedule();
  unpin_all();
  release_reserved();
  for (char* b : step_blocks_) pool_.free(b);
  step_blocks_.clear();
  const uint64_t n = span();
  const uint64_t t = time_of(node);
  if (t >= n) return;  // not in the schedule (steps mode: not run by a step)
  now_ = backward ? 2 * n - 1 - t : t;
}

void SwapPlan::need_value(uint32_t i) {
  if (vals_[i].state == unmanaged && vals_[i].owner < 0) return;
  pin({i, false});
  make_resident({i, false});
}

void SwapPlan::need_grad(uint32_t j) {
  if (!grad_wanted_[j]) return;
  const Key r = root(Key{j, true});
  Slot& s = grads_[r.node];
  pin(r);
  if (s.state == unmanaged) {  // first use: a zeroed buffer (1 for the seed)
    if (!s.grouped) s.bytes = g_.nodes[j].dim.size() * sizeof(float);
    char* p = allocate_block(s.bytes);
    ops().fill(reinterpret_cast<float*>(p), s.bytes / sizeof(float),
               !s.grouped && grad_wanted_[j] == 2 ? 1.f : 0.f);
    if (s.grouped && seed_ < grads_.size() && root(Key{seed_, true}).node == r.node)  // the seed is a member
      ops().fill(reinterpret_cast<float*>(p + (seed_ == r.node ? 0 : grads_[seed_].offset)),
                 g_.nodes[seed_].dim.size(), 1.f);
    s.dev = p;
    s.state = resident;
    g_.grads_[r.node].v = reinterpret_cast<float*>(p);
    track(r);
  } else {
    make_resident(r);
  }
  if (r.node != j) g_.grads_[j].v = reinterpret_cast<float*>(s.dev + grads_[j].offset);
}

void SwapPlan::before_forward(uint32_t i) {
  begin(i, false);
  rerun(i);
  current_ = i;
  rng_at_[i] = g_.device_memory().rng_counter;
  // Blocks of a node whose forward raised (no after_forward): freed at renew_cg.
  extra_blocks_.insert(extra_blocks_.end(), node_blocks_.begin(), node_blocks_.end());
  node_blocks_.clear();
  const Node& n = g_.nodes[i];
  const uint32_t* a = g_.args(n);
  holding([&] {
    for (unsigned k = 0; k < n.nargs; ++k) need_value(a[k]);
    if (n.device == dev_ && node_streams(n)) stream_in(i);
    else reserve(n.dim.size() * sizeof(float));
  });
}

void SwapPlan::args_resident(uint32_t i) {
  begin(i, false);
  const Node& n = g_.nodes[i];
  const uint32_t* a = g_.args(n);
  holding([&] {
    for (unsigned k = 0; k < n.nargs; ++k)
      if (g_.nodes[a[k]].device == dev_) need_value(a[k]);
  });
}

void SwapPlan::before_backward(uint32_t j, bool runs) {
  begin(j, true);
  if (!runs) return;
  const Node& n = g_.nodes[j];
  const uint32_t* a = g_.args(n);
  const bool values = backward_reads_values(n.op);
  holding([&] {
    if (n.device == dev_) {
      current_ = j;
      need_grad(j);
      if (values) need_value(j);
    }
    for (unsigned k = 0; k < n.nargs; ++k)
      if (g_.nodes[a[k]].device == dev_) {
        if (values) need_value(a[k]);
        need_grad(a[k]);
      }
  });
}

void SwapPlan::after_forward(uint32_t i) {
  untrack({i, false});
  Slot& s = vals_[i];
  const Tensor& y = g_.values_[i];
  char* p = reinterpret_cast<char*>(y.v);
  PinnedBuffer rows = std::move(s.host);  // a streamed table's lookup: its gathered rows (stream_in)
  s = Slot{};
  s.ran = true;
  s.ver = source_version(i);
  s.at = Resident::values_stamp();
  for (char* b : node_blocks_)
    if (b == p) {
      s.dev = p;
      s.bytes = y.d.size() * sizeof(float);
      s.state = resident;
      s.host = std::move(rows);
    } else {
      extra_blocks_.push_back(b);  // an op's second allocation: kept until renew_cg
    }
  node_blocks_.clear();
  release_reserved();
  if (s.state == resident && !took_streamed_ && node_streams(g_.nodes[i])) {  // the op copied it in
    DeviceMemStats& st = stats[dev_];
    st.to_device_bytes += s.bytes;
    ++st.streamed_params;
  }
  took_streamed_ = false;
  if (s.state == resident) track({i, false});
  if (s.state == resident || !p) return;
  // No block of its own: a view of an argument's memory (reshape), managed with it.
  const Node& n = g_.nodes[i];
  const uint32_t* a = g_.args(n);
  for (unsigned k = 0; k < n.nargs; ++k) {
    if (g_.nodes[a[k]].device != dev_) continue;
    const uint32_t r = root(a[k]);
    const Slot& o = vals_[r];
    if (o.state == resident && p >= o.dev && p < o.dev + std::max<size_t>(o.bytes, 1)) {
      s.owner = static_cast<int32_t>(r);
      s.offset = static_cast<size_t>(p - o.dev);
      views_[r].push_back(i);
      merge_users(i, r);
      track({r, false});  // its next use may now be the view's
      return;
    }
  }
}

// set() on an input or a lookup invalidates the graph's values: every node's
// forward runs again. The value it had goes first (its block back to the pool;
// a streamed lookup's rows are gathered again), or the new one would be kept
// beside it -- or, for a streamed node, the old one taken as the new.
void SwapPlan::rerun(uint32_t i) {
  if (vals_[i].ran) forget(i);
}

// i's value (or a first copy prefetched for it) is given up: its block back
// to the pool once its copy in is done, its host copy once its last copy is.
void SwapPlan::forget(uint32_t i) {
  Slot& s = vals_[i];
  untrack({i, false});
  if (s.owner < 0 && (s.state == resident || s.state == incoming)) {
    if (s.state == incoming) ops().wait_event(s.ev);
    pool_.free(s.dev);
  }
  if (s.host) pending_host_.emplace_back(std::move(s.host), s.ev);  // a copy out may still be writing it
  views_[i].clear();
  s = Slot{};
  g_.values_[i].v = nullptr;
}

// A forward starts at node `first`: every value from there on is dead (set()
// invalidated it, or a forward raised before reaching it) and goes now, at
// once, rather than node by node as the forward reaches it (meanwhile the
// dead values would be swapped out to make room). So do first copies
// prefetched for nodes that did not run: gathered at the lookups' old indices.
void SwapPlan::forward_from(uint32_t first) {
  sync_schedule();
  unpin_all();
  // Only slots earlier forwards reached can hold anything: scanning to the graph's
  // end made value() after every node of a graph built first cost O(n^2).
  const uint64_t this_end = uint64_t(g_.device_memory().forward_end) + 1;
  touched_end_ = std::min<size_t>(vals_.size(), std::max<uint64_t>(touched_end_, this_end));
  for (size_t i = touched_end_; i-- > first;) {
    const Slot& s = vals_[i];
    if (s.ran || s.state != unmanaged || s.host || s.dev) forget(static_cast<uint32_t>(i));
  }
}

void SwapPlan::lazy_grad(uint32_t j, bool seed) {
  sync_schedule();
  grad_wanted_[j] = seed ? 2 : 1;
}

void SwapPlan::resident_value(uint32_t i) {
  sync_schedule();
  make_resident({i, false});
}

char* SwapPlan::allocate_block(size_t bytes) {
  for (;;) {
    if (char* p = pool_.allocate(bytes)) {
      DeviceMemStats& st = stats[dev_];
      st.peak_bytes = std::max<uint64_t>(st.peak_bytes, pool_.in_use());
      return p;
    }
    // Blocks whose copy-out is done first, then the oldest still copying, then evict more.
    if (reclaim() || wait_oldest_free()) continue;
    if (evict_one()) continue;
    if (holding_ == 1 && pool_.in_use() + BlockPool::round_up(bytes) <= pool_.capacity()) throw Scattered{};
    out_of_memory(bytes);
  }
}

float* SwapPlan::allocate(size_t bytes) {
  release_reserved();  // the op's value: it takes the room kept for it
  char* p = allocate_block(bytes);
  node_blocks_.push_back(p);
  return reinterpret_cast<float*>(p);
}

size_t SwapPlan::largest_free() const { return pool_.largest_free(); }

void SwapPlan::out_of_memory(size_t bytes) const {
  size_t held = 0;
  for (uint32_t i = 0; i < vals_.size(); ++i) {
    if (vals_[i].state == resident && vals_[i].pins) held += pool_.size_of(vals_[i].dev);
    if (grads_[i].state == resident && grads_[i].pins) held += pool_.size_of(grads_[i].dev);
  }
  size_t kept = 0, step = 0;
  for (const char* b : extra_blocks_) kept += pool_.size_of(b);
  for (const char* b : node_blocks_) kept += pool_.size_of(b);
  for (const char* b : step_blocks_) step += pool_.size_of(b);
  std::string node;
  if (current_ < g_.nodes.size())
    node = " for node " + std::to_string(current_) + " (" + op_impl(g_.nodes[current_].op).name + ", shape " +
           g_.nodes[current_].dim.str() + ")";
  throw OutOfMemory("device memory budget of " + Device::from_id(dev_).name() + " exceeded: " + mb(bytes) +
                    " needed" + node + ", but the budget is " + mb(budget_) + ", of which " + mb(pool_.in_use()) +
                    " is in use (" + mb(held) + " held by the values and gradients this node needs at once, " +
                    mb(params_bytes_) + " by the parameters resident on the device, " + mb(scratch_bytes_) +
                    " by ops' scratch and " + mb(kept) + " by their second outputs, both kept until renew_cg, " +
                    mb(step) + " by the running group's gathered arguments); the largest free block is " +
                    mb(pool_.largest_free()) + ". Raise device_mem in dynagraph.init(), or make the graph smaller");
}

void SwapPlan::reset_grads() {
  drain();
  unpin_all();
  for (Slot& s : grads_)
    if ((s.state == resident || s.state == incoming) && s.owner < 0) pool_.free(s.dev);
  seed_ = UINT32_MAX;
  queue_dirty_ = true;
  for (auto& v : grad_views_) v.clear();
  const size_t n = grads_.size();
  grads_.clear();
  grads_.resize(n);
  std::fill(grad_wanted_.begin(), grad_wanted_.end(), 0);
}

void SwapPlan::reset() {
  drain();
  unpin_all();
  release_reserved();
  if (spare_) free_scratch(spare_);
  spare_ = nullptr;
  for (uint32_t i = 0; i < vals_.size(); ++i) {
    if ((vals_[i].state == resident || vals_[i].state == incoming) && vals_[i].owner < 0) pool_.free(vals_[i].dev);
    if ((grads_[i].state == resident || grads_[i].state == incoming) && grads_[i].owner < 0) pool_.free(grads_[i].dev);
  }
  for (char* b : extra_blocks_) pool_.free(b);
  for (char* b : node_blocks_) pool_.free(b);
  extra_blocks_.clear();
  node_blocks_.clear();
  vals_.clear();
  grads_.clear();
  touched_end_ = 0;
  rng_at_.clear();
  users_.clear();
  views_.clear();
  grad_views_.clear();
  queue_dirty_ = true;
  queue_.clear();
  expiry_.clear();
  block_key_.clear();
  movable_bytes_ = 0;
  grad_wanted_.clear();
  steps_mode_ = false;
  step_of_.clear();
  step_first_.assign(1, 0);
  step_nodes_.clear();
  seed_ = UINT32_MAX;
  took_streamed_ = evicted_ = false;
  scheduled_ = 0;
  now_ = 0;
  current_ = UINT32_MAX;
  account_params();
}

}  // namespace dg

// The copy-stream side of a SwapPlan (device/swap.h): bringing values and
// gradients back to the device -- on demand, or prefetched a few steps ahead
// of their use -- and reusing blocks and host copies once their copies are
// done. Which value leaves, and when, is decided in swap.cc (the schedule and
// the eviction plan); this file only moves bytes and keeps the events straight.
#include <algorithm>
#include <utility>

#include "device/dispatch.h"
#include "device/swap.h"
#include "graph/graph.h"
#include "params/parameter.h"

namespace dg {

Tensor SwapPlan::gradient_view(uint32_t j, const Tensor& t) const {
  if (j >= grads_.size() || !grad_wanted_[j]) return t;
  const Key r = root(Key{j, true});
  const Slot& s = grads_[r.node];
  const size_t offset = r.node == j ? 0 : grads_[j].offset;  // a member of a group's block
  Tensor h = t;
  if (s.state == resident) {
    h.v = reinterpret_cast<float*>(s.dev + offset);
    return h;
  }
  h.device = kCpuDevice;
  if (s.state == on_host) {
    ops().host_wait(s.ev);  // its copy-out may still be in flight
    h.v = reinterpret_cast<float*>(static_cast<char*>(s.host.data()) + offset);
    return h;
  }
  // Wanted but never reached by backward: zeros (kept on the host).
  zeros_.assign(t.d.size(), grad_wanted_[j] == 2 ? 1.f : 0.f);
  h.v = zeros_.data();
  return h;
}

void SwapPlan::make_resident(Key k) {
  const Key r = root(k);
  if (r.node != k.node) {  // a view of another block (a reshape, a group's member)
    make_resident(r);
    const Slot& o = slot(r);
    if (o.dev)
      (k.grad ? g_.grads_ : g_.values_)[k.node].v = reinterpret_cast<float*>(o.dev + slot(k).offset);
    return;
  }
  Slot& s = slot(k);
  if (!k.grad && (s.state == resident || s.state == incoming) && stale(k.node)) drop_stale(k);  // read afresh
  if (s.state == resident || s.state == unmanaged) return;
  if (s.state == incoming) return arrive(k, true);
  if (s.state == dropped) return recompute(k.node);
  // on_host, not prefetched: read back now, through the copy stream (after a copy-out still in flight).
  char* p = allocate_block(s.bytes);
  s.ev = last_ev_ = ops().copy_async(p, s.host.data(), s.bytes, true);
  ops().wait_event(s.ev);
  DeviceMemStats& st = device_mem_stats(dev_);
  st.to_device_bytes += s.bytes;
  ++st.swaps_in;
  ++st.demand_fetches;
  s.dev = p;
  s.state = resident;
  if (k.grad) pending_host_.emplace_back(std::move(s.host), s.ev);  // it changes from here on
  (k.grad ? g_.grads_ : g_.values_)[k.node].v = reinterpret_cast<float*>(p);
  track(k);
}

// An incoming copy is needed (count: by the compute, a hit or a stall) or must
// complete to be moved: the compute waits for its event.
void SwapPlan::arrive(Key k, bool count) {
  Slot& s = slot(k);
  DeviceMemStats& st = device_mem_stats(dev_);
  if (count) ++(ops().event_done(s.ev) ? st.prefetch_hits : st.prefetch_stalls);
  ops().wait_event(s.ev);
  s.state = resident;
  if (s.refetched) ++st.refetches;
  else if (!s.first_in) ++st.swaps_in;  // (a streamed parameter's copy was counted when it was issued)
  s.refetched = s.first_in = false;
  if (k.grad) pending_host_.emplace_back(std::move(s.host), s.ev);
  (k.grad ? g_.grads_ : g_.values_)[k.node].v = reinterpret_cast<float*>(s.dev);
}

// A value's host source when it is a plain copy of host memory that stays put
// while the graph runs: an input's data, a streamed parameter's values (pinned),
// a lookup's rows of a streamed table (gathered into a pinned buffer, again
// when the table changed before the lookup's forward: after it, the buffer is
// the lookup's value and stays).
const float* SwapPlan::host_source(uint32_t i) {
  const Node& n = g_.nodes[i];
  if (n.op == OpId::input && !n.ptr) return g_.float_data.data() + n.aux0;
  if (!node_streams(n)) return nullptr;
  if (n.op == OpId::parameter) return static_cast<ParameterStorage*>(n.ptr)->values.read();
  auto* p = static_cast<LookupParameterStorage*>(n.ptr);
  if (n.op == OpId::lookup_table) return p->values.read();
  Slot& s = vals_[i];
  if (!s.host || s.ver != p->values.version()) {
    if (!s.host) s.host = PinnedHostPool::of(dev_).acquire(n.dim.size() * sizeof(float));
    s.ver = p->values.version();
    const size_t rs = p->row_size();
    float* out = s.host.floats();
    for (unsigned b = 0; b < n.naux; ++b) {
      const float* src = p->row_read(static_cast<unsigned>(g_.int_data[n.aux0 + b]));
      std::copy(src, src + rs, out + size_t(b) * rs);
    }
  }
  return s.host.floats();
}

uint64_t SwapPlan::source_version(uint32_t i) const {
  const Node& n = g_.nodes[i];
  if (n.op == OpId::parameter) return static_cast<const ParameterStorage*>(n.ptr)->values.version();
  if (n.op == OpId::lookup_table || n.op == OpId::lookup)
    return static_cast<const LookupParameterStorage*>(n.ptr)->values.version();
  return 0;
}

// A parameter's (or whole table's) node reads the parameter as it is now, as
// the unbudgeted node that aliases the parameter's memory does: after an
// update, its copy in the graph is stale. (A lookup's value is its rows at its
// forward, as without a budget: never stale.)
bool SwapPlan::stale(uint32_t i) const {
  const Node& n = g_.nodes[i];
  if (n.op != OpId::parameter && n.op != OpId::lookup_table) return false;
  return node_streams(n) && vals_[i].ver != source_version(i);
}

// k's copy is given up (an incoming one once its copy is done): read again from the host.
void SwapPlan::drop_stale(Key k) {
  Slot& s = slot(k);
  untrack(k);
  if (s.state == incoming) ops().wait_event(s.ev);
  pool_.free(s.dev);
  s.dev = nullptr;
  s.state = dropped;
  s.refetched = s.first_in = false;
  g_.values_[k.node].v = nullptr;
  null_aliases(k);
}

// A streamed node's first copy in this graph, issued at time t's prefetch
// like any swapped value's (only into room that nothing used before t holds).
bool SwapPlan::prefetch_first(uint32_t i, uint64_t t) {
  Slot& s = vals_[i];
  if (s.state != unmanaged || s.owner >= 0 || s.dev) return true;  // ran already, or on its way
  if (i > g_.device_memory().forward_end) return true;  // not in this forward: an update may come first
  const size_t bytes = g_.nodes[i].dim.size() * sizeof(float);
  char* p = prefetch_room(bytes, t);
  if (!p) return false;
  DeviceMemStats& st = device_mem_stats(dev_);
  s.bytes = bytes;
  s.ev = last_ev_ = ops().copy_async(p, host_source(i), bytes, true);
  s.ver = source_version(i);
  s.dev = p;
  s.state = incoming;
  s.first_in = true;
  track({i, false});
  ++st.prefetches;
  ++st.param_prefetches;
  ++st.streamed_params;
  st.to_device_bytes += bytes;
  return true;
}

// The hook of a streamed node's forward: its value, prefetched (it waits for
// the copy) or, when it was not (or was moved out again, or its parameter
// changed since), copied in now through the copy stream. Its op takes the
// block (take_streamed); a lookup keeps its gathered rows (its host copy).
void SwapPlan::stream_in(uint32_t i) {
  Slot& s = vals_[i];
  const Key k{i, false};
  if ((s.state == incoming || s.state == resident) && s.ver != source_version(i)) drop_stale(k);
  if (s.state == incoming) {
    arrive(k, true);
  } else if (s.state != resident) {
    const size_t bytes = g_.nodes[i].dim.size() * sizeof(float);
    const float* src = host_source(i);
    s.ver = source_version(i);
    char* p = allocate_block(bytes);
    s.ev = last_ev_ = ops().copy_async(p, src, bytes, true);
    ops().wait_event(s.ev);
    DeviceMemStats& st = device_mem_stats(dev_);
    st.to_device_bytes += bytes;
    ++st.demand_fetches;
    ++st.streamed_params;
    s.dev = p;
    s.bytes = bytes;
  }
  untrack(k);
  streamed_in_ = s.dev;  // not in the queue: nothing moves it before its op runs
  PinnedBuffer rows = std::move(s.host);  // empty but for a lookup
  const uint64_t ver = s.ver;
  s = Slot{};
  s.host = std::move(rows);
  s.ver = ver;
}

// A group of lookups of a streamed table (the autobatching executor): the
// members' rows gathered on the host into one pinned buffer, in member order
// (as the batched op gathers them: the group's block), and copied in ahead
// like a lone lookup's first copy. The slot of the group's first member holds it.
bool SwapPlan::prefetch_group(const uint32_t* m, unsigned n, uint64_t t) {
  Slot& s = vals_[m[0]];
  if (s.state != unmanaged || s.owner >= 0 || s.dev) return true;  // ran already, or on its way
  const uint32_t end = g_.device_memory().forward_end;
  for (unsigned b = 0; b < n; ++b)
    if (m[b] > end) return true;  // not in this forward: an update may come first
  const Node& first = g_.nodes[m[0]];
  const size_t sz = first.dim.size() * sizeof(float), bytes = n * sz;
  char* p = prefetch_room(bytes, t);
  if (!p) return false;
  DeviceMemStats& st = device_mem_stats(dev_);
  const auto* table = static_cast<const LookupParameterStorage*>(first.ptr);
  const size_t rs = table->row_size();
  s.host = PinnedHostPool::of(dev_).acquire(bytes);
  float* out = s.host.floats();
  for (unsigned b = 0; b < n; ++b) {
    const Node& nd = g_.nodes[m[b]];
    for (unsigned r = 0; r < nd.naux; ++r, out += rs) {
      const float* src = table->row_read(static_cast<unsigned>(g_.int_data[nd.aux0 + r]));
      std::copy(src, src + rs, out);
    }
  }
  s.ver = source_version(m[0]);
  s.bytes = bytes;
  s.ev = last_ev_ = ops().copy_async(p, s.host.data(), bytes, true);
  s.dev = p;
  s.state = incoming;
  s.first_in = true;
  track({m[0], false});
  ++st.prefetches;
  ++st.param_prefetches;
  st.streamed_params += n;
  st.to_device_bytes += bytes;
  return true;
}

// The hook of such a group's forward: the rows prefetched (it waits for the
// copy) go to the op (take_streamed); when they were not prefetched, or were
// moved out before the group ran, or the table changed since, the op gathers
// the rows itself.
void SwapPlan::stream_in_group(const uint32_t* m, unsigned n) {
  Slot& s = vals_[m[0]];
  const Key k{m[0], false};
  // Rows prefetched for the whole group, which now runs member by member
  // (it did not fit): not this member's value. They go; each member gathers its own.
  const size_t bytes = size_t(n) * g_.nodes[m[0]].dim.size() * sizeof(float);
  if (s.state == incoming || s.state == resident) {
    if (s.ver != source_version(m[0]) || s.bytes != bytes) drop_stale(k);
    else if (s.state == incoming) arrive(k, true);
  }
  untrack(k);
  if (s.state != resident) {
    forget(m[0]);
    return;
  }
  streamed_in_ = s.dev;
  PinnedBuffer rows = std::move(s.host);
  const uint64_t ver = s.ver;
  s = Slot{};
  s.host = std::move(rows);
  s.ver = ver;
}

float* SwapPlan::take_streamed() {
  char* p = streamed_in_;
  streamed_in_ = nullptr;
  if (!p) return nullptr;
  node_blocks_.push_back(p);
  took_streamed_ = true;
  return reinterpret_cast<float*>(p);
}

// Room for a prefetch of `bytes`, made without moving anything used before t
// (peak in use recorded). Null: there is none.
char* SwapPlan::prefetch_room(size_t bytes, uint64_t t) {
  for (;;) {
    if (char* p = pool_.allocate(bytes)) {
      DeviceMemStats& st = device_mem_stats(dev_);
      st.peak_bytes = std::max<uint64_t>(st.peak_bytes, pool_.in_use());
      return p;
    }
    if (reclaim()) continue;
    if (!evict_one(t, true)) return nullptr;
  }
}

// Brings k (used at time t) towards the device on the copy stream, when
// there is room without moving anything used before t. False: no room.
bool SwapPlan::prefetch(Key k, uint64_t t) {
  k = root(k);
  Slot& s = slot(k);
  const void* src = nullptr;
  if (s.state == on_host) src = s.host.data();
  else if (s.state == dropped && !k.grad && rebuilds_same(k.node)) src = host_source(k.node);
  if (!src) return true;  // resident, in flight, or recomputed when needed
  char* p = prefetch_room(s.bytes, t);
  if (!p) return false;
  DeviceMemStats& st = device_mem_stats(dev_);
  s.refetched = s.state == dropped;
  if (s.refetched && !k.grad && node_streams(g_.nodes[k.node])) {
    s.ver = source_version(k.node);
    ++st.streamed_params;
  }
  s.ev = last_ev_ = ops().copy_async(p, src, s.bytes, true);
  s.dev = p;
  s.state = incoming;
  track(k);
  ++st.prefetches;
  st.to_device_bytes += s.bytes;
  return true;
}

// The operands of the next K nodes (steps mode: of the next K groups' members).
void SwapPlan::prefetch_ahead() {
  const unsigned k = device_prefetch(dev_);
  if (k == 0) return;
  reclaim();
  const uint64_t n = span();
  if (n == 0) return;
  const uint64_t end = std::min<uint64_t>(now_ + k, 2 * n - 1);
  for (uint64_t t = now_ + 1; t <= end; ++t) {
    const bool backward = t >= n;
    const uint64_t at = backward ? 2 * n - 1 - t : t;
    const uint32_t* first = steps_mode_ ? step_nodes_.data() + step_first_[at] : nullptr;
    const uint32_t count = steps_mode_ ? step_first_[at + 1] - step_first_[at] : 1;
    for (uint32_t m = 0; m < count; ++m) {
      const uint32_t node = steps_mode_ ? first[m] : static_cast<uint32_t>(at);
      const Node& nd = g_.nodes[node];
      // A streamed parameter's value, ahead of its node; a group of lookups' rows, ahead of the group.
      if (!backward && count == 1 && nd.device == dev_ && node_streams(nd) && !prefetch_first(node, t)) return;
      if (!backward && count > 1 && m == 0 && nd.device == dev_ && nd.op == OpId::lookup && node_streams(nd) &&
          !prefetch_group(first, count, t))
        return;
      // A lone sum's backward reads gradients only (a group's re-gathers its arguments' values).
      const bool values = !backward || count > 1 || backward_reads_values(nd.op);
      if (backward) {
        if (nd.device == dev_ && !wants_grad(node)) continue;  // backward does nothing there
        if (nd.device == dev_ && (!prefetch({node, true}, t) || (values && !prefetch({node, false}, t)))) return;
      }
      const uint32_t* a = g_.args(nd);
      for (unsigned q = 0; q < nd.nargs; ++q) {
        if (g_.nodes[a[q]].device != dev_) continue;
        if (values && !prefetch({a[q], false}, t)) return;
        if (backward && wants_grad(a[q]) && !prefetch({a[q], true}, t)) return;
      }
    }
  }
}

// Host copies read back are given back once their copies are done. A block
// copied out returns to the pool only when an allocation needs room, oldest
// first (wait_oldest_free): freeing whichever copies happen to be done would
// make where blocks go -- and whether a tight budget fits -- depend on the copy
// stream's timing. This way the pool's history is the same in every run.
bool SwapPlan::reclaim() {
  size_t w = 0;
  for (auto& h : pending_host_) {
    if (ops().event_done(h.second)) h.first.reset();
    else pending_host_[w++] = std::move(h);
  }
  pending_host_.resize(w);
  return false;
}

bool SwapPlan::wait_oldest_free() {
  if (pending_free_.empty()) return false;
  const uint64_t ev = pending_free_.front().second;
  if (!ops().event_done(ev)) {
    ++device_mem_stats(dev_).freed_after_wait;
    ops().wait_event(ev);
  }
  pool_.free(pending_free_.front().first);
  pending_free_.pop_front();
  return true;
}

void SwapPlan::drain() {
  if (last_ev_) ops().host_wait(last_ev_);
  reclaim();
  for (auto& f : pending_free_) pool_.free(f.first);  // every copy is done
  pending_free_.clear();
  for (char* b : step_blocks_) pool_.free(b);  // forward() or backward() returned: its last step is over
  step_blocks_.clear();
}

}  // namespace dg

// The eviction queue of a SwapPlan (device/swap.h): which value or gradient
// leaves when room is needed, found without scanning the graph. The keys that
// may leave are kept ordered by their next use (farthest first); a key's next
// use changes only when time reaches it, so each is re-keyed then (once per use
// it passes), and the cost per node stays flat however large the graph is.
// What leaving means (swap, recompute, refetch) is swap.cc.
#include <algorithm>

#include "device/swap.h"
#include "graph/graph.h"

namespace dg {

namespace {
struct Later {
  template <class E>
  bool operator()(const E& a, const E& b) const { return a.first > b.first; }
};
}  // namespace

void SwapPlan::untrack(Key k) {
  Slot& s = slot(k);
  if (!s.queued) return;
  if (!s.parked) queue_.erase(QEntry{s.qt, s.qbytes, k.node, k.grad});
  s.parked = false;
  block_key_.erase(s.qdev);
  movable_bytes_ -= s.qbytes;
  s.queued = false;
}

void SwapPlan::track(Key k) {
  untrack(k);
  Slot& s = slot(k);
  if ((s.state != resident && s.state != incoming) || s.owner >= 0) return;
  if (queue_dirty_ || span() != queue_span_ || now_ < queue_now_) return;  // the rebuild queues it
  ++device_mem_stats(dev_).plan_visits;
  s.queued = true;
  s.qt = qtime(next_use(k));
  s.qbytes = s.bytes;
  s.qdev = s.dev;
  block_key_[s.qdev] = k;
  movable_bytes_ += s.qbytes;
  s.parked = s.pins > 0;  // queued when its pins end
  if (s.parked) return;
  queue_.insert(QEntry{s.qt, s.qbytes, k.node, k.grad});
  if (s.qt != UINT64_MAX) {
    expiry_.push_back({s.qt, k});
    std::push_heap(expiry_.begin(), expiry_.end(), Later{});
  }
}

// Once per schedule (a forward() that added nodes or steps, a new backward
// pass, cg_revert): every slot is looked at once.
void SwapPlan::rebuild_queue() {
  queue_.clear();
  expiry_.clear();
  block_key_.clear();
  movable_bytes_ = 0;
  queue_dirty_ = false;
  queue_span_ = span();
  queue_now_ = now_;
  for (Slot& s : vals_) s.queued = s.parked = false;
  for (Slot& s : grads_) s.queued = s.parked = false;
  for (uint32_t i = 0; i < vals_.size(); ++i) {
    if (i < grads_.size()) track({i, true});
    track({i, false});
  }
  device_mem_stats(dev_).plan_visits += vals_.size();
}

// The schedule grew by nodes appended in forward (old_span: before them): the
// keys of what they read (and the gradients of it) get new uses; every other
// key's queue time stands (qtime). Else (keyed in backward, or not keyed at
// all) the next refresh rebuilds.
void SwapPlan::grew(uint64_t old_span, const std::vector<uint32_t>& read) {
  if (queue_dirty_ || queue_span_ != old_span || now_ >= old_span || queue_now_ >= old_span) return;
  queue_span_ = span();
  for (uint32_t a : read) {
    if (a >= vals_.size()) continue;
    const Key v = root(Key{a, false});
    if (slot(v).queued) track(v);
    const Key g = root(Key{a, true});
    if (slot(g).queued) track(g);
  }
}

void SwapPlan::refresh_queue() {
  if (queue_dirty_ || span() != queue_span_ || now_ < queue_now_) return rebuild_queue();
  queue_now_ = now_;
  const uint64_t now = qtime(now_);
  while (!expiry_.empty() && expiry_.front().first <= now) {
    std::pop_heap(expiry_.begin(), expiry_.end(), Later{});
    const auto [t, k] = expiry_.back();
    expiry_.pop_back();
    const Slot& s = slot(k);
    if (s.queued && !s.parked && s.qt == t) track(k);  // else an older entry of a key re-keyed since
  }
}

// The resident value or gradient used farthest ahead leaves; for a prefetch
// only one used after `after` (the prefetched one's use), and never one in flight.
bool SwapPlan::evict_one(uint64_t after, bool for_prefetch) {
  refresh_queue();
  DeviceMemStats& st = device_mem_stats(dev_);
  const uint64_t limit = qtime(after);
  for (const QEntry& e : queue_) {
    ++st.plan_visits;
    if (e.t <= limit) break;
    const Key k{e.node, e.grad};
    const Slot& s = slot(k);
    if (s.pins || (for_prefetch && s.state == incoming)) continue;
    evict(k);
    return true;
  }
  return false;
}

}  // namespace dg

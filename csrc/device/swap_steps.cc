// The autobatching executor's side of a SwapPlan (device/swap.h): a group's
// output is one block of the plan -- one slot, its members views of it at
// their offsets -- and so is its gradient block; the users of a member or a
// view join those of the block it lives in. The schedule of steps itself is
// add_steps in swap.cc; whether a group fits is swap_room.cc.
#include <algorithm>
#include <iterator>
#include <vector>

#include "device/dispatch.h"
#include "device/swap.h"
#include "graph/graph.h"
#include "params/parameter.h"
#include "params/resident.h"

namespace dg {

// A member's or a view's users join those of the block it lives in.
void SwapPlan::merge_users(uint32_t from, uint32_t into) {
  if (!steps_mode_ || from == into || users_[from].empty()) return;
  std::vector<uint32_t> m;
  m.reserve(users_[from].size() + users_[into].size());
  std::set_union(users_[from].begin(), users_[from].end(), users_[into].begin(), users_[into].end(),
                 std::back_inserter(m));
  users_[into].swap(m);
}

// A group's members at once: one sort, not a merge per member (quadratic in the group's size).
void SwapPlan::merge_users(const uint32_t* members, unsigned n, uint32_t into) {
  if (!steps_mode_) return;
  std::vector<uint32_t> m = users_[into];
  for (unsigned b = 0; b < n; ++b)
    if (members[b] != into) m.insert(m.end(), users_[members[b]].begin(), users_[members[b]].end());
  if (m.size() == users_[into].size()) return;
  std::sort(m.begin(), m.end());
  m.erase(std::unique(m.begin(), m.end()), m.end());
  users_[into].swap(m);
}

void SwapPlan::after_group(const uint32_t* m, unsigned n, const Tensor& y) {
  release_reserved();
  char* p = reinterpret_cast<char*>(y.v);
  const size_t sz = g_.nodes[m[0]].dim.size() * sizeof(float);
  bool own = false;
  for (char* b : node_blocks_) {
    if (b == p) own = true;
    else extra_blocks_.push_back(b);  // an op's second allocation: kept until renew_cg
  }
  node_blocks_.clear();
  // An op whose output is its gathered argument itself (a reshape): the step's block becomes the group's.
  for (size_t b = 0; b < step_blocks_.size() && !own; ++b)
    if (step_blocks_[b] == p) {
      own = true;
      step_blocks_.erase(step_blocks_.begin() + static_cast<std::ptrdiff_t>(b));
    }
  const bool took = took_streamed_;
  took_streamed_ = false;
  uint32_t r = m[0];
  size_t base = 0;
  for (unsigned b = 0; b < n; ++b) untrack({m[b], false});
  if (own) {
    PinnedBuffer rows = std::move(vals_[r].host);  // a group of lookups' prefetched rows (stream_in_group)
    vals_[r] = Slot{};
    vals_[r].dev = p;
    vals_[r].bytes = n * sz;
    vals_[r].state = resident;
    vals_[r].grouped = n > 1;
    vals_[r].ran = true;
    vals_[r].at = Resident::values_stamp();
    if (node_streams(g_.nodes[r])) {
      vals_[r].ver = source_version(r);
      if (took) {  // the rows stay on the host as the block's copy: moved out, nothing is copied
        vals_[r].host = std::move(rows);
      } else {  // the op gathered and copied the rows
        device_mem_stats(dev_).to_device_bytes += n * sz;
        device_mem_stats(dev_).streamed_params += n;
      }
    }
  } else {  // the op's output is a view of an argument's block
    const Node& first = g_.nodes[m[0]];
    bool found = false;
    for (unsigned k = 0; k < first.nargs && !found && p; ++k) {
      const Slot& o = vals_[r = root(g_.args(first)[k])];
      found = o.state == resident && p >= o.dev && p < o.dev + std::max<size_t>(o.bytes, 1);
      if (found) base = static_cast<size_t>(p - o.dev);
    }
    if (!found) {
      for (unsigned b = 0; b < n; ++b) {
        vals_[m[b]] = Slot{};
        vals_[m[b]].ran = true;
      }
      return;
    }
  }
  for (unsigned b = 0; b < n; ++b) {
    if (m[b] == r) continue;
    vals_[m[b]] = Slot{};
    vals_[m[b]].ran = true;
    vals_[m[b]].at = Resident::values_stamp();
    vals_[m[b]].owner = static_cast<int32_t>(r);
    vals_[m[b]].offset = base + b * sz;
    views_[r].push_back(m[b]);
  }
  merge_users(m, n, r);
  track({r, false});
}

void SwapPlan::group_grads(const uint32_t* m, unsigned n, uint32_t seed) {
  sync_schedule();
  seed_ = seed;
  const size_t sz = g_.nodes[m[0]].dim.size() * sizeof(float);
  for (unsigned b = 0; b < n; ++b) untrack({m[b], true});
  Slot& r = grads_[m[0]];
  r = Slot{};
  r.bytes = n * sz;
  r.grouped = true;
  for (unsigned b = 0; b < n; ++b) {
    grad_wanted_[m[b]] = m[b] == seed ? 2 : 1;
    if (b == 0) continue;
    grads_[m[b]] = Slot{};
    grads_[m[b]].owner = static_cast<int32_t>(m[0]);
    grads_[m[b]].offset = b * sz;
    grad_views_[m[0]].push_back(m[b]);
  }
}

void SwapPlan::split_group_grads(const uint32_t* m, unsigned n, uint32_t seed) {
  sync_schedule();
  for (unsigned b = 0; b < n; ++b) {
    untrack({m[b], true});
    grads_[m[b]] = Slot{};
    grad_wanted_[m[b]] = m[b] == seed ? 2 : 1;
  }
  ++device_mem_stats(dev_).groups_unbatched;
}

void SwapPlan::before_group(const uint32_t* m, unsigned n, bool backward) {
  begin(m[0], backward);
  current_ = m[0];
  if (!backward) {  // blocks of a group whose forward raised: freed at renew_cg
    extra_blocks_.insert(extra_blocks_.end(), node_blocks_.begin(), node_blocks_.end());
    node_blocks_.clear();
    for (unsigned b = n; b-- > 0;) rerun(m[b]);  // the members (views) before the block's owner
  }
  holding([&] {
    for (unsigned b = 0; b < n; ++b) {
      const Node& node = g_.nodes[m[b]];
      const uint32_t* a = g_.args(node);
      if (backward) {
        need_grad(m[b]);
        need_value(m[b]);
      }
      for (unsigned k = 0; k < node.nargs; ++k) {
        if (g_.nodes[a[k]].device != dev_) continue;
        need_value(a[k]);
        if (backward) need_grad(a[k]);
      }
    }
    if (backward) return;
    const Node& first = g_.nodes[m[0]];
    if (!streamed_in_ && first.device == dev_ && first.op == OpId::lookup && node_streams(first))
      stream_in_group(m, n);  // its rows, prefetched
    if (!streamed_in_) reserve(size_t(n) * first.dim.size() * sizeof(float));
  });
  prefetch_ahead();
}

float* SwapPlan::step_floats(size_t n) {
  char* p = allocate_block(std::max<size_t>(n, 1) * sizeof(float));
  step_blocks_.push_back(p);
  return reinterpret_cast<float*>(p);
}

}  // namespace dg

// Where a SwapPlan's blocks lie in its pool (device/swap.h): scratch gathered
// at the top end, apart from the values and gradients that come and go below;
// a hook's operands gathered again side by side when they fit only scattered;
// room for the running node's value kept through the prefetches; and whether
// an autobatching group's working set fits. What leaves and when is swap.cc;
// the copies are swap_transfer.cc.
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "device/swap.h"
#include "graph/graph.h"

namespace dg {

// A hook's holds (need_value, need_grad, reserve) are made by `holds`. When an
// allocation then finds enough free memory in total but in no single piece
// (the node's operands and the blocks nothing may move scattered over the
// pool), every block that may move leaves -- the node's own operands too --
// and the holds are made again: they then lie side by side. Only what still
// does not fit is the MemoryError.
void SwapPlan::holding(const std::function<void()>& holds) {
  keep_spare();
  holding_ = 1;
  try {
    holds();
  } catch (const Scattered&) {
    unpin_all();
    release_reserved();
    refresh_queue();
    std::vector<Key> out;  // in node order, a gradient before its value
    for (const QEntry& e : queue_)
      if (!slot({e.node, e.grad}).pins) out.push_back({e.node, e.grad});
    std::sort(out.begin(), out.end(), [](Key a, Key b) { return a.node != b.node ? a.node < b.node : a.grad > b.grad; });
    for (const Key k : out) evict(k);
    while (reclaim() || wait_oldest_free()) {
    }
    ++device_mem_stats(dev_).regathers;
    holding_ = 2;
    try {
      holds();
    } catch (...) {
      holding_ = 0;
      throw;
    }
  } catch (...) {
    holding_ = 0;
    throw;
  }
  holding_ = 0;
}

// Room for a value the running node's op is about to allocate, taken while the
// operands may still be rearranged (holding) and kept through the prefetches;
// allocate() gives it back just before the op's first allocation, which then
// finds it (best fit). An op whose value is a view of its argument (a reshape)
// allocates nothing: when there is no room at all, no room is kept (the op's
// own allocation, if any, then raises the error).
void SwapPlan::reserve(size_t bytes) {
  release_reserved();
  if (!bytes) return;
  try {
    reserved_ = allocate_block(bytes);
  } catch (const OutOfMemory&) {
    reserved_ = nullptr;
  }
}

void SwapPlan::release_reserved() {
  if (reserved_) pool_.free(reserved_);
  reserved_ = nullptr;
  if (streamed_in_) pool_.free(streamed_in_);  // a streamed value its op did not take (a retried hook)
  streamed_in_ = nullptr;
}


// The group's working set -- its members' distinct arguments, their gathered
// copies, the output, and the gradients of all of them (a group batched in
// forward needs its whole block in backward, even split) -- must fit in what
// cannot be moved out now (parameters, scratch, blocks ops keep) leaves, less
// a scratch chunk. Arguments that lie side by side in order in one block are
// read in place: no copy is counted for them. In forward, once something has
// had to leave the device in this graph (the budget binds), in half of the
// room instead: the gathered copies are taken after the operands are held,
// where blocks of mixed sizes may not fit side by side. (The half rule from
// the start, and copies counted for arguments in place, split the largest
// groups at 100 % of the peak.) In backward it is decided when backward
// begins: a group split there gives each member's gradient a block of its
// own, and its users then hold more blocks. Else its nodes run one by one.
bool SwapPlan::group_fits(const uint32_t* m, unsigned n, bool backward) {
  // Counted in pool blocks: the distinct blocks the members' arguments live in
  // (a group's block, or a small value's own, rounded up), the output and the
  // gathered copies -- twice: values and gradients.
  auto block = [](size_t floats) { return BlockPool::round_up(floats * sizeof(float)); };
  const Node& first = g_.nodes[m[0]];
  size_t bytes = block(size_t(n) * first.dim.size());
  std::vector<uint32_t> roots;
  // The offset of a value in the block it lives in (a group's member, a view).
  auto offset = [&](uint32_t a) { return vals_[a].owner >= 0 ? vals_[a].offset : size_t(0); };
  for (unsigned k = 0; k < first.nargs; ++k) {
    const uint32_t a0 = g_.args(first)[k];
    const bool here = g_.nodes[a0].device == dev_;
    const uint32_t r0 = here ? root(a0) : UINT32_MAX;
    const size_t sz = g_.nodes[a0].dim.size() * sizeof(float), off0 = here ? offset(a0) : 0;
    bool shared = true, in_place = here;
    for (unsigned b = 0; b < n; ++b) {
      const uint32_t a = g_.args(g_.nodes[m[b]])[k];
      shared = shared && a == a0;
      const uint32_t r = g_.nodes[a].device == dev_ ? root(a) : UINT32_MAX;
      in_place = in_place && r == r0 && offset(a) == off0 + b * sz;  // the members' arguments side by side, in order
      roots.push_back(r);
    }
    if (!shared && !in_place) bytes += block(size_t(n) * g_.nodes[a0].dim.size());  // gathered
  }
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  for (uint32_t r : roots)
    if (r != UINT32_MAX) bytes += std::max(vals_[r].bytes ? BlockPool::round_up(vals_[r].bytes) : 0, block(g_.nodes[r].dim.size()));
  bytes *= 2;
  refresh_queue();  // its keys are the values and gradients that may move out
  device_mem_stats(dev_).plan_visits += roots.size() + 1;
  const size_t movable = movable_bytes_;
  const size_t fixed = pool_.in_use() - std::min(pool_.in_use(), movable);
  const size_t room = budget_ - std::min(budget_, fixed);
  // While nothing has had to leave in this graph (the budget has not bound yet)
  // a forward group is held to backward's test; after that, to the half rule.
  return backward || !evicted_ ? bytes + scratch_chunk() <= room : bytes <= room / 2;
}


// Scratch chunks stay until renew_cg and never move: taken from the top end of
// the pool they gather there, and the values and gradients (best fit, low
// first) move in one stretch of free memory below them instead of around
// them. When the free block under the scratch is too small, the movable
// blocks right under it leave first, so it stays in one piece; an op asks for
// a chunk while its operands are held (they may lie right there), so each hook
// takes the next chunk ahead (keep_spare), before it holds anything.
char* SwapPlan::allocate_scratch(size_t bytes) {
  if (spare_ && BlockPool::round_up(bytes) <= pool_.size_of(spare_)) {
    char* p = spare_;
    spare_ = nullptr;
    return p;
  }
  return scratch_block(bytes, true);
}

void SwapPlan::keep_spare() {
  if (!spare_) spare_ = scratch_block(scratch_chunk(), false);
}

// must = false: nullptr when nothing may leave for it (nothing is thrown).
char* SwapPlan::scratch_block(size_t bytes, bool must) {
  for (;;) {
    if (char* p = pool_.allocate_top(bytes)) {
      if (scratch_floor_ && p + pool_.size_of(p) < scratch_floor_ && evict_below_scratch(bytes)) {
        pool_.free(p);  // apart from the rest: room is made right under it instead
        continue;
      }
      scratch_bytes_ += pool_.size_of(p);
      if (!scratch_floor_ || p < scratch_floor_) scratch_floor_ = p;
      DeviceMemStats& st = device_mem_stats(dev_);
      st.peak_bytes = std::max<uint64_t>(st.peak_bytes, pool_.in_use());
      return p;
    }
    if (reclaim() || wait_oldest_free() || evict_below_scratch(bytes)) continue;
    if (!must) return nullptr;
    if (!evict_one()) out_of_memory(bytes);
  }
}

void SwapPlan::free_scratch(void* p) {
  scratch_bytes_ -= std::min(scratch_bytes_, pool_.size_of(static_cast<char*>(p)));
  pool_.free(static_cast<char*>(p));
  if (!scratch_bytes_) scratch_floor_ = nullptr;
}

// The managed block starting at p (a value's or a gradient's, not a view).
SwapPlan::Key SwapPlan::slot_at(const char* p, bool* found) {
  refresh_queue();
  const auto it = block_key_.find(p);
  *found = it != block_key_.end();
  return *found ? it->second : Key{0, false};
}

// Frees the block right under the scratch when it is a value or gradient that may leave.
bool SwapPlan::evict_below_scratch(size_t bytes) {
  if (!scratch_floor_) return false;
  char* b = pool_.allocated_below(scratch_floor_);
  if (!b) return false;
  // Already free room between it and the scratch, too small: this block must go for it to grow.
  if (static_cast<size_t>(scratch_floor_ - b) - pool_.size_of(b) >= BlockPool::round_up(bytes)) return false;
  bool found = false;
  const Key k = slot_at(b, &found);
  if (!found || slot(k).pins) return false;
  evict(k);
  while (pool_.size_of(b) && (reclaim() || wait_oldest_free())) {  // its copy-out done: the block is free
  }
  return true;
}

}  // namespace dg

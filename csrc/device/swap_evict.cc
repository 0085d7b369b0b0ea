// How a value or gradient leaves the device under a SwapPlan (device/swap.h)
// and how a dropped value is rebuilt: dropped when it can be computed again
// exactly (an element-wise op from its arguments, a leaf read again from its
// host source), else copied to pinned host memory; and whether a rebuild
// would still give the value it had once update() has changed parameters in
// the same graph (rebuilds_same). Which value leaves is decided in swap.cc.
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "device/dispatch.h"
#include "device/swap.h"
#include "graph/graph.h"
#include "params/parameter.h"
#include "params/resident.h"

namespace dg {

namespace {
// Element-wise ops (the arith and elementwise families): one pass over their
// arguments, no scratch, no RNG -- recomputing them costs about what reading
// a swapped copy back would.
bool elementwise(OpId op) {
  switch (op) {
#define DG_OP(name, family, arity, diff, batch, devices, functions) \
  case OpId::name:                                                  \
    return std::strcmp(#family, "arith") == 0 || std::strcmp(#family, "elementwise") == 0;
#include "ops/op_table.def"
#undef DG_OP
    default:
      return false;
  }
}

// Leaves whose value is a copy of host data (the graph's inputs, a
// parameter's values): dropped, they are read again from there.
bool refetchable(OpId op) {
  return op == OpId::input || op == OpId::constant || op == OpId::parameter || op == OpId::lookup ||
         op == OpId::lookup_table;
}

}  // namespace

bool SwapPlan::recomputable(uint32_t i) const {
  const Node& n = g_.nodes[i];
  if (vals_[i].grouped) return false;  // one member alone would not give the block back
  // A lookup's value is its rows as at its forward: a streamed table's lookup
  // keeps them on the host (moved out, it is read back from there); another's
  // is gathered again (while the table has not changed since: rebuilds_same).
  if (n.op == OpId::lookup) return !vals_[i].host;
  if (n.nargs == 0) return refetchable(n.op);
  if (policy_ == MemoryPolicy::swap || !elementwise(n.op)) return false;
  if (policy_ == MemoryPolicy::automatic) {
    // auto: recompute only from arguments that are on the device now (no transfer to get them back).
    const uint32_t* a = g_.args(n);
    for (unsigned k = 0; k < n.nargs; ++k) {
      const Slot& s = vals_[root(a[k])];
      if (g_.nodes[a[k]].device == dev_ && s.state != resident && s.state != unmanaged) return false;
    }
  }
  return true;
}

// The node whose memory node i's value is: i itself, the owner of the block
// it is a view of (root), or -- for a view of memory outside the pool, a
// resident parameter's -- the argument it aliases, followed down.
uint32_t SwapPlan::holder(uint32_t i) const {
  for (;;) {
    i = root(i);
    const Node& n = g_.nodes[i];
    const float* v = g_.values_[i].v;
    if (vals_[i].state != unmanaged || n.nargs == 0 || !v) return i;
    const uint32_t* a = g_.args(n);
    uint32_t next = i;
    for (unsigned k = 0; k < n.nargs && next == i; ++k) {
      if (g_.nodes[a[k]].device != dev_) continue;
      const uint32_t r = root(a[k]);
      const float* w = g_.values_[r].v;
      if (vals_[r].state == unmanaged && w && v >= w && v < w + std::max<size_t>(g_.nodes[r].dim.size(), 1)) next = r;
    }
    if (next == i) return i;
    i = next;
  }
}

// Whether rebuilding node i's value now -- recomputing it from its arguments,
// those that were dropped rebuilt in turn, or gathering a lookup's rows again
// -- gives the value it was computed with: no parameter read on the way was
// written since (an update() in the same graph). A parameter's or table's
// node itself is not rebuilt but read as the parameter is now, as the
// unbudgeted node that aliases the parameter's memory reads it; a value
// computed from it is. While no parameter was written since i was computed
// (always, in a loop of renew_cg, forward, backward, update) nothing is walked.
bool SwapPlan::rebuilds_same(uint32_t i) const {
  const uint64_t stamp = Resident::values_stamp();
  if (vals_[i].at == stamp) return true;
  std::vector<uint32_t> todo{i};
  std::vector<uint8_t> seen(vals_.size(), 0);
  seen[i] = 1;
  while (!todo.empty()) {
    const uint32_t x = todo.back();
    todo.pop_back();
    const Slot& s = vals_[x];
    if (s.at == stamp) continue;
    const Node& n = g_.nodes[x];
    if (n.op == OpId::lookup) {  // its rows as at its forward
      if (s.ver != source_version(x)) return false;
      continue;
    }
    const uint32_t* a = g_.args(n);
    for (unsigned k = 0; k < n.nargs; ++k) {
      if (g_.nodes[a[k]].device != dev_) {  // not this plan's: never dropped by it
        const OpId op = g_.nodes[a[k]].op;
        if ((op == OpId::parameter || op == OpId::lookup_table) && source_version(a[k]) > s.at) return false;
        continue;
      }
      // A view (a reshape, a p = 0 dropout) reads the memory of the node it
      // aliases: a parameter's node there is read as the parameter is now.
      const uint32_t r = holder(a[k]);
      const OpId op = g_.nodes[r].op;
      if (op == OpId::parameter || op == OpId::lookup_table) {
        if (source_version(r) > s.at) return false;
        continue;
      }
      if (vals_[r].state == dropped && !seen[r]) {  // rebuilt too, from what it was computed from
        seen[r] = 1;
        todo.push_back(r);
      }
    }
  }
  return true;
}

void SwapPlan::evict(Key k) {
  evicted_ = true;
  untrack(k);
  Slot& s = slot(k);
  if (s.state == incoming) arrive(k, false);
  Tensor& t = k.grad ? g_.grads_[k.node] : g_.values_[k.node];
  DeviceMemStats& st = device_mem_stats(dev_);
  bool drop = !k.grad && recomputable(k.node);
  if (drop && !rebuilds_same(k.node)) {
    // Moved out after an update() in the same graph changed what it is
    // computed from: only a copy keeps the value it had.
    drop = false;
    if (!s.host) ++st.kept_over_update;  // once per value: its host copy then serves every eviction
  }
  if (drop) {
    s.state = dropped;
    pool_.free(s.dev);
  } else if (k.grad || !s.host) {
    // Copied out on the copy stream into pinned memory; the block is reused only after that copy.
    if (!s.host) s.host = PinnedHostPool::of(dev_).acquire(s.bytes);
    s.ev = last_ev_ = ops().copy_async(s.host.data(), s.dev, s.bytes, false);
    pending_free_.emplace_back(s.dev, s.ev);
    st.to_host_bytes += s.bytes;
    ++st.swaps_out;
    s.state = on_host;
  } else {
    // Values never change: a copy made once serves every later eviction. Gradients do.
    pool_.free(s.dev);
    ++st.swaps_out;
    s.state = on_host;
  }
  s.dev = nullptr;
  t.v = nullptr;
  null_aliases(k);
}

// The views of k's block (reshapes, a group's members) lose their pointers with it.
void SwapPlan::null_aliases(Key k) {
  std::vector<Slot>& slots = k.grad ? grads_ : vals_;
  std::vector<Tensor>& ts = k.grad ? g_.grads_ : g_.values_;
  for (uint32_t a : (k.grad ? grad_views_ : views_)[k.node])
    if (a < slots.size() && a < ts.size() && slots[a].owner == static_cast<int32_t>(k.node)) ts[a].v = nullptr;
}

void SwapPlan::recompute(uint32_t i) {
  const Node& n = g_.nodes[i];
  const uint32_t* a = g_.args(n);
  if ((n.nargs > 0 || n.op == OpId::lookup) && !rebuilds_same(i))
    throw Error("the value of node " + std::to_string(i) + " (" + op_impl(n.op).name + ", shape " + n.dim.str() +
                ") was dropped from " + Device::from_id(dev_).name() +
                " under its device memory budget, and parameters changed by update() since this value was "
                "computed: rebuilt now it would differ from the value it had. Read it before update(), or "
                "build it again in a new graph");
  // Hold the arguments while they are brought back and used; then release them.
  const size_t mark = held_.size();
  for (unsigned k = 0; k < n.nargs; ++k)
    if (g_.nodes[a[k]].device == dev_) pin({a[k], false});
  for (unsigned k = 0; k < n.nargs; ++k)
    if (g_.nodes[a[k]].device == dev_) make_resident({a[k], false});
  std::vector<Tensor> xs(n.nargs);
  for (unsigned k = 0; k < n.nargs; ++k) xs[k] = g_.values_[a[k]];
  Tensor y;
  y.d = n.dim;
  y.device = dev_;
  DeviceMemory& mem = g_.device_memory();
  const uint64_t counter = mem.rng_counter;
  mem.rng_counter = rng_at_[i];  // the same draws as the first time
  std::vector<char*> outer;
  outer.swap(node_blocks_);  // a recompute inside a node's forward: keep that node's blocks apart
  try {
    device_forward(g_, n, xs.data(), y);
  } catch (...) {
    mem.rng_counter = counter;
    for (char* b : node_blocks_) pool_.free(b);
    node_blocks_.swap(outer);
    throw;
  }
  mem.rng_counter = counter;
  for (char* b : node_blocks_)
    if (b != reinterpret_cast<char*>(y.v)) extra_blocks_.push_back(b);
  node_blocks_.swap(outer);
  for (size_t h = mark; h < held_.size(); ++h) unpin(held_[h]);
  held_.resize(mark);
  Slot& s = vals_[i];
  s.dev = reinterpret_cast<char*>(y.v);
  s.state = resident;
  if (n.nargs == 0) s.ver = source_version(i);
  g_.values_[i].v = y.v;
  track({i, false});
  DeviceMemStats& st = device_mem_stats(dev_);
  if (n.nargs == 0) {
    ++st.refetches;
    st.to_device_bytes += s.bytes;
    if (n.op == OpId::parameter || n.op == OpId::lookup_table) ++st.streamed_params;
  } else {
    ++st.recomputes;
  }
}

}  // namespace dg

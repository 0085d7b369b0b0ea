// Device memory budgets, and a graph's device memory under one: the values and
// gradients of the graph live in a BlockPool over the budget, and when a node
// needs more than is free, values are moved out by the graph's own schedule
// (GeePS's idea, per graph): the value whose next use is farthest away goes
// first -- in forward that is a value whose remaining uses are all in backward.
// An evicted value is copied to host memory (swap), or dropped and recomputed
// from its arguments when backward needs it (recompute), or, for an input or a
// parameter, read again from its host source (refetch). Copies go through the
// device's copy stream (device_ops.h): a copy-out frees its block only after
// its event; a value or gradient needed again soon is brought back a few
// nodes ahead (prefetch) and the compute waits for its event only when it
// reaches the node that reads it. docs/memory.md.
#pragma once
#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/block_pool.h"
#include "core/device.h"
#include "core/tensor.h"
#include "device/pinned_host.h"
#include "ops/op_id.h"

namespace dg {

class ComputationGraph;
struct DeviceOpTable;
struct Node;

enum class MemoryPolicy : uint8_t { automatic, swap, recompute };

// Process-wide counters of one device (dynagraph.device_memory_stats).
struct DeviceMemStats {
  uint64_t peak_bytes = 0;        // high-water of graph memory (values, gradients, scratch)
  uint64_t to_host_bytes = 0, to_device_bytes = 0;  // moved by swapping and refetching
  uint64_t swaps_out = 0, swaps_in = 0, recomputes = 0, refetches = 0;
  uint64_t schedule_ns = 0, schedule_nodes = 0;    // cost of building the schedules (thread CPU time; each node once a graph)
  uint64_t schedule_trims = 0;    // schedules cut back by cg_revert
  uint64_t prefetches = 0;        // copies to the device issued ahead of their use
  uint64_t prefetch_hits = 0;     // ... that had arrived when the compute reached their user
  uint64_t prefetch_stalls = 0;   // ... that had not (the compute waited)
  uint64_t demand_fetches = 0;    // brought back only when needed (not prefetched)
  uint64_t freed_after_wait = 0;  // blocks reused only after waiting for their copy-out
  uint64_t streamed_params = 0;   // parameter values copied in from the host (parameters streaming)
  uint64_t batched_steps = 0;     // autobatching under the budget: groups run as one batched step
  uint64_t groups_unbatched = 0;  // ... groups whose working set did not fit: their nodes ran one by one
  uint64_t regathers = 0;  // a node's operands fitted in total but not in one piece: all else left, they came back
  uint64_t plan_visits = 0;  // values and gradients the plan looked at to choose evictions and check groups' room
  uint64_t param_prefetches = 0;  // streamed parameters' first copies in a graph issued ahead of their node
  uint64_t kept_over_update = 0;  // values swapped, not dropped: update() changed what they are computed from
};
DeviceMemStats& device_mem_stats(DeviceId id);
void reset_device_mem_stats(DeviceId id);
// Tests: the next renew_cg under a budget finds no room for the resident parameters' block.
void fail_next_params_block();

// 0 = no budget (the bump arenas, as before). Takes effect at the next renew_cg().
void set_device_budget(DeviceId id, size_t bytes, MemoryPolicy policy);
size_t device_budget(DeviceId id);
// How many nodes ahead swapped values and gradients are brought back (0: on demand only).
void set_device_prefetch(DeviceId id, unsigned nodes);
unsigned device_prefetch(DeviceId id);
// How many parameters placed on device `id` stream now (its plan decided so,
// docs/memory.md: the largest first, until the rest fit in half of the
// budget): their values, gradients and trainer state live on the host (in
// pinned memory); their nodes' values come in under the plan like any
// swapped value, their gradients are added on the host. And the bytes of
// the parameters that stay resident (held in the budget).
unsigned params_streaming(DeviceId id);
size_t params_resident_bytes(DeviceId id);
MemoryPolicy device_policy(DeviceId id);
const char* policy_name(MemoryPolicy p);

// A graph's memory on one device under a budget.
class SwapPlan {
 public:
  SwapPlan(ComputationGraph& g, DeviceId dev, size_t budget, MemoryPolicy policy);
  ~SwapPlan();
  SwapPlan(const SwapPlan&) = delete;
  SwapPlan& operator=(const SwapPlan&) = delete;

  size_t budget() const { return budget_; }
  MemoryPolicy policy() const { return policy_; }

  DeviceId device() const { return dev_; }

  // Hooks of the per-node executor (swap_before_forward & co. below call them).
  void begin(uint32_t node, bool backward);  // a node starts: the previous node's holds end
  void set_current(uint32_t node) { current_ = node; }
  void before_forward(uint32_t i);   // i's arguments resident (and held) while it runs, room for its value
  void before_backward(uint32_t j, bool runs);  // j's and its arguments' values and gradients (runs: j has one)
  void args_resident(uint32_t i);    // i runs on another device: its arguments on this one
  void after_forward(uint32_t i);    // i's new value joins the managed values
  void forward_from(uint32_t first);  // a forward starts there: the values from there on are dead
  void need_value(uint32_t i);       // resident and held until the next begin()
  void need_grad(uint32_t j);        // the same for j's gradient, allocated at its first use
  void lazy_grad(uint32_t j, bool seed);  // backward wants a gradient for j
  void resident_value(uint32_t i);   // a value read from outside (npvalue, the loss)
  bool wants_grad(uint32_t j) const { return j < grad_wanted_.size() && grad_wanted_[j]; }
  static bool has_host_grad(const ComputationGraph& g, uint32_t j);  // a CPU node's gradient buffer
  // After the running node's operands are held: issue the copies of the next nodes' operands.
  void prefetch_ahead();

  // The autobatching executor (graph/autobatch_device.cc): its agenda's order,
  // one step per group, appended before a forward runs it. From then on the
  // schedule counts time in steps (forward of step s is s, its backward
  // 2S - 1 - s) and the per-node hooks map a node to its group's step.
  void add_steps(const std::vector<std::vector<uint32_t>>& steps);
  bool group_fits(const uint32_t* members, unsigned n, bool backward);  // working set within the budget
  // Backward of a group whose working set does not fit: its members get gradients
  // of their own and run one by one (groups_unbatched counts it).
  void split_group_grads(const uint32_t* members, unsigned n, uint32_t seed);
  bool grouped_grads(uint32_t first) const { return first < grads_.size() && grads_[first].grouped; }
  void before_group(const uint32_t* members, unsigned n, bool backward);  // operands resident and held
  void after_group(const uint32_t* members, unsigned n, const Tensor& y);  // the output block: one slot
  void group_grads(const uint32_t* members, unsigned n, uint32_t seed);     // the gradient block: one slot
  float* step_floats(size_t n);  // held until the next step begins (gathered arguments, scratch)
  // Every copy in flight finished (forward() and backward() return, renew_cg).
  void drain();
  // A gradient that was moved to the host is read from there (device CPU).
  Tensor gradient_view(uint32_t j, const Tensor& t) const;

  float* allocate(size_t bytes);        // a value's memory (ctx.alloc): evicts by the schedule when full
  // The scratch arena's chunks under the budget: 4 KiB, or a 64th of a small budget (256 bytes at least).
  size_t scratch_chunk() const { return std::max<size_t>(256, std::min<size_t>(4096, budget_ / 64 / 256 * 256)); }
  char* allocate_scratch(size_t bytes);  // never evicted, kept until renew_cg: from the top end
  void free_scratch(void* p);
  size_t largest_free() const;
  size_t in_use() const { return pool_.in_use(); }
  // A streamed parameter's (or lookup's) node runs: its value, brought in by
  // the hook (prefetched or on demand), or nullptr (the op copies it in itself).
  float* take_streamed();
  void count_to_host(size_t bytes);  // a streamed parameter's gradient written back
  void reset();                         // renew_cg(): every value and gradient gone
  void reset_grads();                   // a new backward pass

 private:
  // incoming: a block holds it, its copy to the device is in flight (event ev).
  enum State : uint8_t { unmanaged, resident, on_host, dropped, incoming };
  struct Slot {
    char* dev = nullptr;
    size_t bytes = 0;
    PinnedBuffer host;  // the host copy (written by the copy stream: valid after event ev)
    uint64_t ev = 0;    // the last copy of this slot's memory
    State state = unmanaged;
    bool refetched = false;  // incoming from its host source (an input, a streamed parameter)
    bool first_in = false;   // incoming: a streamed parameter's first copy in this graph
    uint64_t ver = 0;  // a parameter's or lookup's value: the version of the parameter it was copied at
    uint64_t at = 0;   // Resident::values_stamp() when the value was computed (rebuilds_same)
    uint16_t pins = 0;
    bool grouped = false;    // a group's block (several members): swapped, never recomputed
    bool ran = false;        // its forward ran in this graph (again: set() invalidated the values, rerun)
    int32_t owner = -1;  // the node whose block this aliases (a reshape, a group's member), or -1
    size_t offset = 0;
    bool queued = false;  // may leave: counted, and in the eviction queue as (qt, qbytes) with its block at qdev
    bool parked = false;  // ... but pinned: out of the queue until its pins end
    uint64_t qt = 0;
    size_t qbytes = 0;
    const char* qdev = nullptr;
  };
  struct Key {
    uint32_t node;
    bool grad;
  };
  Slot& slot(Key k) { return k.grad ? grads_[k.node] : vals_[k.node]; }
  void sync_schedule();
  uint64_t next_use(Key k) const;
  void holding(const std::function<void()>& holds);
  struct Scattered {};  // thrown inside holding(): room in total, not in one piece
  void reserve(size_t bytes);
  void release_reserved();
  void pin(Key k);
  void unpin(Key k);
  void unpin_all();
  void make_resident(Key k);
  void recompute(uint32_t i);
  void evict(Key k);
  bool evict_one(uint64_t after = 0, bool for_prefetch = false);
  bool prefetch(Key k, uint64_t t);
  char* prefetch_room(size_t bytes, uint64_t t);  // null: no room without moving what t needs
  bool prefetch_first(uint32_t i, uint64_t t);  // a streamed node's value, ahead of its forward
  void stream_in(uint32_t i);                   // ... in its hook: arrived, or fetched now
  bool prefetch_group(const uint32_t* m, unsigned n, uint64_t t);  // a group of lookups of a streamed table
  void stream_in_group(const uint32_t* m, unsigned n);              // ... in its hook: arrived, else the op gathers
  const float* host_source(uint32_t i);
  uint64_t source_version(uint32_t i) const;  // the version of node i's parameter now (0: not a parameter's node)
  bool stale(uint32_t i) const;  // a streamed parameter's value copied before its parameter last changed
  void drop_stale(Key k);
  void rerun(uint32_t i);  // i's forward runs again: its old value goes first
  void forget(uint32_t i);  // i's value, or a copy on its way in, given up
  void arrive(Key k, bool count);
  bool reclaim();  // host copies whose copies are done go back (false: no block freed)
  bool wait_oldest_free();
  const DeviceOpTable& ops() const;
  bool recomputable(uint32_t i) const;
  bool rebuilds_same(uint32_t i) const;  // recomputing or re-gathering i now gives the value it had
  char* allocate_block(size_t bytes);
  bool evict_below_scratch(size_t bytes);
  char* scratch_block(size_t bytes, bool must);
  void keep_spare();
  Key slot_at(const char* p, bool* found);
  [[noreturn]] void out_of_memory(size_t bytes) const;
  uint32_t root(uint32_t i) const;
  uint32_t holder(uint32_t i) const;  // the node holding i's memory, through views of unmanaged memory too
  Key root(Key k) const;
  uint64_t span() const { return steps_mode_ ? step_first_.size() - 1 : scheduled_; }
  uint64_t time_of(uint32_t node) const { return steps_mode_ ? step_of_[node] : node; }
  void merge_users(uint32_t from, uint32_t into);
  void merge_users(const uint32_t* members, unsigned n, uint32_t into);
  void null_aliases(Key k);

  // The eviction queue (swap_queue.cc): every value and gradient that may leave
  // (resident or incoming, a block of its own), best victim first -- farthest
  // next use, then larger, then lower node, a gradient before a value (the order
  // a full scan would pick in). A key's next use only grows as time goes on, and
  // changes when time reaches it: each key is re-keyed then (expiry_), so an
  // eviction looks at the first unpinned entries only, not at every value.
  struct QEntry {
    uint64_t t;
    size_t bytes;
    uint32_t node;
    bool grad;
  };
  struct QOrder {
    bool operator()(const QEntry& a, const QEntry& b) const {
      if (a.t != b.t) return a.t > b.t;
      if (a.bytes != b.bytes) return a.bytes > b.bytes;
      if (a.node != b.node) return a.node < b.node;
      return a.grad > b.grad;
    }
  };
  // Queue times: a forward time as it is, a backward time as the node it runs
  // (kBack - j), so that keys stay valid when forward() appends nodes (which
  // moves every backward time): only what the new nodes read is re-keyed (grew).
  static constexpr uint64_t kBack = uint64_t(1) << 40;
  uint64_t qtime(uint64_t t) const {
    const uint64_t n = span();
    return t < n || t == UINT64_MAX ? t : kBack - (2 * n - 1 - t);
  }
  void grew(uint64_t old_span, const std::vector<uint32_t>& read);
  void track(Key k);    // k's state or uses changed: (re-)queued when it may leave
  void untrack(Key k);  // k no longer may leave (before its slot changes)
  void refresh_queue();  // re-key the keys whose next use time reached; rebuild when the schedule changed
  void rebuild_queue();
  std::set<QEntry, QOrder> queue_;
  std::vector<std::pair<uint64_t, Key>> expiry_;  // min-heap by time: when a queued key's next use passes
  std::unordered_map<const char*, Key> block_key_;  // a queued key's block
  size_t movable_bytes_ = 0;                  // the queued keys' bytes
  bool queue_dirty_ = true;                   // rebuild before the next use (slots reset, a new pass)
  uint64_t queue_span_ = 0, queue_now_ = 0;   // the schedule and time the queue was keyed for
  std::vector<std::vector<uint32_t>> views_, grad_views_;  // per block: the nodes whose owner it is (filtered by owner)
  std::vector<uint32_t> read_;  // sync_schedule / add_steps: earlier nodes the new ones read

  ComputationGraph& g_;
  DeviceId dev_;
  size_t budget_;
  MemoryPolicy policy_;
  char* region_ = nullptr;
  BlockPool pool_;
  std::vector<Slot> vals_, grads_;
  std::vector<uint64_t> rng_at_;           // the device RNG counter each node's forward started at
  std::vector<std::vector<uint32_t>> users_;  // schedule: the nodes that read each node's value
  std::vector<uint8_t> grad_wanted_;
  uint32_t scheduled_ = 0;                 // nodes [0, scheduled_) are in users_
  uint64_t now_ = 0;                       // forward of node i: i; backward of node j: 2N - 1 - j
  uint32_t current_ = UINT32_MAX;          // the node being run
  std::vector<Key> held_;                  // pins of the running hook
  std::vector<char*> node_blocks_;         // blocks the running node's forward allocated
  char* reserved_ = nullptr;               // room for the running node's value, kept through the prefetches
  int holding_ = 0;                        // 1: a hook's first try (Scattered may be thrown), 2: its retry
  std::vector<char*> extra_blocks_;        // an op's blocks other than its value: freed at renew_cg
  char* scratch_floor_ = nullptr;          // the lowest scratch chunk (scratch gathers at the top)
  char* spare_ = nullptr;                  // the next scratch chunk, taken by a hook under the others
  size_t scratch_bytes_ = 0;
  mutable std::vector<float> zeros_;       // gradient_view of a gradient backward never reached
  std::deque<std::pair<char*, uint64_t>> pending_free_;          // blocks free once their copy-out is done
  std::vector<std::pair<PinnedBuffer, uint64_t>> pending_host_;   // host copies free once read back
  // Slots at or past this were never touched: no forward has reached them (a forward
  // and its prefetches stop at its forward_end), so forward_from need not look there.
  size_t touched_end_ = 0;
  uint64_t last_ev_ = 0;                   // the latest copy issued
  char* streamed_in_ = nullptr;            // the running streamed node's value, brought in by its hook
  bool took_streamed_ = false;             // ... and its op took it (else the op copied the value in)
  char* params_block_ = nullptr;           // the resident parameters' bytes, held in the pool (they count)
  size_t params_bytes_ = 0;
  size_t comes_in_ = 0;  // the largest streamed parameter's bytes: its value and gradient blocks when used
  void account_params();
  // Autobatching: the steps (groups) in order, members of step s at
  // step_nodes_[step_first_[s], step_first_[s + 1]); users_ then holds steps.
  bool steps_mode_ = false;
  std::vector<uint32_t> step_of_, step_first_{0}, step_nodes_;
  std::vector<char*> step_blocks_;
  uint32_t seed_ = UINT32_MAX;  // the node whose gradient is the seed (a group's block fills it with 1)
  bool evicted_ = false;        // something left the device in this graph (group_fits)
};

bool backward_reads_values(OpId op);  // false: the op's device backward reads gradients only

// What ctx.alloc calls under a budget (device/device_ops.h).
float* plan_allocate(SwapPlan* plan, size_t n_floats);
float* plan_streamed_in(SwapPlan* plan);  // the parameter ops: a streamed value the plan brought in
void plan_count_to_host(SwapPlan* plan, size_t bytes);
// A parameter, lookup-table or lookup node whose parameter streams (its values live on the host).
bool node_streams(const Node& n);

// The executor's hooks (graph.cc), for graphs with device nodes: the plans of
// the devices a node and its arguments live on get ready for it.
void swap_before_forward(ComputationGraph& g, uint32_t i);
void swap_after_forward(ComputationGraph& g, uint32_t i);
void swap_before_backward(ComputationGraph& g, uint32_t j);
void swap_resident(ComputationGraph& g, uint32_t i);  // forward()'s result, read by the caller
void swap_finish(ComputationGraph& g);                // forward() or backward() returns: copies done
void swap_forward_from(ComputationGraph& g, uint32_t first);  // forward() starts at node `first`
// A group of the autobatching executor starts (forward or backward): its members'
// operands (and gradients) resident and held, the next steps' prefetched.
void swap_before_group(ComputationGraph& g, const uint32_t* members, unsigned n, bool backward);
void swap_after_group(ComputationGraph& g, const uint32_t* members, unsigned n, const Tensor& y);

}  // namespace dg

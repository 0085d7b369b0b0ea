// Per-phase timers of the autobatching executor (autobatch.cc), off by default:
// set_autobatch_profiling(True) turns them on, autobatch_stats() reports them.
// They answer "where does a larger graph spend its extra time" without perf.
#pragma once
#include <chrono>
#include <cstdint>

namespace dg {

struct AutobatchProfile {
  bool on = false;
  // Nanoseconds since start (or since reset), per phase.
  uint64_t fwd_setup = 0;     // dependency counts, heights, signatures, the plan (picking groups, readying users)
  uint64_t fwd_gather = 0;    // checking arguments for contiguity, copying the rest
  uint64_t fwd_kernel = 0;    // the ops' forward (GEMMs, element-wise, ...)
  uint64_t fwd_release = 0;   // slicing the group's output
  uint64_t bwd_setup = 0;     // gradient blocks per group
  uint64_t bwd_memset = 0;    // zeroing gradient blocks as gradients first reach them
  uint64_t bwd_kernel = 0;    // the ops' backward (lone nodes included)
  uint64_t bwd_scatter = 0;   // zeroing and adding back gradients of gathered arguments
  uint64_t bwd_outer = 0;     // deferred weight-gradient GEMMs (flush_outer_products)
  // Counted whether or not the timers are on: batched arguments (and their
  // gradients) used where they lie, as one contiguous block, or copied.
  uint64_t args_in_place = 0, args_gathered = 0;
  uint64_t grads_in_place = 0, grads_scattered = 0;
  uint64_t grads_aliased = 0;  // arguments whose gradient block is their user's (no zeroing, no pass)
  // Product groups run within a set of stacked weights, and such sets.
  uint64_t products_stacked = 0, stacked_sets = 0;
  // Transposed copies of weights made for backward's products Wᵀ dY (ComputationGraph::transposed).
  uint64_t weights_transposed = 0;
  // Groups run on the engine's threads (set_num_threads), and the waves that ran them.
  uint64_t groups_pooled = 0, waves_pooled = 0;
  // Pieces of groups split by members over the threads: forward pieces, backward
  // argument gradients split, weight-gradient GEMMs split by columns.
  uint64_t pieces_forward = 0, pieces_backward = 0, pieces_outer = 0;
  // Backward: groups whose argument gradients ran at once with other groups' on the
  // threads, and such waves.
  uint64_t groups_waved_backward = 0, waves_backward = 0;
  // Groups whose output was placed where a later group reads it in one block (no gather).
  uint64_t outputs_placed = 0;
};
AutobatchProfile& autobatch_profile();
// Whether backward shares gradient blocks with pass-through users (on; off only to
// measure or test against the unshared path: _core._set_autobatch_share_grads).
bool& autobatch_share_grads();
// Whether forward lays producers' outputs out end to end for the group that reads
// them all as one argument (on; off only to measure or test: _core._set_autobatch_place_outputs).
bool& autobatch_place_outputs();

// For tests: the next batched group of at least `members` members raises
// IndexError from its forward, on whichever thread runs it (0: off).
void set_autobatch_fault(uint32_t members);
void autobatch_fault_check(unsigned members);
// The work (values read and written, plus a product's multiply-adds) from which a
// group may run on the engine's threads; sets it when work >= 0, returns the old value.
double autobatch_pool_min_work(double work);
// Whether backward runs independent groups at once on the engine's threads (on; off
// only to measure or test: _core._set_autobatch_backward_waves).
bool& autobatch_backward_waves();

// Adds the time since the last mark to `slot` when profiling is on.
class PhaseClock {
 public:
  explicit PhaseClock(const AutobatchProfile& p) : on_(p.on) {
    if (on_) last_ = std::chrono::steady_clock::now();
  }
  void charge(uint64_t& slot) {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    slot += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count());
    last_ = now;
  }

 private:
  bool on_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace dg

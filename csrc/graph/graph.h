// ComputationGraph: nodes in a vector, values in pools, lazy forward, backward.
#pragma once
// Ops see only their OpContext (ops/op_context.h); CMake compiles csrc/ops/ with
// DG_OPS_SOURCE defined so that including this header from there fails to build.
#ifdef DG_OPS_SOURCE
#error "csrc/ops/ must not include graph/graph.h: ops receive an OpContext"
#endif
#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/pool.h"
#include "core/tensor.h"
#include "ops/node.h"
#include "ops/op_context.h"
#include "ops/registry.h"
#include "params/staging.h"

namespace dg {

struct DeviceMemory;  // device/dispatch.h
class Agenda;        // graph/autobatch_agenda.h
class PhaseClock;    // graph/autobatch_profile.h

// A handle to a node: its index plus the graph version it was made in.
struct Expression {
  uint32_t i = 0;
  uint32_t version = 0;
};

// The graph is the ops' context (OpContext: pools, RNG, attribute data,
// backward serial, device): it passes itself to every op at no cost.
class ComputationGraph final : public OpContext {
 public:
  ComputationGraph();

  // ---- construction
  // Adds a node whose attributes are already set in `proto`; runs dim_forward.
  Expression add(Node proto, const uint32_t* args, unsigned nargs);
  Expression add(Node proto, std::initializer_list<uint32_t> args) {
    return add(proto, args.begin(), static_cast<unsigned>(args.size()));
  }
  // The same with the node built in place (the graph-building path): new_node()
  // appends a default node of `op` for the caller to set attributes on, and
  // commit() checks and adds it like add(), or removes it and rethrows. Nothing
  // may add a node in between. A Node built on the stack and copied in reads back
  // with wide loads what was just written with narrow stores, and each such copy
  // stalls on store forwarding (~a third of the engine's share of construction).
  Node& new_node(OpId op) {
    Node& n = nodes.emplace_back();
    n.op = op;
    return n;
  }
  Expression commit(const uint32_t* args, unsigned nargs);
  // W x + b as one node: turns `product`, a matmul node nothing uses yet (the
  // graph's last node with arguments), into affine_transform(b, W, x), as the
  // Python `+` does for a product held by nothing else (python/expr_type.cc).
  // False, changing nothing, when it cannot: the caller then builds the add.
  bool absorb_bias(const Expression& product, const Expression& bias);
  // f(W x + b) as one node: folds f (logistic, tanh or rectify: `op`) into `x`, an
  // affine_transform node nothing uses yet, as the Python dy.tanh(...) etc. do for an
  // argument held by nothing else (python/expr_type.cc; ops/affine_activation.h).
  // False, changing nothing, when it cannot: the caller then builds f's node.
  bool absorb_activation(const Expression& x, OpId op);
  // Moves the graph's last node, a leaf made just after node i, before it (i becomes
  // i + 1): a bias parameter first used in W x + b must precede the product it joins.
  // False, changing nothing, unless neither is evaluated and nothing else reads i.
  bool swap_with_next_leaf(uint32_t i);
  void swap_adjacent(uint32_t i) {  // swap_with_next_leaf's move, unchecked (to undo it)
    std::swap(nodes[i], nodes[i + 1]);
    std::swap(values_[i], values_[i + 1]);
  }
  // Node i has been handed out as an Expression by index (_core.node_expression): a second
  // Python object for it may be held while the `+` sees a temporary, so absorb_bias leaves
  // nodes [0, i] alone until renew_cg().
  void mark_aliased(uint32_t i) { aliased_below_ = std::max(aliased_below_, i + 1); }
  // Whether absorb_bias merges (on; off only to measure or test: _core._set_absorb_bias).
  static bool& absorb_bias_on();
  // Whether absorb_activation folds (on; off only to measure or test: _core._set_absorb_activation).
  static bool& absorb_activation_on();
  // Raises RuntimeError when `e` was made before the last renew_cg(), or its
  // node was removed by cg_revert() (even if a newer node now has its number).
  void check(const Expression& e) const {
    if (e.version != version_ ? !survived_reverts(e) : e.i >= nodes.size()) throw_stale(e);
  }

  // ---- evaluation
  const Tensor& forward(uint32_t upto);      // evaluates nodes not yet computed, up to `upto`
  void invalidate() {  // next forward recomputes everything
    evaluated_ = 0;
    groups_.clear();
  }
  void backward(uint32_t from, bool full = false);
  // Gradient of node i from the last backward (zeros if it got none).
  Tensor gradient(uint32_t i) const;

  // ---- lifetime
  void clear();  // renew_cg(): drop all nodes and values, bump the version
  uint32_t version() const { return version_; }
  // Bumped by clear() and revert(): caches keyed on it (a parameter's node, a
  // builder's per-graph expressions) are made again when it changes.
  uint64_t epoch() const { return epoch_; }
  void checkpoint();
  void revert();
  // A pin that keeps the graph memory holding t's values alive and unchanged
  // (core/pin.h) after renew_cg(), for a reader outside the engine; null when
  // t is not in graph memory (a parameter's or lookup's values alias storage).
  std::shared_ptr<ChunkPin> pin_value(const Tensor& t);
  size_t size() const { return nodes.size(); }
  // Bumped by clear() only (not by revert()): one per renew_cg().
  uint64_t generation() const { return generation_; }
  // Nodes hold raw pointers into parameter storage (Node::ptr). The graph holds
  // a reference to each storage its nodes use until clear(), so a collection
  // that dies first (its storage with it) cannot leave them dangling. `kept`
  // is the storage's kept_generation: one reference per storage per graph.
  template <class Storage>
  void keep_alive(Storage& p) {
    if (p.kept_generation == generation_) return;
    std::shared_ptr<Storage> ref = p.weak_from_this().lock();
    if (!ref) return;  // not shared-owned (a test's stack object): its owner outlives the graph
    kept_alive_.push_back(std::move(ref));
    p.kept_generation = generation_;
  }
  size_t kept_alive_count() const { return kept_alive_.size(); }

  // ---- data shared with the ops
  std::vector<Node> nodes;
  std::vector<uint32_t> arg_pool;
  // (int_data, float_data, fx_pool, scratch_pool, rng: inherited from OpContext)
  MemoryPool dx_pool{1 << 20};      // gradients

  // ---- devices (device/dispatch.cc): a node runs on its arguments' device;
  // inputs go to default_device, parameters to their storage's device.
  DeviceId default_device = kCpuDevice;
  // (device_seed, the key of the counter-based RNG: inherited from OpContext)
  DeviceMemory& device_memory();

  const uint32_t* args(const Node& n) const { return arg_pool.data() + n.arg0; }
  const Tensor& fx(uint32_t i) const { return values_[i]; }

  // Autobatching: forward runs groups of same-signature ready nodes as one
  // batched kernel, and backward runs the same groups in reverse (autobatch*.cc).
  bool autobatch = false;
  // DyNet's renew_cg(immediate_compute, check_validity), for one graph:
  // evaluate every node as it is added (errors surface at the line that built
  // it), and raise when an evaluated value holds NaN or inf.
  bool immediate_compute = false;
  bool check_validity = false;
  // Which ready group runs next: `height` (default), the one whose nodes have
  // the longest paths left to the end of the graph, on average; `depth`,
  // DyNet's rule, the one whose nodes are closest to the inputs, on average.
  enum class BatchPolicy { height, depth } batch_policy = BatchPolicy::height;
  // Ready products of different weights with the same batched right operand
  // (an LSTM cell's gates) run as one GEMM over the weights stacked. Off by
  // default: on one CPU core the copies cost more than the larger GEMM saves
  // (benchmarks/README.md, issue 26).
  bool stack_products = false;
  struct BatchStats {
    uint64_t nodes = 0, groups = 0, scheduler_ns = 0;
  } batch_stats;

  // dA += U V^T for the gradient being accumulated now (U m x k, V n x k: one
  // column per batch element). Deferred: all such terms aimed at one node are
  // applied together, as one GEMM [U_1..U_T][V_1..V_T]^T, just before that
  // node's own backward runs — a weight used T times (or by T autobatched
  // groups) costs one wide GEMM instead of T passes over its gradient.
  void add_outer_product(Tensor& dA, const Tensor& u, const Tensor& v) override;
  // During a batched backward, a copy of A^T made at the first request (see OpContext).
  const float* transposed(const Tensor& A) override;


  // Hook run when backward has accumulated into a parameter gradient.
  // Arguments: the storage (ParameterStorage* or, when is_lookup,
  // LookupParameterStorage*) and is_lookup. For a parameter it runs once per
  // backward, when the gradient is final: after its only trainable node, or,
  // when the graph has several (W, const_parameter(W), W again), after the
  // last of them that backward visits. A lookup table has one node per lookup
  // and reports each (is_lookup): its gradient is final only after backward.
  // Used by wait-free distribution (dynagraph.distributed).
  std::function<void(void* storage, bool is_lookup)> on_param_grad;

  // ---- sufficient factors (dynagraph.distributed's SFB scheme)
  // For every product W*x in which W is a parameter node (matmul's first
  // argument, affine_transform's odd arguments), W's gradient gets
  // U * V^T with U = dL/d(Wx) (M x K) and V = x (N x K), the K columns
  // being the product's columns over all batch elements. With
  // collect_factors set, backward appends (U, V) to W's entry in `factors`
  // (one entry per parameter, columns in the order of the products); a
  // parameter whose gradient also came from anything else is marked dense
  // (its factors are then incomplete and dropped). With factors_cap set, so
  // is a parameter whose factors grow larger than its gradient
  // (K (M + N) > M N): no SFB rule would send them, and copying thousands
  // of columns would only cost time. Marks persist until collect_factors is
  // set again; take_factors empties the entries.
  // Entries outlive the graph (they are read after backward, marks persist
  // across renew_cg), so each holds a reference to its parameter's storage:
  // a collection that dies meanwhile leaves neither a dangling pointer nor an
  // address a new parameter could reuse and be mistaken for.
  // U and V are host staging buffers (params/staging.h): a product on a device
  // copies its factor blocks into them, one copy per block; they are reused
  // across iterations (take_factors hands them back through release_factors).
  struct Factor {
    void* param;
    std::shared_ptr<void> keep;
    unsigned m, n, k;
    HostStaging u, v;  // column-major M x K and N x K
  };
  bool collect_factors = false;
  bool factors_cap = false;
  std::vector<Factor> factors;
  std::vector<std::pair<void*, std::shared_ptr<void>>> dense_only;  // (storage, reference)
  void reset_factors(bool on, bool cap);
  // Empties `factors`, keeping their buffers for the next entries.
  void release_factors();

 private:
  std::vector<HostStaging> spare_factor_buffers_;
  HostStaging spare_factor_buffer();
  friend class SwapPlan;  // device/swap.h: moves device values and gradients under a budget
  [[noreturn]] void throw_stale(const Expression& e) const;
  void eval_node(uint32_t i);
  void record_factor(const Node& n, unsigned k, const Tensor* xs, const Tensor& dy);
  void backward_node(uint32_t j, std::vector<Tensor>& xs);
  // The gradient a node's (or group prototype's) arguments see: dy itself, or for an
  // affine_transform with a folded activation dz = dy f'(y), in gradient memory
  // (ops/affine_activation.h). Called once per node or group and backward pass.
  Tensor preactivation_grad(const Node& n, const Tensor& y, const Tensor& dy);
  // on_param_grad bookkeeping, only while a hook is set: parameters with
  // several trainable nodes among nodes [0, end) wait for their last one.
  void param_hook_begin(uint32_t end);
  void param_hook_report(uint32_t j);
  std::vector<std::pair<void*, uint32_t>> param_hook_nodes_;  // (storage, node), scratch
  std::vector<int32_t> param_hook_slot_;   // per node: index into param_hook_left_, or -1 (its only node)
  std::vector<uint32_t> param_hook_left_;  // trainable nodes of that parameter not yet visited
  void flush_outer_products(uint32_t j);

  struct OuterFactor {  // dA += U V^T with U m x k and V n x k (column-major)
    const float* u;
    const float* v;
    unsigned k;
  };
  // Pending rank-1 terms per target node (index into outer_pending_), and the
  // node whose gradient the op being run is accumulating into.
  std::vector<int32_t> outer_slot_;
  std::vector<std::vector<OuterFactor>> outer_pending_;
  std::vector<size_t> outer_columns_;  // columns pending per slot
  // A slot is applied early once this many columns wait: bounds the scratch
  // (e.g. 10k x 256 softmax weights over 30 steps of minibatch 64) while the
  // GEMM is already wide enough to run at full speed.
  static constexpr size_t kOuterFlushColumns = 512;
  AlignedFloats outer_scratch_;
  // The terms (v, k) whose V the scratch holds, at m rows of U and n of V: the next flush
  // with the same operands copies only U. Cleared when a backward starts.
  std::vector<std::pair<const float*, unsigned>> outer_scratch_v_;
  unsigned outer_scratch_m_ = 0, outer_scratch_n_ = 0;
  uint32_t outer_used_ = 0;
  uint32_t current_target_ = UINT32_MAX;
  void forward_batched(uint32_t upto);
  // A group of these nodes would hold 2^32 or more values in one tensor (or a
  // batch past 32 bits): its members then run one by one.
  bool group_too_large(const std::vector<uint32_t>& batch) const;
  void backward_batched(uint32_t from, bool full);

  // One executed batch: nodes run together through a node prototype whose
  // batch count is the group size, over gathered inputs.
  struct Group {
    uint32_t first = 0, count = 0;  // span of group_nodes_
    Node proto;
    std::vector<Tensor> xs;  // batched arguments (shared ones keep batch 1)
    Tensor y;                // all outputs, contiguous
    // Products of different weights with one batched right operand, run as one
    // GEMM over the weights stacked (autobatch_stacked.cc): consecutive groups; the last
    // one holds the set's size and the stacked weights, and its backward gives
    // the operand's gradient for the whole set.
    uint32_t stacked_set = 0;  // groups in the set (last group only), 0 outside one
    bool in_stacked_set = false;
    const float* wstack = nullptr;  // (rows of all the set's weights) x cols, column-major
    unsigned wstack_rows = 0;
    uint32_t args_at = UINT32_MAX;  // its members' arguments in group_args_ (gathered groups)
    // Where its output goes when a later group reads this group's and others' outputs
    // as one argument, in order (place_group_outputs); null: wherever the op allocates it.
    float* place = nullptr;
    // The first group of the block it was placed in (UINT32_MAX: none); that group holds the
    // block's size, and in backward the block's gradients: laid out alike, so the reader's
    // backward writes its arguments' gradients in place too.
    uint32_t place_lead = UINT32_MAX;
    size_t place_floats = 0;
    float* place_grads = nullptr;
  };
  std::vector<Group> groups_;
  std::vector<uint32_t> group_nodes_;
  // The gathered groups' member arguments, argument-major ([k * N + b]), as forward
  // read them: backward reads them here in order instead of from every member's
  // node and argument list again (cache misses in a large graph). For graph epoch_
  // group_args_epoch_ only.
  std::vector<uint32_t> group_args_;
  uint64_t group_args_epoch_ = UINT64_MAX;
  // Forward of one group (autobatch.cc): its prototype and gathered arguments,
  // the op's call, each member's value a slice of the output.
  void run_group(size_t gi, PhaseClock& clock);  // groups_[gi], its span of group_nodes_ set
  void gather_group(Group& grp, const uint32_t* batch, unsigned N);
  void slice_group_outputs(const Group& grp, const uint32_t* batch, unsigned N);
  // Before a forward's groups run: producers' outputs laid out end to end for the group that reads them.
  void place_group_outputs(size_t first_group, uint32_t begin, uint32_t end);
  // Item i of the forward's plan (a group or a stacked set), run on this thread.
  void run_plan_item(size_t i, PhaseClock& clock);
  // The plan with set_num_threads(n > 1) (autobatch_threads.cc): level by
  // level (groups that read none of each other's outputs), the large batched
  // groups of a level on the engine's threads.
  void run_plan_threaded(uint32_t begin, uint32_t end, PhaseClock& clock);
  // Backward of one group (autobatch_backward.cc): dx += d(op)/dx_k for a batched
  // argument k; where that dx goes (false: no gradient wanted) and, for a scratch
  // block, adding it back to the members.
  void backward_group(size_t gi, std::vector<Tensor>& xs, PhaseClock& clock);
  bool arg_grad_target(const Tensor& x, const uint32_t* ak, unsigned N, Tensor& dx, bool& scatter, PhaseClock& clock);
  void scatter_arg_grad(const Tensor& dx, const uint32_t* ak, unsigned N);
  // With set_num_threads(n > 1) (autobatch_backward_threads.cc): runs groups
  // end - r + 1 .. end (descending) as one wave when they may go at once and it
  // pays; returns r (0: none ran). Per node, the last wave that reads it / writes
  // its gradient from a task.
  size_t backward_wave(size_t end, PhaseClock& clock);
  std::vector<uint32_t> wave_read_, wave_written_;
  uint32_t wave_id_ = 0;
  void group_arg_backward(const OpImpl& impl, const Node& proto, const Tensor* xs, const Tensor& y, const Tensor& dy,
                          unsigned k, const uint32_t* ak, unsigned N, PhaseClock& clock);
  // Stacked products (autobatch_stacked.cc): takes from the agenda the ready
  // products that join `batch` into `set` (false when none), runs a set, and
  // gives its shared operand's gradient when its last group comes up in backward.
  bool take_stacked_partners(Agenda& agenda, const std::vector<uint32_t>& batch, uint64_t chosen_height,
                             std::vector<std::vector<uint32_t>>& set);
  void run_stacked_set(size_t first_group, unsigned sets, PhaseClock& clock);
  void stacked_set_backward(size_t gi, const uint32_t* operand_args, PhaseClock& clock);
  // Weights stacked for a set of products, per forward call (key: the weights' nodes).
  std::vector<std::pair<std::vector<uint32_t>, float*>> stacked_weights_;
  const float* stacked_weights(const std::vector<uint32_t>& weight_nodes, unsigned rows);
  // Batched backward: each node's group, whether a group's gradient block has
  // been zeroed yet, and touch_grad() to zero it before the first write.
  std::vector<uint32_t> group_of_;
  std::vector<uint8_t> group_zeroed_;
  // A group whose members' only user passes the gradient through unchanged (the
  // x of x + b) shares that user's gradient block (autobatch_backward.cc):
  // grad_root_ is the group that owns a group's block, grad_shared_args_ the
  // arguments (bits) of a group that share its block, so their dx += dy is skipped.
  std::vector<uint32_t> grad_root_;
  std::vector<uint32_t> grad_shared_args_;
  std::vector<uint8_t> use_count_;  // users of each node, saturating at 2
  void share_gradient_blocks(uint32_t from, bool full);
  bool lazy_grads_ = false;
  // Transposed copies of matrices for this backward (transposed()): keys (values,
  // rows, cols), their copies (kept between passes for their memory) and how
  // many are in use; only while a batched backward runs (one at a time: a mutex).
  struct TransposedCopy {
    const float* of = nullptr;
    unsigned rows = 0, cols = 0;
    AlignedFloats t;
  };
  std::vector<TransposedCopy> transposed_;
  size_t transposed_used_ = 0;
  bool transposed_on_ = false;
  std::mutex transposed_mutex_;
  void touch_grad(uint32_t j);
  // Groups on a device (autobatch_device.cc): memory from the device's pools
  // (values or gradients; under a budget, the swap plan's), one-launch gather /
  // scatter-add of the members' slices, and the group's op run on the device or the CPU.
  // Under a device memory budget: the agenda's order taken first and handed to
  // the swap plans, then run (false: no budget applies); the gradient blocks
  // left to the plan; a group's operands resident again before its backward.
  bool forward_batched_under_budget(uint32_t upto);
  bool group_grads_under_budget(uint32_t gi, uint32_t from);
  bool grad_under_budget(uint32_t j) const;
  bool group_backward_under_budget(uint32_t gi);  // false: its members run one by one
  float* group_device_floats(DeviceId dev, size_t n, bool grad);
  // A group's non-contiguous argument k on a device: its members ak[0..N), sz floats each.
  struct DeviceGather {
    unsigned k;
    const uint32_t* ak;
    size_t sz;
  };
  // Gathers n such arguments into xs[k].v: one upload of all their address arrays, one launch each.
  void group_device_gather(DeviceId dev, const DeviceGather* g, unsigned n, unsigned N, Tensor* xs);
  void group_device_scatter_add(DeviceId dev, const float* src, const uint32_t* ak, unsigned N, size_t sz);
  void group_device_fill(DeviceId dev, float* p, size_t n, float v);
  void group_forward(const Node& proto, const Tensor* xs, Tensor& y);
  void group_backward(const Node& proto, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned k, Tensor& dx);

  std::shared_ptr<DeviceMemory> device_memory_;
  bool has_device_nodes_ = false;  // some node runs on a device: per-node executor, device pools
  uint32_t aliased_below_ = 0;     // see mark_aliased()
  // absorb_bias / absorb_activation (graph/absorb.cc): whether node i may still be
  // rewritten, and whether no node reads node m yet.
  bool may_rewrite(uint32_t i) const;
  bool read_by_none(uint32_t m) const;

  std::vector<Tensor> values_;
  std::vector<Tensor> grads_;
  std::vector<Tensor> arg_scratch_;  // reused argument list for one op call
  uint32_t evaluated_ = 0;           // nodes [0, evaluated_) have values
  // Every renew_cg() and cg_revert() starts a new version; an expression of an
  // earlier version of this graph is still valid if every revert since kept its node.
  uint32_t version_ = 0;
  uint32_t first_version_ = 0;  // version_ right after the last renew_cg()
  struct Revert {
    uint32_t ended;  // the version the revert ended
    size_t kept;     // nodes it kept
  };
  std::vector<Revert> reverts_;
  bool survived_reverts(const Expression& e) const;
  uint64_t epoch_ = 0;
  uint64_t generation_ = 0;
  std::vector<std::shared_ptr<void>> kept_alive_;  // see keep_alive()
  bool has_backward_ = false;

  struct Checkpoint {
    size_t nodes, args, ints, floats;
    uint32_t evaluated;
    size_t groups;
    MemoryPool::Mark fx, scratch;
  };
  std::vector<Checkpoint> checkpoints_;
};

// The process-wide graph that DyNet's API implies (renew_cg() renews it).
// Inline: every expression function asks for it (a guard test, not a call).
inline ComputationGraph& cg() {
  static ComputationGraph g;
  return g;
}

}  // namespace dg

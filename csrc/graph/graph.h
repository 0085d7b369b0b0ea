// ComputationGraph: nodes in a vector, values in pools, lazy forward, backward.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "core/pool.h"
#include "core/tensor.h"
#include "graph/node.h"
#include "ops/registry.h"

namespace dg {

// A handle to a node: its index plus the graph version it was made in.
struct Expression {
  uint32_t i = 0;
  uint32_t version = 0;
};

class ComputationGraph {
 public:
  ComputationGraph();

  // ---- construction
  // Adds a node whose attributes are already set in `proto`; runs dim_forward.
  Expression add(Node proto, const uint32_t* args, unsigned nargs);
  Expression add(Node proto, std::initializer_list<uint32_t> args) {
    return add(proto, args.begin(), static_cast<unsigned>(args.size()));
  }
  // Raises RuntimeError when `e` was made before the last renew_cg().
  void check(const Expression& e) const {
    if (e.version != version_ || e.i >= nodes.size()) throw_stale(e);
  }

  // ---- evaluation
  const Tensor& forward(uint32_t upto);      // evaluates nodes not yet computed, up to `upto`
  const Tensor& incremental_forward(uint32_t upto) { return forward(upto); }
  void invalidate() { evaluated_ = 0; }      // next forward recomputes everything
  void backward(uint32_t from, bool full = false);
  const Tensor& value(uint32_t i) { return forward(i); }
  // Gradient of node i from the last backward (zeros if it got none).
  Tensor gradient(uint32_t i) const;

  // ---- lifetime
  void clear();  // renew_cg(): drop all nodes and values, bump the version
  uint32_t version() const { return version_; }
  // Bumped by clear() and revert(): caches keyed on it (parameter nodes) stay valid.
  uint64_t epoch() const { return epoch_; }
  void checkpoint();
  void revert();
  size_t size() const { return nodes.size(); }

  // ---- data shared with the ops
  std::vector<Node> nodes;
  std::vector<uint32_t> arg_pool;
  std::vector<int32_t> int_data;    // variable-length int attributes (indices, axes)
  std::vector<float> float_data;    // input values copied at construction
  MemoryPool fx_pool{1 << 20};      // forward values
  MemoryPool dx_pool{1 << 20};      // gradients
  MemoryPool scratch_pool{1 << 16}; // per-node memory kept from forward to backward
  std::mt19937 rng{42};

  const uint32_t* args(const Node& n) const { return arg_pool.data() + n.arg0; }
  const Tensor& fx(uint32_t i) const { return values_[i]; }

  // Hook run when backward has accumulated into a parameter gradient.
  // Arguments: the storage (ParameterStorage* or, when is_lookup,
  // LookupParameterStorage*) and is_lookup. A parameter has one node per graph,
  // so for it the gradient is final when the hook runs (backward visits
  // nodes in reverse order and every consumer comes later); a lookup table
  // has one node per lookup, so its gradient is final only after backward.
  // Used by wait-free distribution (dynagraph.distributed).
  std::function<void(void* storage, bool is_lookup)> on_param_grad;

  // ---- sufficient factors (dynagraph.distributed's SFB scheme)
  // For every product W*x in which W is a parameter node (matmul's first
  // argument, affine_transform's odd arguments), W's gradient gets
  // U * V^T with U = dL/d(Wx) (M x K) and V = x (N x K), the K columns
  // being the product's columns over all batch elements. With
  // collect_factors set, backward copies (U, V) into `factors`; a parameter
  // whose gradient also came from anything else is listed in `dense_only`
  // (its factors are then incomplete). Both accumulate until the caller
  // clears them.
  struct Factor {
    void* param;
    unsigned m, n, k;
    std::vector<float> u, v;  // column-major M x K and N x K
  };
  bool collect_factors = false;
  std::vector<Factor> factors;
  std::vector<void*> dense_only;

 private:
  [[noreturn]] void throw_stale(const Expression& e) const;
  void eval_node(uint32_t i);
  void record_factor(const Node& n, unsigned k, const Tensor* xs, const Tensor& dy);

  std::vector<Tensor> values_;
  std::vector<Tensor> grads_;
  std::vector<Tensor> arg_scratch_;  // reused argument list for one op call
  uint32_t evaluated_ = 0;           // nodes [0, evaluated_) have values
  uint32_t version_ = 0;
  uint64_t epoch_ = 0;
  bool has_backward_ = false;

  struct Checkpoint {
    size_t nodes, args, ints, floats;
    uint32_t evaluated;
    MemoryPool::Mark fx, scratch;
  };
  std::vector<Checkpoint> checkpoints_;
};

// The process-wide graph that DyNet's API implies (renew_cg() renews it).
ComputationGraph& cg();

}  // namespace dg

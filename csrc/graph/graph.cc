#include "graph/graph.h"
#include "graph/autobatch_threads.h"

#include "core/gemm.h"

#include <algorithm>
#include <cstring>

#include "device/dispatch.h"
#include "ops/affine_activation.h"
#include "ops/common.h"
#include "params/parameter.h"

namespace dg {

DeviceMemory& ComputationGraph::device_memory() {
  if (!device_memory_) device_memory_ = std::make_shared<DeviceMemory>(*this);
  return *device_memory_;
}

ComputationGraph::ComputationGraph() {
  nodes.reserve(1024);
  arg_pool.reserve(2048);
  values_.reserve(1024);
}

bool ComputationGraph::survived_reverts(const Expression& e) const {
  if (e.version < first_version_ || e.version > version_) return false;
  for (const Revert& r : reverts_)
    if (r.ended >= e.version && e.i >= r.kept) return false;
  return e.i < nodes.size();
}

void ComputationGraph::throw_stale(const Expression& e) const {
  if (e.version < first_version_ || e.version > version_)
    throw Error(
        "stale Expression: it was created before the last renew_cg() (graph version " +
        std::to_string(e.version) + ", now " + std::to_string(version_) +
        "); build a new expression in the current graph");
  throw Error("stale Expression: node " + std::to_string(e.i) +
              " no longer exists (removed by cg_revert())");
}

namespace {
// Ops whose kernels index with 64-bit offsets (audited for tensors of 2^32 or
// more values); every other op refuses such tensors with an OverflowError
// rather than risk a 32-bit offset somewhere in its kernel.
bool handles_large_tensors(OpId op) {
  switch (op) {
    case OpId::input: case OpId::constant: case OpId::parameter: case OpId::lookup:
    case OpId::lookup_table: case OpId::random_normal: case OpId::random_uniform:
    case OpId::random_bernoulli: case OpId::random_gumbel:
    case OpId::add: case OpId::sub: case OpId::cmult: case OpId::cdiv: case OpId::pow:
    case OpId::bmin: case OpId::bmax: case OpId::negate: case OpId::add_scalar:
    case OpId::mul_scalar: case OpId::scalar_sub: case OpId::scalar_div:
    case OpId::tanh: case OpId::logistic: case OpId::log_sigmoid: case OpId::rectify:
    case OpId::elu: case OpId::selu: case OpId::silu: case OpId::softsign: case OpId::exp:
    case OpId::log: case OpId::sqrt: case OpId::square: case OpId::cube: case OpId::abs:
    case OpId::erf: case OpId::lgamma: case OpId::sin: case OpId::cos: case OpId::tan:
    case OpId::asin: case OpId::acos: case OpId::atan: case OpId::sinh: case OpId::cosh:
    case OpId::asinh: case OpId::acosh: case OpId::atanh: case OpId::floor: case OpId::ceil:
    case OpId::round: case OpId::nobackprop: case OpId::flip_gradient: case OpId::scale_gradient:
    case OpId::sum_elems: case OpId::sum_batches: case OpId::pick: case OpId::pick_range:
    case OpId::pick_batch_elems: case OpId::concatenate: case OpId::concatenate_to_batch:
    case OpId::reshape:
      return true;
    default:
      return false;
  }
}

constexpr size_t kMax32 = UINT32_MAX;

[[noreturn]] void refuse_large(const char* op, const Dim& y, const Dim* xs, unsigned nargs) {
  std::string s = std::string(op) + ": tensors of 2^32 or more values are not supported by this op; result shape " +
                  y.str();
  if (nargs) s += ", argument shapes:";
  for (unsigned k = 0; k < nargs; ++k) s += (k ? ", " : " ") + xs[k].str();
  throw OverflowError(s);
}
}  // namespace

Expression ComputationGraph::add(Node n, const uint32_t* args, unsigned nargs) {
  nodes.push_back(n);
  return commit(args, nargs);
}

Expression ComputationGraph::commit(const uint32_t* args, unsigned nargs) {
  Node& n = nodes.back();
  try {
    const OpImpl& impl = op_impl(n.op);
    if (impl.arity >= 0 && nargs != static_cast<unsigned>(impl.arity))
      throw ValueError(std::string(impl.name) + " takes " + std::to_string(impl.arity) +
                       " argument(s), got " + std::to_string(nargs));
    // Only the first nargs are written and read: no 8 Dims initialised per node.
    union Slots {
      Slots() {}
      Dim d[8];
    } in_dims;
    std::vector<Dim> many;
    Dim* dims = in_dims.d;
    if (nargs > 8) {
      many.resize(nargs);
      dims = many.data();
    }
    bool needs_grad = n.needs_grad;
    bool large = false;  // an argument or the result holds 2^32 or more values
    for (unsigned k = 0; k < nargs; ++k) {
      const Node& a = nodes[args[k]];
      dims[k] = a.dim;
      large = large || a.large;  // each argument's size was checked when it was added
      if (a.needs_grad && (impl.diff_mask >> (k < 31 ? k : 31) & 1u)) needs_grad = true;
    }
    n.nargs = static_cast<uint16_t>(nargs);
    n.arg0 = static_cast<uint32_t>(arg_pool.size());
    const Dim y = impl.dim_forward(*this, n, dims);  // throws before anything is committed
    const bool large_result = y.size() > kMax32;
    if ((large || large_result) && !handles_large_tensors(n.op)) refuse_large(impl.name, y, dims, nargs);
    if (has_device_nodes_ || n.device != kCpuDevice || n.op == OpId::to_device) {
      n.dim = y;
      assign_device(*this, n, args, nargs, dims);  // throws for an op without a kernel on the device
      has_device_nodes_ = has_device_nodes_ || n.device != kCpuDevice;
    }
    for (unsigned k = 0; k < nargs; ++k) arg_pool.push_back(args[k]);  // (a range insert calls memmove)
    values_.emplace_back();
    // Last: dim_forward has just written y, often field by field, and a wide copy
    // of it right away would wait for those stores (store forwarding) as above.
    n.dim = y;
    n.large = large_result;
    n.needs_grad = needs_grad;
  } catch (...) {
    nodes.pop_back();
    throw;
  }
  Expression e{static_cast<uint32_t>(nodes.size() - 1), version_};
  if (immediate_compute) forward(e.i);
  return e;
}

void ComputationGraph::eval_node(uint32_t i) {
  const Node& n = nodes[i];
  if (has_device_nodes_) swap_before_forward(*this, i);  // under a device budget: arguments back on the device
  const uint32_t* a = args(n);
  // Grows only: ops read n.nargs of them (a resize between 1 and 2 arguments,
  // node after node, constructed a Tensor each time).
  if (arg_scratch_.size() < n.nargs) arg_scratch_.resize(n.nargs);
  for (unsigned k = 0; k < n.nargs; ++k) arg_scratch_[k] = values_[a[k]];
  Tensor& y = values_[i];
  y.d = n.dim;
  y.v = nullptr;  // ops that alias existing memory (parameters) set it themselves
  y.device = n.device;
  if (n.device != kCpuDevice) {
    device_forward(*this, n, arg_scratch_.data(), y);
    return swap_after_forward(*this, i);
  }
  op_impl(n.op).forward(*this, n, arg_scratch_.data(), y);
}

const Tensor& ComputationGraph::forward(uint32_t upto) {
  if (upto >= nodes.size()) throw IndexError("node index out of range");
  const uint32_t before = evaluated_;
  if (has_device_nodes_) {
    device_memory().forward_end = upto;  // how far the plans may prefetch parameters
    if (evaluated_ <= upto) swap_forward_from(*this, evaluated_);  // the values from there on are dead
  }
  if (autobatch) {
    forward_batched(upto);
  } else {
    // Counted once the node has its value: a node whose op raised stays unevaluated,
    // so the next forward runs it again rather than reading its empty value.
    while (evaluated_ <= upto) {
      eval_node(evaluated_);
      ++evaluated_;
    }
  }
  if (check_validity) {
    for (uint32_t i = before; i < evaluated_; ++i) {
      Tensor v = values_[i];
      std::vector<float> host;
      if (v.v && v.device != kCpuDevice) {
        host.resize(v.d.size());
        copy_to_host(v, host.data());
        v.v = host.data();
      }
      if (v.v && !v.vec().allFinite())
        throw ValueError("check_validity: the value of node " + std::to_string(i) + " (" +
                         op_impl(nodes[i].op).name + ", shape " + v.d.str() + ") holds NaN or inf");
    }
  }
  if (has_device_nodes_) {
    swap_resident(*this, upto);
    swap_finish(*this);  // no copy left in flight when control returns to the caller
  }
  return values_[upto];
}

void ComputationGraph::backward(uint32_t from, bool full) {
  forward(from);
  const Node& top = nodes[from];
  if (top.dim.batch_size() != 1)
    throw ValueError("backward() needs a scalar expression (or a batch of scalars); got shape " +
                     top.dim.str());
  dx_pool.reset();
  if (device_memory_) device_memory_->reset_grads();
  lazy_grads_ = false;  // a batched backward cut short by an error may have left it on
  has_backward_ = true;
  ++backward_serial;
  if (!full && !top.needs_grad) {  // no parameter below: nothing to differentiate (and no buffer for the seed)
    grads_.assign(from + 1, Tensor());
    return;
  }
  // Every node ran in a recorded group: backward by groups too -- unless sufficient factors are
  // being recorded, which only the per-node backward does (a batched product would be missing).
  if (autobatch && group_nodes_.size() == evaluated_ && !collect_factors) {
    param_hook_begin(evaluated_);  // batched backward visits every evaluated node
    backward_batched(from, full);
    return;
  }
  grads_.assign(from + 1, Tensor());
  // Gradient buffers only for nodes that lead to a parameter (or all, when full).
  for (uint32_t j = 0; j <= from; ++j) {
    const Node& n = nodes[j];
    if (!(full || n.needs_grad)) continue;
    if (n.device != kCpuDevice) {
      grads_[j] = device_grad_buffer(*this, j, j == from);
      continue;
    }
    Tensor& g = grads_[j];
    g.d = n.dim;
    g.v = dx_pool.allocate_floats(n.dim.size());
    std::memset(g.v, 0, sizeof(float) * n.dim.size());
  }
  if (nodes[from].device == kCpuDevice) grads_[from].arr().setConstant(1.f);
  outer_slot_.assign(from + 1, -1);
  outer_used_ = 0;
  outer_scratch_v_.clear();  // (a new pass: memory may hold other values at the same addresses)
  std::vector<Tensor> xs;
  param_hook_begin(from + 1);
  for (uint32_t j = from + 1; j-- > 0;) backward_node(j, xs);
  if (has_device_nodes_) swap_finish(*this);
}

void ComputationGraph::param_hook_begin(uint32_t end) {
  param_hook_left_.clear();
  if (!on_param_grad) return;
  // Every trainable parameter node below `end` has a gradient buffer, so backward
  // visits each: count them per storage (sorted, so a repeat is adjacent).
  param_hook_nodes_.clear();
  for (uint32_t j = 0; j < end; ++j) {
    const Node& n = nodes[j];
    if (n.nargs == 0 && n.op == OpId::parameter && n.needs_grad) param_hook_nodes_.emplace_back(n.ptr, j);
  }
  param_hook_slot_.assign(end, -1);
  std::sort(param_hook_nodes_.begin(), param_hook_nodes_.end());
  for (size_t a = 0, b; a < param_hook_nodes_.size(); a = b) {
    for (b = a + 1; b < param_hook_nodes_.size() && param_hook_nodes_[b].first == param_hook_nodes_[a].first;) ++b;
    if (b - a == 1) continue;  // the usual case: one node, reported when visited
    const int32_t slot = static_cast<int32_t>(param_hook_left_.size());
    param_hook_left_.push_back(static_cast<uint32_t>(b - a));
    for (size_t k = a; k < b; ++k) param_hook_slot_[param_hook_nodes_[k].second] = slot;
  }
}

void ComputationGraph::param_hook_report(uint32_t j) {
  const Node& n = nodes[j];
  const bool is_lookup = n.op == OpId::lookup || n.op == OpId::lookup_table;
  if (!is_lookup && !param_hook_left_.empty() && j < param_hook_slot_.size() && param_hook_slot_[j] >= 0 &&
      --param_hook_left_[param_hook_slot_[j]] != 0)
    return;  // another trainable node of this parameter has yet to add its part
  on_param_grad(n.ptr, is_lookup);
}

void ComputationGraph::add_outer_product(Tensor& dA, const Tensor& u, const Tensor& v) {
  const unsigned m = u.d.rows(), n = v.d.rows(), k = u.d.size() / m;
  if (current_target_ >= outer_slot_.size() || grads_[current_target_].v != dA.v) {
    if (k == 1) rank1_acc(dA.v, u.v, v.v, m, n);
    else gemm(dA.v, u.v, false, v.v, true, m, n, k);
    return;
  }
  int32_t& slot = outer_slot_[current_target_];
  if (slot < 0) {
    slot = static_cast<int32_t>(outer_used_++);
    if (outer_pending_.size() < outer_used_) {
      outer_pending_.resize(outer_used_);
      outer_columns_.resize(outer_used_);
    }
    outer_pending_[slot].clear();
    outer_columns_[slot] = 0;
  }
  outer_pending_[slot].push_back({u.v, v.v, k});
  if ((outer_columns_[slot] += k) >= kOuterFlushColumns) flush_outer_products(current_target_);
}

void ComputationGraph::flush_outer_products(uint32_t j) {
  if (j >= outer_slot_.size() || outer_slot_[j] < 0) return;
  auto& terms = outer_pending_[outer_slot_[j]];
  outer_slot_[j] = -1;
  Tensor& dA = grads_[j];
  const unsigned m = dA.d.rows(), n = dA.d.size() / m;
  if (terms.size() == 1) {  // a weight used once (or by one group of all the leaves): no copies
    const OuterFactor& t = terms[0];
    if (t.k == 1) rank1_acc(dA.v, t.u, t.v, m, n);
    else outer_products_by_columns(dA.v, t.u, t.v, m, n, t.k);  // on the engine's threads when it pays
    terms.clear();
    return;
  }
  size_t K = 0;
  for (const OuterFactor& t : terms) K += t.k;
  // Reused scratch (at most kOuterFlushColumns-and-a-term wide): no zero-fill after it first grows.
  if (outer_scratch_.size() < (size_t(m) + n) * K) {
    outer_scratch_.resize((size_t(m) + n) * K);
    outer_scratch_v_.clear();
  }
  float* U = outer_scratch_.data();
  float* V = U + size_t(m) * K;
  // A cell's gate weights (U_i e, U_o e, ...) take their terms from the same operands, level
  // by level, and flush one after the other: V, copied for the first, is still there.
  bool same_v = outer_scratch_v_.size() == terms.size() && outer_scratch_m_ == m && outer_scratch_n_ == n;
  for (size_t i = 0; same_v && i < terms.size(); ++i)
    same_v = outer_scratch_v_[i].first == terms[i].v && outer_scratch_v_[i].second == terms[i].k;
  size_t col = 0;
  for (const OuterFactor& t : terms) {
    std::memcpy(U + col * m, t.u, sizeof(float) * m * t.k);
    if (!same_v) std::memcpy(V + col * n, t.v, sizeof(float) * n * t.k);
    col += t.k;
  }
  if (!same_v) {
    outer_scratch_v_.clear();
    for (const OuterFactor& t : terms) outer_scratch_v_.emplace_back(t.v, t.k);
    outer_scratch_m_ = m;
    outer_scratch_n_ = n;
  }
  outer_products_by_columns(dA.v, U, V, m, n, unsigned(K));  // on the engine's threads when it pays
  terms.clear();
}

Tensor ComputationGraph::preactivation_grad(const Node& n, const Tensor& y, const Tensor& dy) {
  if (n.op != OpId::affine_transform || n.i0 == affine_activation::kNone) return dy;
  Tensor dz(dy.d, dx_pool.allocate_floats(dy.d.size()));  // (a folded node is on the CPU: graph/absorb.cc)
  affine_activation::gradient(n.i0, y, dy, dz.v);
  return dz;
}

void ComputationGraph::backward_node(uint32_t j, std::vector<Tensor>& xs) {
  const Node& n = nodes[j];
  if (has_device_nodes_) swap_before_backward(*this, j);  // under a device budget: operands back on the device
  if (!grads_[j].v) return;
  flush_outer_products(j);  // every user of j has run: its gradient is complete
  const Tensor dy = preactivation_grad(n, values_[j], grads_[j]);
  const OpImpl& impl = op_impl(n.op);
  const uint32_t* a = args(n);
  if (xs.size() < n.nargs) xs.resize(n.nargs);  // grows only, as in eval_node
  for (unsigned k = 0; k < n.nargs; ++k) xs[k] = values_[a[k]];
  for (unsigned k = 0; k < n.nargs; ++k) {
    Tensor& dx = grads_[a[k]];
    if (!dx.v || !(impl.diff_mask >> (k < 31 ? k : 31) & 1u)) continue;
    touch_grad(a[k]);
    if (collect_factors && nodes[a[k]].op == OpId::parameter) record_factor(n, k, xs.data(), dy);
    current_target_ = a[k];
    if (n.device != kCpuDevice) device_backward(*this, n, xs.data(), values_[j], dy, k, dx);
    else impl.backward(*this, n, xs.data(), values_[j], dy, k, dx);
  }
  current_target_ = UINT32_MAX;
  if (n.nargs == 0 && n.needs_grad) {
    // A parameter or lookup node: hand the gradient to its storage.
    Tensor& g = grads_[j];
    if (n.device != kCpuDevice) device_backward(*this, n, nullptr, values_[j], g, 0, g);
    else impl.backward(*this, n, nullptr, values_[j], g, 0, g);
    if (on_param_grad) param_hook_report(j);
  }
}

void ComputationGraph::record_factor(const Node& n, unsigned k, const Tensor* xs, const Tensor& dy) {
  void* param = nodes[args(n)[k]].ptr;
  auto marked = [param](const auto& d) { return d.first == param; };
  if (std::find_if(dense_only.begin(), dense_only.end(), marked) != dense_only.end()) return;
  auto entry = std::find_if(factors.begin(), factors.end(), [param](const Factor& f) { return f.param == param; });
  auto reference = [param]() -> std::shared_ptr<void> {
    return static_cast<ParameterStorage*>(param)->weak_from_this().lock();  // null for a stack-owned storage
  };
  auto make_dense = [&] {
    if (entry != factors.end()) {
      spare_factor_buffers_.push_back(std::move(entry->u));
      spare_factor_buffers_.push_back(std::move(entry->v));
      factors.erase(entry);
    }
    dense_only.emplace_back(param, reference());
  };
  bool product = (n.op == OpId::matmul && k == 0) || (n.op == OpId::affine_transform && k % 2 == 1);
  // W is batch-1, so y = W x has x's batch; a batched bias (affine) breaks that.
  if (!product || xs[k + 1].d.bd != dy.d.bd) return make_dense();
  // U = dy and V = x as wide column-major blocks (columns over the batch), in
  // host memory or on n's device: either way one copy per block into staging.
  const Tensor& x = xs[k + 1];
  const unsigned m = dy.d.rows(), nn = x.d.rows();
  const unsigned cols = static_cast<unsigned>(dy.d.size() / m);
  if (entry == factors.end()) {
    factors.push_back(Factor{param, reference(), m, nn, 0, spare_factor_buffer(), spare_factor_buffer()});
    entry = factors.end() - 1;
  }
  if (factors_cap && (uint64_t(entry->k) + cols) * (m + nn) > uint64_t(m) * nn) return make_dense();
  entry->u.append(dy.v, size_t(m) * cols, n.device);
  entry->v.append(x.v, size_t(nn) * cols, n.device);
  entry->k += cols;
}

HostStaging ComputationGraph::spare_factor_buffer() {
  if (spare_factor_buffers_.empty()) return HostStaging();
  HostStaging b = std::move(spare_factor_buffers_.back());
  spare_factor_buffers_.pop_back();
  b.clear();
  return b;
}

void ComputationGraph::release_factors() {
  for (Factor& f : factors) {
    spare_factor_buffers_.push_back(std::move(f.u));
    spare_factor_buffers_.push_back(std::move(f.v));
  }
  factors.clear();
}

void ComputationGraph::reset_factors(bool on, bool cap) {
  collect_factors = on;
  factors_cap = cap;
  release_factors();
  dense_only.clear();
}

Tensor ComputationGraph::gradient(uint32_t i) const {
  if (has_backward_ && i < grads_.size() && has_device_nodes_ && device_memory_)
    if (const SwapPlan* plan = device_memory_->plan_if(nodes[i].device)) {  // under a budget: maybe on the host
      const Tensor t = plan->gradient_view(i, grads_[i]);
      if (t.v) return t;
    }
  if (!has_backward_ || i >= grads_.size() || !grads_[i].v)
    throw Error(
        "no gradient for this expression: call backward() first (use backward(full=True) "
        "for expressions that do not depend on parameters)");
  return grads_[i];
}

void ComputationGraph::clear() {
  nodes.clear();
  arg_pool.clear();
  int_data.clear();
  float_data.clear();
  values_.clear();
  grads_.clear();
  groups_.clear();
  group_nodes_.clear();
  checkpoints_.clear();
  fx_pool.reset();
  dx_pool.reset();
  scratch_pool.reset();
  if (device_memory_) device_memory_->reset();
  has_device_nodes_ = false;
  aliased_below_ = 0;
  evaluated_ = 0;
  has_backward_ = false;
  ++version_;
  first_version_ = version_;
  reverts_.clear();
  ++epoch_;
  ++generation_;
  // Last: releasing a storage may free it (its collection is gone), and
  // nothing above may still point into it.
  kept_alive_.clear();
}

std::shared_ptr<ChunkPin> ComputationGraph::pin_value(const Tensor& t) {
  if (!t.v) return nullptr;
  if (t.device != kCpuDevice) return device_memory_ ? device_memory_->pin(t.device, t.v) : nullptr;
  if (auto pin = fx_pool.pin(t.v)) return pin;
  return scratch_pool.pin(t.v);
}

void ComputationGraph::checkpoint() {
  checkpoints_.push_back({nodes.size(), arg_pool.size(), int_data.size(), float_data.size(),
                          evaluated_, groups_.size(), fx_pool.mark(), scratch_pool.mark()});
}

void ComputationGraph::revert() {
  if (checkpoints_.empty()) throw Error("cg_revert() without a matching cg_checkpoint()");
  Checkpoint c = checkpoints_.back();
  checkpoints_.pop_back();
  nodes.resize(c.nodes);
  values_.resize(c.nodes);
  arg_pool.resize(c.args);
  int_data.resize(c.ints);
  float_data.resize(c.floats);
  if (evaluated_ > c.evaluated) {
    evaluated_ = c.evaluated;
    groups_.resize(c.groups);
    group_nodes_.resize(groups_.empty() ? 0 : groups_.back().first + groups_.back().count);
    fx_pool.revert(c.fx);
    scratch_pool.revert(c.scratch);
  }
  grads_.clear();
  has_backward_ = false;
  reverts_.push_back({version_, c.nodes});
  ++version_;
  ++epoch_;
}

}  // namespace dg

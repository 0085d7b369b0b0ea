// Expression, graph lifetime and value conversion.
#include <algorithm>
#include <cstring>

#include "device/dispatch.h"
#include "graph/autobatch_profile.h"
#include "ops/affine_activation.h"
#include "python/bindings.h"

namespace dg::py_bind {

py::tuple dim_to_py(const Dim& d) {
  py::tuple axes(d.nd);
  for (unsigned i = 0; i < d.nd; ++i) axes[i] = d.d[i];
  return py::make_tuple(axes, d.bd);
}

py::array widened_array(const std::vector<py::ssize_t>& shape, std::vector<py::ssize_t> strides, const float* v,
                        size_t n) {
  // float64, as DyNet hands values out (its arrays are built from Python floats).
  // The copy is twice the value: refused with a MemoryError when both cannot fit
  // (NumPy would allocate it lazily, and the process be killed filling it).
  check_allocation(n * (sizeof(double) + sizeof(float)), "Expression.npvalue (a float64 copy of a float32 value)");
  for (auto& s : strides) s *= sizeof(double);
  py::array_t<double> out(shape, strides);
  double* dst = out.mutable_data();
  for (size_t i = 0; i < n; ++i) dst[i] = v[i];
  return std::move(out);
}

py::array to_numpy(const Tensor& device_t) {
  std::vector<float> staging;
  const Tensor t = host_view(device_t, staging);
  std::vector<py::ssize_t> shape, strides;
  py::ssize_t stride = 1;
  for (unsigned i = 0; i < t.d.nd; ++i) {
    shape.push_back(t.d.d[i]);
    strides.push_back(stride);
    stride *= t.d.d[i];
  }
  if (t.d.bd > 1) {
    shape.push_back(t.d.bd);
    strides.push_back(stride);
  }
  return widened_array(shape, strides, t.v, t.d.size());
}

Floats floats_from(const py::handle& v, const char* fn) {
  Floats out;
  if (py::isinstance<py::array>(v)) {
    auto a = py::reinterpret_borrow<py::array>(v);
    const char kind = a.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
      throw py::type_error(std::string(fn) + ": expected numbers, got an array of dtype " +
                           std::string(py::str(a.dtype())));
    if (a.ndim() != 1)
      throw ValueError(std::string(fn) + ": expected a 1-D array, got shape " + std::string(py::str(v.attr("shape"))));
    auto f32 = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(v);
    out.begin = f32.data();
    out.n = static_cast<size_t>(f32.size());
    out.holder = std::move(f32);
    return out;
  }
  try {
    out.list = py::cast<std::vector<float>>(v);
  } catch (const py::cast_error&) {
    throw py::type_error(std::string(fn) + ": expected a list of numbers or a 1-D NumPy array, got " +
                         std::string(py::str(py::type::of(v))));
  }
  return out;
}

py::array real_array(const py::object& obj, const std::string& fn, const char* arg) {
  // Only real numbers are data: NumPy would read None as nan, and a ragged list
  // or strings as an object or text array.
  py::array any = py::array::ensure(obj);
  const char kind = any ? any.dtype().kind() : 'O';
  if (obj.is_none() || (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')) {
    std::string got = any && !obj.is_none() && kind != 'O' ? "an array of dtype " + std::string(py::str(any.dtype()))
                                                           : std::string(Py_TYPE(obj.ptr())->tp_name);
    throw py::type_error(fn + ": argument '" + arg +
                         "' must be a NumPy array or a (nested) list of real numbers, got " + got);
  }
  return any;
}

Expression input_from_array(const py::object& obj, bool batched, int device) {
  auto arr = py::array_t<float, py::array::f_style | py::array::forcecast>::ensure(real_array(obj, "inputTensor", "arr"));
  if (!arr) throw std::bad_alloc();  // a real dtype converts to float32 unless memory runs out
  std::vector<long> ds(arr.shape(), arr.shape() + arr.ndim());
  long batch = 1;
  if (batched) {
    if (ds.empty()) throw ValueError("inputTensor(batched=True) needs at least one axis (the batch)");
    batch = ds.back();
    ds.pop_back();
  }
  if (ds.empty()) ds.push_back(1);
  return api::input(arr.data(), Dim::from_vector(ds, batch), device);
}

namespace {

// The value of e in host memory (device values are copied into a per-thread buffer).
Tensor value_of(const Expression& e, bool recalculate) {
  ComputationGraph& g = cg();
  g.check(e);
  if (recalculate) g.invalidate();
  thread_local std::vector<float> staging;
  return host_view(g.forward(e.i), staging);
}

float scalar_of(const Tensor& t) {
  if (t.d.size() != 1)
    throw ValueError("scalar_value(): expression has shape " + t.d.str() + ", not a single value");
  return t.v[0];
}

py::list vec_of(const Tensor& t) {
  py::list out(t.d.size());
  for (unsigned k = 0; k < t.d.size(); ++k) out[k] = py::float_(t.v[k]);
  return out;
}

// A switch for tests and measurements: set to `on`; returns its previous setting.
bool set_switch(bool& flag, bool on) {
  const bool before = flag;
  flag = on;
  return before;
}

// A node's op as graph printers show it: "tanh(affine_transform)" for an
// affine_transform with a folded activation (ops/affine_activation.h).
std::string node_op_name(const Node& n) {
  const char* op = op_impl(n.op).name;
  if (n.op == OpId::affine_transform)
    if (const char* f = affine_activation::name(n.i0)) return std::string(f) + "(" + op + ")";
  return op;
}

}  // namespace

void bind_graph(py::module_& m) {
  init_expr_type(m);
  py::handle E = m.attr("Expression");
  def_method(E, "dim", named("Expression.dim", [](const Expression& e) {
    cg().check(e);
    return dim_to_py(cg().nodes[e.i].dim);
  }), "Shape as ((axes...), batch).");
  def_method(E, "value", named("Expression.value", [](const Expression& e, bool recalculate) -> py::object {
    const Tensor t = value_of(e, recalculate);
    if (t.d.size() == 1) return py::float_(t.v[0]);
    if (t.d.nd == 1) return vec_of(t);
    return to_numpy(t);
  }), py::arg("recalculate") = false,
     "float for a scalar, list for a vector (batch elements concatenated), else npvalue().");
  def_method(E, "npvalue", named("Expression.npvalue",
      [](const Expression& e, bool recalculate) { return to_numpy(value_of(e, recalculate)); }),
             py::arg("recalculate") = false, "Value as a NumPy array: the axes, plus the batch as a last axis if > 1.");
  def_method(E, "scalar_value", named("Expression.scalar_value",
      [](const Expression& e, bool recalculate) { return scalar_of(value_of(e, recalculate)); }),
             py::arg("recalculate") = false);
  def_method(E, "vec_value", named("Expression.vec_value",
      [](const Expression& e, bool recalculate) { return vec_of(value_of(e, recalculate)); }),
             py::arg("recalculate") = false);
  def_method(E, "forward", named("Expression.forward", [](const Expression& e, bool recalculate) {
    cg().check(e);
    if (recalculate) cg().invalidate();
    cg().forward(e.i);
  }),
             py::arg("recalculate") = false);
  def_method(E, "backward", named("Expression.backward", [](const Expression& e, bool full) {
    cg().check(e);
    cg().backward(e.i, full);
  }), py::arg("full") = false, "Reverse-mode gradients of this scalar (summed over the batch).");
  def_method(E, "gradient", named("Expression.gradient", [](const Expression& e) {
    cg().check(e);
    return to_numpy(cg().gradient(e.i));
  }));
  // DyNet's form, "expression <node>/<graph version>", which programs log.
  def_method(E, "__repr__", [](const Expression& e) {
    return "expression " + std::to_string(e.i) + "/" + std::to_string(e.version);
  }, "\"expression N/V\": the node's number N in graph version V, as DyNet prints it.");

  def(m, "renew_cg", [](bool immediate_compute, bool check_validity) {
    cg().clear();
    cg().immediate_compute = immediate_compute;
    cg().check_validity = check_validity;
  }, py::arg("immediate_compute") = false, py::arg("check_validity") = false,
     "Drops the current graph (expressions made before are stale); the flags hold for the new graph.");
  def(m, "cg_version", []() { return cg().version(); },
        "The current graph's version: renew_cg() and cg_revert() start a new one (DyNet's cg_version).");
  def(m, "_kept_alive_count", []() { return cg().kept_alive_count(); },
        "Parameter storages the current graph holds a reference to (one per storage used; 0 after renew_cg).");
  def(m, "cg_epoch", []() { return cg().epoch(); },
        "Changes at every renew_cg() and cg_revert(): expressions cached under an older epoch may have "
        "been removed (and their node numbers reused), so caches of expressions key on this.");
  def(m, "cg_checkpoint", []() { cg().checkpoint(); }, "Marks the graph's current size; cg_revert() goes back to it.");
  def(m, "cg_revert", []() { cg().revert(); },
        "Removes the nodes added since the last cg_checkpoint() (their expressions become stale).");
  def(m, "graph_size", []() { return cg().size(); }, "Number of nodes in the current graph.");
  def(m, "forward_all", [](const std::vector<Expression>& es, bool recalculate) {
    uint32_t top = 0;
    for (auto& e : es) {
      cg().check(e);
      if (e.i > top) top = e.i;
    }
    if (recalculate) cg().invalidate();
    if (!es.empty()) cg().forward(top);
  }, py::arg("exps"), py::arg("recalculate") = false);
  def(m, "set_autobatch", [](bool on) { cg().autobatch = on; }, "Switch the autobatching executor on or off.");
  def(m, "get_autobatch", []() { return cg().autobatch; });
  def(m, "set_autobatch_policy", [](const std::string& name) {
    if (name == "height") cg().batch_policy = ComputationGraph::BatchPolicy::height;
    else if (name == "depth") cg().batch_policy = ComputationGraph::BatchPolicy::depth;
    else throw py::value_error("set_autobatch_policy: the policy must be 'height' or 'depth', got '" + name + "'");
  }, "Which ready group the autobatching executor runs next: 'height' (longest remaining path, the default) "
     "or 'depth' (DyNet's rule: closest to the inputs).");
  def(m, "get_autobatch_policy", []() {
    return std::string(cg().batch_policy == ComputationGraph::BatchPolicy::height ? "height" : "depth");
  }, "The autobatching executor's rule for the next group: \"height\" (default) or \"depth\" (DyNet's).");
  def(m, "autobatch_stats", []() {
    auto& s = cg().batch_stats;
    const AutobatchProfile& p = autobatch_profile();
    py::dict phases(py::arg("fwd_setup") = p.fwd_setup, py::arg("fwd_gather") = p.fwd_gather,
                    py::arg("fwd_kernel") = p.fwd_kernel, py::arg("fwd_release") = p.fwd_release,
                    py::arg("bwd_setup") = p.bwd_setup, py::arg("bwd_memset") = p.bwd_memset,
                    py::arg("bwd_kernel") = p.bwd_kernel, py::arg("bwd_scatter") = p.bwd_scatter,
                    py::arg("bwd_outer") = p.bwd_outer);
    return py::dict(py::arg("nodes") = s.nodes, py::arg("groups") = s.groups,
                    py::arg("scheduler_ns") = s.scheduler_ns, py::arg("args_in_place") = p.args_in_place,
                    py::arg("args_gathered") = p.args_gathered, py::arg("grads_in_place") = p.grads_in_place,
                    py::arg("grads_scattered") = p.grads_scattered,
                    py::arg("grads_aliased") = p.grads_aliased, py::arg("products_stacked") = p.products_stacked,
                    py::arg("stacked_sets") = p.stacked_sets, py::arg("weights_transposed") = p.weights_transposed,
                    py::arg("groups_pooled") = p.groups_pooled,
                    py::arg("waves_pooled") = p.waves_pooled, py::arg("pieces_forward") = p.pieces_forward,
                    py::arg("pieces_backward") = p.pieces_backward, py::arg("pieces_outer") = p.pieces_outer,
                    py::arg("groups_waved_backward") = p.groups_waved_backward,
                    py::arg("waves_backward") = p.waves_backward,
                    py::arg("outputs_placed") = p.outputs_placed, py::arg("phase_ns") = phases);
  }, "Nodes executed, kernel groups launched and scheduler time since start (autobatching); batched "
     "arguments used in place (one contiguous block) or gathered, and their gradients likewise (counted since "
     "start or the last set_autobatch_profiling); grads_aliased: groups whose gradient block is their only "
     "user's (an argument of add, sub, esum or +c whose gradient is the user's own: no zeroing, no copy); "
     "products_stacked: product groups run as part of one GEMM over stacked weights, in stacked_sets such GEMMs "
     "(see set_autobatch_stacking); weights_transposed: transposed copies of weight matrices made in batched "
     "backward passes (one per matrix per pass; a group's W^T dY then runs as a plain product); groups_pooled: groups run on the engine's threads, in waves_pooled waves "
     "(see set_num_threads); pieces_forward: pieces of groups split by members over the threads, "
     "pieces_backward: argument gradients so split, pieces_outer: weight-gradient products split by columns; "
     "groups_waved_backward: groups whose argument gradients ran at once with other groups' on the threads, "
     "in waves_backward such waves; "
     "outputs_placed: groups whose output was written where a later group reads it together with other "
     "groups' outputs as one argument (no gather); phase_ns: nanoseconds per "
     "executor phase while set_autobatch_profiling(True) is on (zeros otherwise).");
  def(m, "_set_autobatch_fault", &set_autobatch_fault, py::arg("members"),
      "For tests: the next batched group of at least `members` members raises IndexError in its forward, or "
      "(set after the forward) in its backward (0: off).");
  def(m, "_autobatch_pool_min_work", &autobatch_pool_min_work, py::arg("work") = -1.0,
      "For measurements: the work (values read and written, plus a product's multiply-adds) from which a "
      "group may run on the engine's threads; sets it when work >= 0 and returns the previous value.");
  def(m, "_set_autobatch_backward_waves", [](bool on) {
    const bool before = autobatch_backward_waves();
    autobatch_backward_waves() = on;
    return before;
  }, py::arg("on"),
      "For measurements and tests: whether backward on the engine's threads runs independent groups at once "
      "(default on); returns the previous setting.");
  def(m, "set_autobatch_stacking", [](bool on) { cg().stack_products = on; }, py::arg("on"),
      "Whether the autobatching executor runs ready products of different weights with the same batched "
      "right operand (W_i x, W_o x, ... of a cell's gates) as one GEMM over the weights stacked, for groups of "
      "32 members or more (default off: on one CPU core it measured slower, the copies costing more than the "
      "larger GEMM saves). Results are the same either way up to float rounding.");
  def(m, "get_autobatch_stacking", []() { return cg().stack_products; },
      "Whether products sharing a batched right operand run as one GEMM (set_autobatch_stacking).");
  m.def("_set_autobatch_place_outputs", [](bool on) { autobatch_place_outputs() = on; }, py::arg("on"),
        "For tests and measurements: whether autobatched forward writes groups' outputs end to end where a "
        "later group reads them as one argument (default on).");
  m.def("_set_absorb_bias", [](bool on) { return set_switch(ComputationGraph::absorb_bias_on(), on); }, py::arg("on"),
        "For tests and measurements: whether `W * x + b` with a product nothing else holds is built as one "
        "affine_transform node (default on); returns the previous setting.");
  m.def("_set_absorb_activation", [](bool on) { return set_switch(ComputationGraph::absorb_activation_on(), on); },
        py::arg("on"),
        "For tests and measurements: whether tanh / logistic / rectify of an affine_transform nothing else "
        "holds (f(W * x + b)) is folded into that node (default on); returns the previous setting.");
  m.def("_set_autobatch_share_grads", [](bool on) { autobatch_share_grads() = on; }, py::arg("on"),
        "For tests and measurements: whether autobatched backward lets an add's / sub's / esum's "
        "arguments share its gradient block (default on).");
  def(m, "set_autobatch_profiling", [](bool on) {
    AutobatchProfile& p = autobatch_profile();
    p = AutobatchProfile{};
    p.on = on;
  }, py::arg("on"), "Turns the autobatching executor's per-phase timers on or off (and resets them); "
     "autobatch_stats()['phase_ns'] reports them. DyNet's --dynet-profiling, for the executor's phases.");
  def(m, "set_seed", [](unsigned seed) {
    cg().rng.seed(seed);
    cg().device_seed = seed;  // device dropout: the same seed draws the same masks again
    cg().device_memory().rng_counter = 0;
    cg().cpu_counter = 0;  // and LSTM weight noise on the CPU the noise a device draws
  });
  def(m, "set_initial_memory", [](size_t bytes) {
    cg().fx_pool.set_initial_bytes(bytes);
    cg().dx_pool.set_initial_bytes(bytes);
  });
  def(m, "memory_in_use", []() {
    ComputationGraph& g = cg();
    return py::dict(py::arg("forward") = g.fx_pool.capacity_bytes(),
                    py::arg("backward") = g.dx_pool.capacity_bytes(),
                    py::arg("scratch") = g.scratch_pool.capacity_bytes());
  }, "Bytes reserved by the graph's memory pools.");
  def(m, "op_table", []() {
    static const char* const kBatchNames[] = {"none", "plain", "per_element"};
    auto devices = [](uint32_t bits) {
      py::list out;
      if (bits & DG_DEV_CPU) out.append("CPU");
      if (bits & DG_DEV_GPU) out.append("GPU");
      return out;
    };
    auto words = [](const char* text) { return py::str(text).attr("split")(); };
    py::list out;
#define DG_OP(name, family, arity, diff, batch, devs, functions)                                          \
    out.append(py::dict(py::arg("name") = #name, py::arg("family") = #family, py::arg("arity") = arity,    \
                        py::arg("diff_mask") = diff,                                                        \
                        py::arg("batch") = kBatchNames[static_cast<int>(BatchKind::batch)],                 \
                        py::arg("devices") = devices(devs), py::arg("functions") = words(functions)));
#include "ops/op_table.def"
#undef DG_OP
    return out;
  }, "Every registered op, as op_table.def lists it: name, family, arity (-1 = any), differentiable-argument "
     "mask, autobatching kind (none, plain, per_element), devices with a kernel (CPU, GPU) and the functions "
     "that build it.");
  def(m, "op_families", []() {
    py::list out;
#define DG_FAMILY(family, title) out.append(py::dict(py::arg("name") = #family, py::arg("title") = title));
#include "ops/op_table.def"
#undef DG_FAMILY
    return out;
  }, "The op families in op_table.def's order: name (csrc/ops/<name>.cc) and title.");
  def(m, "node_ops", []() {
    py::list out;
    for (auto& n : cg().nodes) out.append(node_op_name(n));
    return out;
  }, "The op name of every node of the current graph, in order.");
  def(m, "graph_nodes", []() {
    ComputationGraph& g = cg();
    py::list out;
    for (const Node& n : g.nodes) {
      py::tuple args(n.nargs);
      for (unsigned k = 0; k < n.nargs; ++k) args[k] = g.args(n)[k];
      py::object param = py::none();
      if (n.op == OpId::parameter) param = py::str(static_cast<ParameterStorage*>(n.ptr)->name);
      if (n.op == OpId::lookup) param = py::str(static_cast<LookupParameterStorage*>(n.ptr)->name);
      out.append(py::make_tuple(node_op_name(n), args, dim_to_py(n.dim), param));
    }
    return out;
  }, "Every node of the current graph as (op name, argument node ids, ((axes...), batch), "
     "parameter name or None), in order: what graph printers need.");
  def(m, "node_expression", [](uint32_t i) {
    ComputationGraph& g = cg();
    if (i >= g.size())
      throw IndexError("node_expression: node " + std::to_string(i) + " out of range for a graph of " +
                       std::to_string(g.size()) + " nodes");
    g.mark_aliased(i);  // a second object for node i: W * x + b must not rewrite it
    return Expression{i, g.version()};
  }, py::arg("i"), "An Expression for node i of the current graph.");
  def(m, "set_input_values", [](const Expression& e, const py::object& new_values) {
    if (api::is_lookup(e)) {  // DyNet's lookup.set(i): an index, or a list of them for lookup_batch
      std::vector<long> idx = py::isinstance<py::sequence>(new_values) || py::isinstance<py::array>(new_values)
                                  ? ints_arg(new_values, "set", "i")
                                  : std::vector<long>{int_arg(new_values, "set", "i")};
      api::set_lookup_indices(e, idx.data(), idx.size());
      return;
    }
    // A lone number is one value: scalarInput's y.set(1), as in DyNet's xor tutorial.
    const bool lone = py::isinstance<py::float_>(new_values) || py::isinstance<py::int_>(new_values);
    const Floats values = floats_from(lone ? py::object(py::make_tuple(new_values)) : new_values, "set()");
    api::set_input_values(e, values.data(), values.size());
  }, py::arg("e"), py::arg("values"),
     "Overwrites the data of an input node (column-major values) or a lookup's row indices, and "
     "invalidates the graph's values.");
}

}  // namespace dg::py_bind

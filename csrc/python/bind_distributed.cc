// Engine hooks used by dynagraph.distributed: the parameter-gradient hook
// (wait-free backpropagation) and the sufficient factors of products W*x.
#include "params/parameter.h"
#include "python/bindings.h"

namespace dg::py_bind {

namespace {

const std::string& storage_name(void* storage, bool is_lookup) {
  return is_lookup ? static_cast<LookupParameterStorage*>(storage)->name
                   : static_cast<ParameterStorage*>(storage)->name;
}

// A column-major rows x cols copy as a NumPy array of that shape.
py::array col_major(const std::vector<float>& v, unsigned rows, unsigned cols) {
  py::array_t<float, py::array::f_style> out({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  std::copy(v.begin(), v.end(), out.mutable_data());
  return std::move(out);
}

}  // namespace

void bind_distributed(py::module_& m) {
  // The hook holds a Python callable; drop it before the interpreter goes away
  // (the graph is a static that outlives it).
  py::module_::import("atexit").attr("register")(py::cpp_function([]() { cg().on_param_grad = nullptr; }));

  def(m, "set_param_grad_hook", [](py::object fn) {
    if (fn.is_none()) {
      cg().on_param_grad = nullptr;
      return;
    }
    if (!PyCallable_Check(fn.ptr())) throw ValueError("set_param_grad_hook: expected a callable or None");
    // Backward runs with the GIL held (it is called from Python), so the hook may call Python.
    cg().on_param_grad = [fn](void* storage, bool is_lookup) { fn(storage_name(storage, is_lookup), is_lookup); };
  }, py::arg("fn"),
     "Calls fn(name, is_lookup) during backward as soon as a parameter's gradient is final "
     "(once per backward, after the last of its trainable nodes; for lookup tables: after each lookup node, final only when backward returns). None removes it.");

  def(m, "set_collect_factors", [](bool on, bool cap) { cg().reset_factors(on, cap); },
        py::arg("on"), py::arg("cap") = false,
        "Record the sufficient factors (U, V) of every product W*x with a parameter W during backward. "
        "cap=True gives up on (marks dense) a parameter whose factors grow larger than its gradient.");

  def(m, "take_factors", []() {
    ComputationGraph& g = cg();
    py::list out;
    for (auto& f : g.factors)
      out.append(py::make_tuple(static_cast<ParameterStorage*>(f.param)->name, col_major(f.u, f.m, f.k),
                                col_major(f.v, f.n, f.k)));
    py::set dense;
    for (const auto& d : g.dense_only) dense.add(py::str(static_cast<ParameterStorage*>(d.first)->name));
    g.factors.clear();  // the dense marks stay: a parameter's later products are not recorded either
    return py::make_tuple(out, dense);
  }, "Returns and empties ([(name, U (M x K), V (N x K)) per parameter, ...], {names whose gradient "
     "is not sent as factors}).");
}

}  // namespace dg::py_bind

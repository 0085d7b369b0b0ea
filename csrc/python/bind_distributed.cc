// Engine hooks used by dynagraph.distributed: the parameter-gradient hook
// (wait-free backpropagation) and the sufficient factors of products W*x.
#include "core/gemm.h"
#include "device/device_ops.h"
#include "params/inbound.h"
#include "params/parameter.h"
#include "python/bindings.h"

namespace dg::py_bind {

namespace {

const std::string& storage_name(void* storage, bool is_lookup) {
  return is_lookup ? static_cast<LookupParameterStorage*>(storage)->name
                   : static_cast<ParameterStorage*>(storage)->name;
}

// A column-major rows x cols copy as a NumPy array of that shape.
py::array col_major(const HostStaging& v, unsigned rows, unsigned cols) {
  py::array_t<float, py::array::f_style> out({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  std::copy(v.data(), v.data() + v.size(), out.mutable_data());
  return std::move(out);
}

// The gradient's host copy, in the storage's staging buffer, as a flat NumPy
// view of that buffer (`owner` keeps the storage alive). The next stage_grad of
// the same parameter overwrites it.
py::array staged(HostStaging& out, const Resident& grad, py::handle owner) {
  float* p = grad.stage(out);
  return py::array_t<float>({static_cast<py::ssize_t>(out.size())}, {static_cast<py::ssize_t>(sizeof(float))}, p,
                            owner);
}

using FArray = py::array_t<float, py::array::f_style | py::array::forcecast>;

std::string shape_of(const py::array& a) { return std::string(py::str(a.attr("shape"))); }

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
    g.release_factors();  // the dense marks stay: a parameter's later products are not recorded either
    return py::make_tuple(out, dense);
  }, "Returns and empties ([(name, U (M x K), V (N x K)) per parameter, ...], {names whose gradient "
     "is not sent as factors}).");

  def(m, "stage_grad", [](py::object p) -> py::array {
    if (py::isinstance<ParameterStorage>(p)) {
      auto& s = p.cast<ParameterStorage&>();
      return staged(s.grad_out, s.grad, p);
    }
    if (py::isinstance<LookupParameterStorage>(p)) {
      auto& s = p.cast<LookupParameterStorage&>();
      return staged(s.grad_out, s.grad, p);
    }
    throw py::type_error("stage_grad: expected Parameters or LookupParameters, got " +
                    std::string(py::str(py::type::of(p).attr("__name__"))));
  }, py::arg("p"),
     "Copies p's gradient (from its device, or host memory) into p's reused host staging buffer and returns a "
     "flat float32 view of that buffer (no further copy; the next stage_grad of p overwrites it).");

  def(m, "add_grad_outer", [](ParameterStorage& p, const FArray& u, const FArray& v) {
    const unsigned rows = p.dim.rows(), cols = static_cast<unsigned>(p.dim.size() / p.dim.rows());
    if (u.ndim() != 2 || v.ndim() != 2 || u.shape(0) != rows || v.shape(0) != cols || u.shape(1) != v.shape(1))
      throw ValueError("add_grad_outer: expected u (" + std::to_string(rows) + ", K) and v (" + std::to_string(cols) +
                       ", K) for parameter " + p.name + " of shape " + p.dim.str() + ", got u " + shape_of(u) +
                       " and v " + shape_of(v));
    const unsigned k = static_cast<unsigned>(u.shape(1));
    if (p.device != kCpuDevice) {  // the factors go up (from pinned memory); the product is a device GEMM
      const size_t nu = size_t(rows) * k, nv = size_t(cols) * k;
      const float* up = stage_inbound(p.device, {{u.data(), nu}, {v.data(), nv}});
      device_ops(Device::from_id(p.device).kind).outer_from_host(p.grad.dev_write(), up, up + nu, rows, cols, k);
    } else if (k > 0) {
      gemm(p.grad.write(), u.data(), false, v.data(), true, rows, cols, k);
    }
    p.nonzero_grad = true;
  }, py::arg("p"), py::arg("u"), py::arg("v"),
     "Adds u v^T (u: rows x K, v: cols x K) to p's gradient where it lives (on a device: one GEMM there) and marks it "
     "for the trainer's next update.");

  def(m, "add_grad", [](ParameterStorage& p, const FArray& g) {
    if (static_cast<size_t>(g.size()) != p.dim.size())
      throw ValueError("add_grad: expected " + std::to_string(p.dim.size()) + " values for parameter " + p.name +
                       " of shape " + p.dim.str() + ", got shape " + shape_of(g));
    if (p.device != kCpuDevice) {
      const float* up = stage_inbound(p.device, {{g.data(), p.dim.size()}});
      device_ops(Device::from_id(p.device).kind).add_from_host(p.grad.dev_write(), up, p.dim.size());
    } else {
      float* x = p.grad.write();
      const float* y = g.data();
      for (size_t i = 0; i < p.dim.size(); ++i) x[i] += y[i];
    }
    p.nonzero_grad = true;
  }, py::arg("p"), py::arg("g"),
     "Adds g (p's shape, as as_array() lays it out) to p's gradient where it lives and marks it for the trainer's "
     "next update.");

  def(m, "staging_stats", []() {
    const StagingStats s = staging_stats();
    py::dict d;
    d["bytes"] = s.bytes;
    d["copies"] = s.copies;
    d["allocations"] = s.allocations;
    d["reuses"] = s.reuses;
    const InboundStats in = inbound_stats();
    d["in_bytes"] = in.bytes;
    d["in_copies"] = in.copies;
    d["in_allocations"] = in.allocations;
    d["in_reuses"] = in.reuses;
    return d;
  }, "Host staging buffers of gradients and sufficient factors since the process started: bytes copied into "
     "them, copies, buffers allocated (or grown) and fills that reused a buffer; the in_* counters the same for "
     "received factors and gradients on their way up to a device (copied into the device's pinned buffer).");
}

}  // namespace dg::py_bind

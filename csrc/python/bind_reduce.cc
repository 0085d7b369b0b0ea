// Expression functions of the reduce family, with DyNet's names and defaults.
#include <cstdint>

#include "python/bindings.h"

namespace dg::py_bind {

namespace {
using E = const Expression&;
using Ints = std::vector<int32_t>;

Ints all_axes(E x) {
  cg().check(x);
  Ints axes;
  for (unsigned a = 0; a < cg().nodes[x.i].dim.nd; ++a) axes.push_back(static_cast<int32_t>(a));
  return axes;
}
// DyNet takes axis lists; a single int is accepted too.
Ints axes_of(const py::object& d, const char* fn) {
  Ints out;
  for (long a : ints_arg(d, fn, "d")) {
    if (a < INT32_MIN || a > INT32_MAX) throw IndexError(std::string(fn) + ": axis " + std::to_string(a) + " out of range");
    out.push_back(static_cast<int32_t>(a));
  }
  return out;
}
Expression moment(E x, const Ints& axes, int r, bool b, int n) {
  if (r < 1) throw ValueError("moment: the order r must be >= 1, got " + std::to_string(r));
  return api::op_ints(OpId::moment_dim, {x}, axes, static_cast<float>(r), static_cast<float>(n > 0 ? n : 0), b);
}
}  // namespace

void bind_reduce(py::module_& m) {
  def(m, "sum_elems", [](E x) { return api::op1(OpId::sum_elems, x); }, py::arg("x"),
        "Sum of all elements of each batch element.");
  def(m, "sum_batches", [](E x) { return api::op1(OpId::sum_batches, x); }, py::arg("x"),
        "Sum over the batch (result has batch 1).");
  // n is accepted for DyNet compatibility; DyNet ignores it for sums too.
  def(m, "sum_dim", [](E x, const py::object& d, bool b, int) {
    return api::op_ints(OpId::sum_dim, {x}, axes_of(d, "sum_dim"), 0.f, 0.f, b);
  }, py::arg("x"), py::arg("d"), py::arg("b") = false, py::arg("n") = 0,
     "Sum over the axes in d (removed from the shape), and over the batch when b.");
  def(m, "max_dim", [](E x, int d) { return api::op1(OpId::max_dim, x, 0.f, 0.f, d); },
        py::arg("x"), py::arg("d") = 0, "Maximum along axis d (removed from the shape).");
  def(m, "min_dim", [](E x, int d) { return api::op1(OpId::min_dim, x, 0.f, 0.f, d); },
        py::arg("x"), py::arg("d") = 0, "Minimum along axis d (removed from the shape).");
  def(m, "cumsum", [](E x, int d) { return api::op1(OpId::cumsum, x, 0.f, 0.f, d); },
        py::arg("x"), py::arg("d") = 0, "Cumulative sum along axis d.");
  def(m, "argmax", [](E x, const std::string& mode) {
    float st;
    if (mode == "zero_gradient") st = 0.f;
    else if (mode == "straight_through_gradient") st = 1.f;
    else throw ValueError("argmax: gradient_mode must be 'zero_gradient' or 'straight_through_gradient', got '" +
                          mode + "'");
    return api::op1(OpId::argmax, x, st);
  }, py::arg("x"), py::arg("gradient_mode") = "zero_gradient", "One-hot vector of the (first) maximum of x.");

  def(m, "moment_elems", [](E x, int r) { return moment(x, all_axes(x), r, false, 0); }, py::arg("x"), py::arg("r"),
        "r-th moment (1/n) sum x^r of all elements of each batch element.");
  def(m, "moment_dim", [](E x, const py::object& d, int r, bool b, int n) { return moment(x, axes_of(d, "moment_dim"), r, b, n); },
        py::arg("x"), py::arg("d"), py::arg("r"), py::arg("b") = false, py::arg("n") = 0,
        "r-th moment over the axes in d (and the batch when b); n > 0 replaces the divisor.");
  def(m, "moment_batches", [](E x, int r) { return moment(x, {}, r, true, 0); }, py::arg("x"), py::arg("r"),
        "r-th moment over the batch.");
  def(m, "std_elems", [](E x) { return api::op_ints(OpId::std_dim, {x}, all_axes(x)); }, py::arg("x"),
        "Standard deviation of all elements of each batch element.");
  // As in DyNet, n does not change the standard deviation.
  def(m, "std_dim", [](E x, const py::object& d, bool b, int) {
    return api::op_ints(OpId::std_dim, {x}, axes_of(d, "std_dim"), 0.f, 0.f, b);
  }, py::arg("x"), py::arg("d"), py::arg("b") = false, py::arg("n") = 0,
     "Standard deviation over the axes in d (and the batch when b).");
  def(m, "std_batches", [](E x) { return api::op_ints(OpId::std_dim, {x}, {}, 0.f, 0.f, 1); }, py::arg("x"),
        "Standard deviation over the batch.");
}

}  // namespace dg::py_bind

// Expression functions of the shape family: pick, ranges, row/column selection,
// reshape, concatenation, strided selection (DyNet's names and defaults).
#include <climits>

#include "python/bindings.h"

namespace dg::py_bind {

namespace {
using E = const Expression&;

int32_t to_i32(long v, const char* op, const char* what) {
  if (v < INT_MIN || v > INT_MAX)
    throw IndexError(std::string(op) + ": " + what + " " + std::to_string(v) + " out of range");
  return static_cast<int32_t>(v);
}
std::vector<int32_t> to_i32(const std::vector<long>& vs, const char* op, const char* what) {
  std::vector<int32_t> out;
  out.reserve(vs.size());
  for (long v : vs) out.push_back(to_i32(v, op, what));
  return out;
}

Expression pick_batch(E e, const std::vector<long>& indices, int dim) {
  return api::op_ints(OpId::pick, {e}, to_i32(indices, "pick_batch", "index"), 0.f, 0.f, dim, 1);
}
Expression pick_range(E x, long s, long e, int d) {
  return api::op_ints(OpId::pick_range, {x}, {to_i32(s, "pick_range", "start"), to_i32(e, "pick_range", "end"), d});
}
Expression concatenate(const std::vector<Expression>& xs, int d) {
  return api::opn(OpId::concatenate, xs, 0.f, d);
}
// strided_select's three lists, each prefixed by its length.
std::vector<int32_t> strided_ints(const std::vector<long>& strides, const std::vector<long>& from,
                                  const std::vector<long>& to) {
  std::vector<int32_t> out;
  for (const auto* v : {&strides, &from, &to}) {
    out.push_back(static_cast<int32_t>(v->size()));
    for (long x : *v) out.push_back(to_i32(x, "strided_select", "index"));
  }
  return out;
}
}  // namespace

void bind_shape(py::module_& m) {
  def(m, "pick", [](E e, const py::object& index, int dim) {
    if (py::isinstance<py::sequence>(index) || py::isinstance<py::array>(index)) {
      if (!py::isinstance<py::str>(index) && !py::isinstance<py::bytes>(index) &&
          !(py::isinstance<py::array>(index) && py::reinterpret_borrow<py::array>(index).ndim() == 0))
        return pick_batch(e, ints_arg(index, "pick", "index"), dim);
    }
    return api::op_ints(OpId::pick, {e}, {to_i32(int_arg(index, "pick", "index"), "pick", "index")}, 0.f, 0.f, dim,
                        0);
  }, py::arg("e"), py::arg("index") = 0, py::arg("dim") = 0,
     "Position `index` of axis `dim` (that axis is removed); a list of indices picks one per batch element.");
  def(m, "pick_batch", &pick_batch, py::arg("e"), py::arg("indices"), py::arg("dim") = 0,
        "One index of axis `dim` per batch element.");
  def(m, "pick_batch_elem", [](E x, long v) {
    return api::op_ints(OpId::pick_batch_elems, {x}, {to_i32(v, "pick_batch_elem", "batch index")});
  }, py::arg("x"), py::arg("v"), "Batch element v (result has batch 1).");
  def(m, "pick_batch_elems", [](E x, const std::vector<long>& vs) {
    return api::op_ints(OpId::pick_batch_elems, {x}, to_i32(vs, "pick_batch_elems", "batch index"));
  }, py::arg("x"), py::arg("vs"), "Batch elements vs, in that order (batch len(vs)).");
  def(m, "pickrange", &pick_range, py::arg("x"), py::arg("s"), py::arg("e"), py::arg("d") = 0,
        "Positions [s, e) of axis d.");
  def(m, "pick_range", &pick_range, py::arg("x"), py::arg("s"), py::arg("e"), py::arg("d") = 0,
        "Positions [s, e) of axis d.");
  def(m, "select_rows", [](E x, const std::vector<long>& rs) {
    return api::op_ints(OpId::select_rows, {x}, to_i32(rs, "select_rows", "row"));
  }, py::arg("x"), py::arg("rs"), "Rows rs of x (any order, repeats allowed).");
  def(m, "select_cols", [](E x, const std::vector<long>& cs) {
    return api::op_ints(OpId::select_cols, {x}, to_i32(cs, "select_cols", "column"));
  }, py::arg("x"), py::arg("cs"), "Columns cs of the matrix x (any order, repeats allowed).");
  def(m, "reshape", [](E x, const py::object& d, long batch_size) {
    const std::vector<long> ds = ints_arg(d, "reshape", "d");
    if (batch_size < 1 || batch_size > INT_MAX)
      throw ValueError("reshape: batch_size must be >= 1, got " + std::to_string(batch_size));
    return api::op_ints(OpId::reshape, {x}, to_i32(ds, "reshape", "axis length"), 0.f, 0.f,
                        static_cast<int>(batch_size));
  }, py::arg("x"), py::arg("d"), py::arg("batch_size") = 1,
     "Same values (column-major) with shape d; no copy.");
  def(m, "concatenate", &concatenate, py::arg("xs"), py::arg("d") = 0, "Joins xs along axis d.");
  def(m, "concatenate_cols", [](const std::vector<Expression>& xs) { return concatenate(xs, 1); }, py::arg("xs"),
        "Joins xs side by side (along axis 1).");
  def(m, "concatenate_to_batch", [](const std::vector<Expression>& xs) {
    return api::opn(OpId::concatenate_to_batch, xs);
  }, py::arg("xs"), "The batch elements of all xs, as one batch.");
  def(m, "strided_select", [](E x, const std::vector<long>& strides, const std::vector<long>& range_from,
                             const std::vector<long>& range_to) {
    return api::op_ints(OpId::strided_select, {x}, strided_ints(strides, range_from, range_to));
  }, py::arg("x"), py::arg("strides"), py::arg("range_from"), py::arg("range_to"),
     "x[from:to:stride] per axis (NumPy-like); a last extra entry applies to the batch.");
}

}  // namespace dg::py_bind

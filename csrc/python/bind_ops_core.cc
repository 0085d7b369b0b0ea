// Expression functions of the input, arithmetic, element-wise and matmul families.
#include "python/bindings.h"

namespace dg::py_bind {

namespace {
using E = const Expression&;
Expression un(OpId op, E x) { return api::op1(op, x); }
Expression bin(OpId op, E a, E b) { return api::op2(op, a, b); }

// floor/ceil/round: DyNet's gradient_mode picks zero or straight-through gradients.
float gradient_mode(const std::string& mode) {
  if (mode == "zero_gradient") return 0.f;
  if (mode == "straight_through_gradient") return 1.f;
  throw ValueError("gradient_mode must be 'zero_gradient' or 'straight_through_gradient', got '" + mode + "'");
}
// DyNet's device argument: the default "" costs nothing; other names are checked
// by dynagraph.devices, the one place that knows which devices this build has.
void check_device(const std::string& device) {
  if (!device.empty()) py::module_::import("dynagraph.devices").attr("_check_device")(device);
}

}  // namespace

void bind_ops_core(py::module_& m) {
  // ---- inputs (every input can be overwritten later with Expression.set, so
  // DyNet's reusable_expr changes nothing here)
  m.def("inputTensor", [](const py::object& arr, bool batched, const std::string& device, bool) {
    check_device(device);
    // As DyNet: a list of NumPy arrays is a batch, one array per batch element.
    if (py::isinstance<py::list>(arr) && py::len(arr) > 0) {
      bool all_arrays = true;
      for (py::handle item : arr) all_arrays = all_arrays && py::isinstance<py::array>(item);
      if (all_arrays) {
        py::object stacked = py::module_::import("numpy").attr("stack")(arr, py::arg("axis") = -1);
        return input_from_array(stacked, true);
      }
    }
    return input_from_array(arr, batched);
  }, py::arg("arr"), py::arg("batched") = false, py::arg("device") = "", py::arg("reusable_expr") = false,
     "A tensor of a NumPy array or nested lists (with batched=True the last axis is the batch); a list "
     "of NumPy arrays is a batch of them.");
  m.def("inputVector", [](const py::object& values, const std::string& device) {
    check_device(device);
    const Floats v = floats_from(values, "inputVector");
    if (v.size() == 0) throw ValueError("inputVector: empty vector");
    return api::input(v.data(), Dim::from_vector({static_cast<long>(v.size())}));
  }, py::arg("v"), py::arg("device") = "");
  m.def("inputMatrix", [](const py::object& values, const py::object& d) {
    Dim dim = dim_from(d);
    const Floats v = floats_from(values, "inputMatrix");
    if (dim.size() != v.size())
      throw ValueError("inputMatrix: " + std::to_string(v.size()) + " values do not fill shape " + dim.str());
    return api::input(v.data(), dim);
  }, py::arg("v"), py::arg("d"));
  m.def("scalarInput", [](float x, const std::string& device) {
    check_device(device);
    return api::input(&x, Dim({1}));
  }, py::arg("s"), py::arg("device") = "");
  m.def("constant", [](const py::object& d, float val, long batch_size) {
    return api::constant(dim_from(d, batch_size), val);
  }, py::arg("dim"), py::arg("val"), py::arg("batch_size") = 1);
  m.def("zeros", [](const py::object& d, long batch_size) { return api::constant(dim_from(d, batch_size), 0.f); },
        py::arg("dim"), py::arg("batch_size") = 1);
  m.def("ones", [](const py::object& d, long batch_size) { return api::constant(dim_from(d, batch_size), 1.f); },
        py::arg("dim"), py::arg("batch_size") = 1);
  m.def("random_normal", [](const py::object& d, float mean, float stddev, long batch_size) {
    return api::random(OpId::random_normal, dim_from(d, batch_size), mean, stddev);
  }, py::arg("dim"), py::arg("mean") = 0.f, py::arg("stddev") = 1.f, py::arg("batch_size") = 1);
  m.def("random_uniform", [](const py::object& d, float left, float right, long batch_size) {
    return api::random(OpId::random_uniform, dim_from(d, batch_size), left, right);
  }, py::arg("dim"), py::arg("left"), py::arg("right"), py::arg("batch_size") = 1);
  m.def("random_bernoulli", [](const py::object& d, float p, float scale, long batch_size) {
    if (p < 0.f || p > 1.f) throw ValueError("random_bernoulli: p must be in [0, 1]");
    return api::random(OpId::random_bernoulli, dim_from(d, batch_size), p, scale);
  }, py::arg("dim"), py::arg("p"), py::arg("scale") = 1.f, py::arg("batch_size") = 1);
  m.def("random_gumbel", [](const py::object& d, float mu, float beta, long batch_size) {
    return api::random(OpId::random_gumbel, dim_from(d, batch_size), mu, beta);
  }, py::arg("dim"), py::arg("mu") = 0.f, py::arg("beta") = 1.f, py::arg("batch_size") = 1);

  // ---- arithmetic (the operators live on the Expression type itself)
#define DG_FAST_BINARY(NAME) add_fast_op(m, #NAME, OpId::NAME, 2, #NAME "(x, y)");
  DG_FAST_BINARY(cmult) DG_FAST_BINARY(cdiv) DG_FAST_BINARY(pow) DG_FAST_BINARY(bmin) DG_FAST_BINARY(bmax)
  DG_FAST_BINARY(dot_product) DG_FAST_BINARY(trace_of_product)
#undef DG_FAST_BINARY
  m.def("esum", [](const std::vector<Expression>& xs) { return api::opn(OpId::sum, xs); }, py::arg("xs"));
  m.def("emax", [](const std::vector<Expression>& xs) { return api::opn(OpId::max, xs); }, py::arg("xs"));

  // ---- matmul family
  m.def("_matmul", [](E a, E b) { return bin(OpId::matmul, a, b); });
  m.def("affine_transform", [](const std::vector<Expression>& xs) { return api::opn(OpId::affine_transform, xs); },
        py::arg("exprs"));
#define DG_FAST_UNARY(NAME) add_fast_op(m, #NAME, OpId::NAME, 1, #NAME "(x)");
  DG_FAST_UNARY(transpose) DG_FAST_UNARY(inverse) DG_FAST_UNARY(logdet)

  // ---- element-wise: plain unary functions, bound from one list
  DG_FAST_UNARY(tanh) DG_FAST_UNARY(logistic) DG_FAST_UNARY(log_sigmoid) DG_FAST_UNARY(rectify)
  DG_FAST_UNARY(selu) DG_FAST_UNARY(softsign) DG_FAST_UNARY(exp) DG_FAST_UNARY(log) DG_FAST_UNARY(sqrt)
  DG_FAST_UNARY(square) DG_FAST_UNARY(cube) DG_FAST_UNARY(abs) DG_FAST_UNARY(erf) DG_FAST_UNARY(lgamma)
  DG_FAST_UNARY(sin) DG_FAST_UNARY(cos) DG_FAST_UNARY(tan) DG_FAST_UNARY(asin) DG_FAST_UNARY(acos)
  DG_FAST_UNARY(atan) DG_FAST_UNARY(sinh) DG_FAST_UNARY(cosh) DG_FAST_UNARY(asinh) DG_FAST_UNARY(acosh)
  DG_FAST_UNARY(atanh) DG_FAST_UNARY(nobackprop) DG_FAST_UNARY(flip_gradient)
#undef DG_FAST_UNARY
  m.def("elu", [](E x, float alpha) { return api::op1(OpId::elu, x, alpha); }, py::arg("x"), py::arg("alpha") = 1.f);
  m.def("silu", [](E x, float beta) { return api::op1(OpId::silu, x, beta); }, py::arg("x"), py::arg("beta") = 1.f);
  m.def("scale_gradient", [](E x, float lambd) { return api::op1(OpId::scale_gradient, x, lambd); },
        py::arg("x"), py::arg("lambd") = 1.f);
  m.def("floor", [](E x, const std::string& mode) { return api::op1(OpId::floor, x, gradient_mode(mode)); },
        py::arg("x"), py::arg("gradient_mode") = "zero_gradient");
  m.def("ceil", [](E x, const std::string& mode) { return api::op1(OpId::ceil, x, gradient_mode(mode)); },
        py::arg("x"), py::arg("gradient_mode") = "zero_gradient");
  m.def("round", [](E x, const std::string& mode) { return api::op1(OpId::round, x, gradient_mode(mode)); },
        py::arg("x"), py::arg("gradient_mode") = "zero_gradient");

}

}  // namespace dg::py_bind

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
}  // namespace

void bind_ops_core(py::module_& m) {
  // ---- inputs
  m.def("inputTensor", &input_from_array, py::arg("arr"), py::arg("batched") = false);
  m.def("inputVector", [](const std::vector<float>& v) {
    if (v.empty()) throw ValueError("inputVector: empty vector");
    return api::input(v.data(), Dim({static_cast<unsigned>(v.size())}));
  }, py::arg("v"));
  m.def("inputMatrix", [](const std::vector<float>& v, const py::object& d) {
    Dim dim = dim_from(d);
    if (dim.size() != v.size())
      throw ValueError("inputMatrix: " + std::to_string(v.size()) + " values do not fill shape " + dim.str());
    return api::input(v.data(), dim);
  }, py::arg("v"), py::arg("d"));
  m.def("scalarInput", [](float x) { return api::input(&x, Dim({1})); }, py::arg("s"));
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

  // ---- arithmetic
  m.def("cmult", [](E a, E b) { return bin(OpId::cmult, a, b); }, py::arg("x"), py::arg("y"));
  m.def("cdiv", [](E a, E b) { return bin(OpId::cdiv, a, b); }, py::arg("x"), py::arg("y"));
  m.def("pow", [](E a, E b) { return bin(OpId::pow, a, b); }, py::arg("x"), py::arg("y"));
  m.def("bmin", [](E a, E b) { return bin(OpId::bmin, a, b); }, py::arg("x"), py::arg("y"));
  m.def("bmax", [](E a, E b) { return bin(OpId::bmax, a, b); }, py::arg("x"), py::arg("y"));
  m.def("_add", [](E a, E b) { return bin(OpId::add, a, b); });
  m.def("_sub", [](E a, E b) { return bin(OpId::sub, a, b); });
  m.def("esum", [](const std::vector<Expression>& xs) { return api::opn(OpId::sum, xs); }, py::arg("xs"));
  m.def("emax", [](const std::vector<Expression>& xs) { return api::opn(OpId::max, xs); }, py::arg("xs"));
  m.def("_add_scalar", [](E x, float c) { return api::op1(OpId::add_scalar, x, c); });
  m.def("_mul_scalar", [](E x, float c) { return api::op1(OpId::mul_scalar, x, c); });

  // ---- matmul family
  m.def("_matmul", [](E a, E b) { return bin(OpId::matmul, a, b); });
  m.def("affine_transform", [](const std::vector<Expression>& xs) { return api::opn(OpId::affine_transform, xs); },
        py::arg("exprs"));
  m.def("dot_product", [](E a, E b) { return bin(OpId::dot_product, a, b); }, py::arg("x"), py::arg("y"));
  m.def("transpose", [](E x) { return un(OpId::transpose, x); }, py::arg("x"));
  m.def("inverse", [](E x) { return un(OpId::inverse, x); }, py::arg("x"));
  m.def("logdet", [](E x) { return un(OpId::logdet, x); }, py::arg("x"));
  m.def("trace_of_product", [](E a, E b) { return bin(OpId::trace_of_product, a, b); }, py::arg("x"), py::arg("y"));

  // ---- element-wise: plain unary functions, bound from one list
#define DG_BIND_UNARY(NAME) m.def(#NAME, [](E x) { return un(OpId::NAME, x); }, py::arg("x"));
  DG_BIND_UNARY(tanh) DG_BIND_UNARY(logistic) DG_BIND_UNARY(log_sigmoid) DG_BIND_UNARY(rectify)
  DG_BIND_UNARY(selu) DG_BIND_UNARY(softsign) DG_BIND_UNARY(exp) DG_BIND_UNARY(log) DG_BIND_UNARY(sqrt)
  DG_BIND_UNARY(square) DG_BIND_UNARY(cube) DG_BIND_UNARY(abs) DG_BIND_UNARY(erf) DG_BIND_UNARY(lgamma)
  DG_BIND_UNARY(sin) DG_BIND_UNARY(cos) DG_BIND_UNARY(tan) DG_BIND_UNARY(asin) DG_BIND_UNARY(acos)
  DG_BIND_UNARY(atan) DG_BIND_UNARY(sinh) DG_BIND_UNARY(cosh) DG_BIND_UNARY(asinh) DG_BIND_UNARY(acosh)
  DG_BIND_UNARY(atanh) DG_BIND_UNARY(nobackprop) DG_BIND_UNARY(flip_gradient)
#undef DG_BIND_UNARY
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

  // ---- operators on Expression
  auto cls = py::class_<Expression>(m.attr("Expression"));
  cls.def("__add__", [](E a, E b) { return bin(OpId::add, a, b); }, py::is_operator())
      .def("__add__", [](E a, float c) { return api::op1(OpId::add_scalar, a, c); }, py::is_operator())
      .def("__radd__", [](E a, float c) { return api::op1(OpId::add_scalar, a, c); }, py::is_operator())
      .def("__sub__", [](E a, E b) { return bin(OpId::sub, a, b); }, py::is_operator())
      .def("__sub__", [](E a, float c) { return api::op1(OpId::add_scalar, a, -c); }, py::is_operator())
      .def("__rsub__", [](E a, float c) { return api::op1(OpId::scalar_sub, a, c); }, py::is_operator())
      .def("__mul__", [](E a, E b) { return bin(OpId::matmul, a, b); }, py::is_operator())
      .def("__mul__", [](E a, float c) { return api::op1(OpId::mul_scalar, a, c); }, py::is_operator())
      .def("__rmul__", [](E a, float c) { return api::op1(OpId::mul_scalar, a, c); }, py::is_operator())
      .def("__truediv__", [](E a, E b) { return bin(OpId::cdiv, a, b); }, py::is_operator())
      .def("__truediv__", [](E a, float c) {
        if (c == 0.f) throw ValueError("division of an expression by zero");
        return api::op1(OpId::mul_scalar, a, 1.f / c);
      }, py::is_operator())
      .def("__rtruediv__", [](E a, float c) { return api::op1(OpId::scalar_div, a, c); }, py::is_operator())
      .def("__neg__", [](E a) { return un(OpId::negate, a); });
}

}  // namespace dg::py_bind

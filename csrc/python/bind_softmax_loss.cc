// Expression functions of the softmax/loss family, with DyNet's names and defaults.
#include <optional>

#include "python/bindings.h"

namespace dg::py_bind {

namespace {
using E = const Expression&;
using Ints = std::vector<int32_t>;

Expression with_indices(OpId op, E x, const Ints& idx, float m = 0.f, int i0 = 0) {
  return api::op_ints(op, {x}, idx, m, 0.f, i0);
}
Ints flatten(const std::vector<Ints>& vs) {
  Ints out;
  for (auto& v : vs) out.insert(out.end(), v.begin(), v.end());
  return out;
}
}  // namespace

void bind_softmax_loss(py::module_& m) {
  def(m, "softmax", [](E x, int d) { return api::op1(OpId::softmax, x, 0.f, 0.f, d); },
        py::arg("x"), py::arg("d") = 0, "Softmax along axis d (columns of a matrix for d = 0).");
  def(m, "log_softmax", [](E x, const std::optional<Ints>& restrict) {
    if (!restrict) return api::op_ints(OpId::log_softmax, {x}, {});
    if (restrict->empty()) throw ValueError("log_softmax: the restriction list is empty");
    return api::op_ints(OpId::log_softmax, {x}, *restrict);
  }, py::arg("x"), py::arg("restrict") = py::none(),
     "Column-wise log softmax; with `restrict` (indices) the others are -inf.");
  def(m, "logsumexp", [](const std::vector<Expression>& xs) { return api::opn(OpId::logsumexp, xs); },
        py::arg("xs"), "Element-wise log(sum_k exp(xs[k])).");
  def(m, "logsumexp_dim", [](E x, int d) { return api::op1(OpId::logsumexp_dim, x, 0.f, 0.f, d); },
        py::arg("x"), py::arg("d") = 0, "log(sum(exp(x))) along axis d (which is removed).");

  def(m, "pickneglogsoftmax", [](E x, int v) { return with_indices(OpId::pickneglogsoftmax, x, {v}); },
        py::arg("x"), py::arg("v"), "-log(softmax(x)[v]); v a list gives one index per batch element.");
  def(m, "pickneglogsoftmax", [](E x, const Ints& v) { return with_indices(OpId::pickneglogsoftmax, x, v); },
        py::arg("x"), py::arg("v"));
  def(m, "pickneglogsoftmax_batch", [](E x, const Ints& vs) { return with_indices(OpId::pickneglogsoftmax, x, vs); },
        py::arg("x"), py::arg("vs"), "-log(softmax(x)[vs[b]]) for each batch element b.");
  def(m, "hinge", [](E x, int v, float mg) { return with_indices(OpId::hinge, x, {v}, mg); },
        py::arg("x"), py::arg("v"), py::arg("m") = 1.f, "sum_{j != v} max(0, x_j - x_v + m).");
  def(m, "hinge", [](E x, const Ints& v, float mg) { return with_indices(OpId::hinge, x, v, mg); },
        py::arg("x"), py::arg("v"), py::arg("m") = 1.f);
  def(m, "hinge_batch", [](E x, const Ints& vs, float mg) { return with_indices(OpId::hinge, x, vs, mg); },
        py::arg("x"), py::arg("vs"), py::arg("m") = 1.f, "hinge(x, vs[b], m) for each batch element b.");
  def(m, "hinge_dim", [](E x, const Ints& v, int d, float mg) { return with_indices(OpId::hinge_dim, x, v, mg, d); },
        py::arg("x"), py::arg("v"), py::arg("d") = 0, py::arg("m") = 1.f,
        "Hinge loss along axis d of a matrix, one correct index per line (or one list per batch element).");
  def(m, "hinge_dim", [](E x, const std::vector<Ints>& v, int d, float mg) {
    return with_indices(OpId::hinge_dim, x, flatten(v), mg, d);
  }, py::arg("x"), py::arg("v"), py::arg("d") = 0, py::arg("m") = 1.f);

  def(m, "binary_log_loss", [](E x, E y) { return api::op2(OpId::binary_log_loss, x, y); }, py::arg("x"), py::arg("y"),
        "Binary cross-entropy -sum(y log x + (1 - y) log(1 - x)) of probabilities x and targets y.");
  def(m, "squared_distance", [](E x, E y) { return api::op2(OpId::squared_distance, x, y); }, py::arg("x"), py::arg("y"),
        "sum((x - y)^2), one value per batch element.");
  def(m, "l1_distance", [](E x, E y) { return api::op2(OpId::l1_distance, x, y); }, py::arg("x"), py::arg("y"),
        "sum(|x - y|), one value per batch element.");
  def(m, "huber_distance", [](E x, E y, float c) { return api::op2(OpId::huber_distance, x, y, c); },
        py::arg("x"), py::arg("y"), py::arg("c") = 1.345f,
        "Huber loss of x - y: quadratic within c, linear beyond, summed.");
  def(m, "pairwise_rank_loss", [](E x, E y, float mg) { return api::op2(OpId::pairwise_rank_loss, x, y, mg); },
        py::arg("x"), py::arg("y"), py::arg("m") = 1.f, "Element-wise max(0, m - x + y).");
  def(m, "squared_norm", [](E x) { return api::op1(OpId::squared_norm, x); }, py::arg("x"),
        "sum(x^2), one value per batch element.");
  def(m, "l2_norm", [](E x) { return api::op1(OpId::l2_norm, x); }, py::arg("x"),
        "sqrt(sum(x^2)), one value per batch element.");
  def(m, "poisson_loss", [](E log_lambda, int x) {
    if (x < 0) throw ValueError("poisson_loss: the target must be a non-negative integer, got " + std::to_string(x));
    return api::op1(OpId::poisson_loss, log_lambda, static_cast<float>(x));
  }, py::arg("log_lambda"), py::arg("x"), "Negative log-likelihood of count x under Poisson(exp(log_lambda)).");
}

}  // namespace dg::py_bind

// Expression functions of the noise family: dropout variants and Gaussian noise.
#include "python/bindings.h"

namespace dg::py_bind {

namespace {
// DyNet computes dropout with p = 1 and gets NaN (its mask is 0 * 1/(1-p)); we
// give the same values and say so.
float dropout_rate(const char* fn, float p) {
  if (p == 1.f) {
    std::string msg = std::string(fn) + "(x, p=1): every unit is dropped and the kept ones scaled by 1/(1-p) = inf, "
                      "so the values are NaN (as in DyNet)";
    if (PyErr_WarnEx(PyExc_RuntimeWarning, msg.c_str(), 1) < 0) throw py::error_already_set();
  }
  return p;
}
}  // namespace

void bind_noise(py::module_& m) {
  using E = const Expression&;
  def(m, "dropout", [](E x, float p) { return api::op1(OpId::dropout, x, dropout_rate("dropout", p)); }, py::arg("x"), py::arg("p"),
        "Inverted dropout: each unit is zeroed with probability p, kept units scaled by 1/(1-p) (p = 1 gives NaN, as in DyNet, with a RuntimeWarning).");
  def(m, "dropout_dim", [](E x, int d, float p) { return api::op1(OpId::dropout_dim, x, dropout_rate("dropout_dim", p), 0.f, d); },
        py::arg("x"), py::arg("d"), py::arg("p"),
        "Dropout with one mask value shared along axis d (drops whole columns for d=0, rows for d=1).");
  def(m, "dropout_batch", [](E x, float p) { return api::op1(OpId::dropout_batch, x, dropout_rate("dropout_batch", p)); }, py::arg("x"),
        py::arg("p"), "Dropout of whole batch elements.");
  def(m, "block_dropout", [](E x, float p) { return api::op1(OpId::block_dropout, x, p); }, py::arg("x"),
        py::arg("p"), "Drops all of x or none of it (one draw); p = 1 gives zeros, as in DyNet.");
  def(m, "noise", [](E x, float stddev) { return api::op1(OpId::noise, x, stddev); }, py::arg("x"),
        py::arg("stddev"), "x plus Gaussian noise of standard deviation stddev.");
}

}  // namespace dg::py_bind

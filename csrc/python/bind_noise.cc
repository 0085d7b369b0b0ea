// Expression functions of the noise family: dropout variants and Gaussian noise.
#include "python/bindings.h"

namespace dg::py_bind {

void bind_noise(py::module_& m) {
  using E = const Expression&;
  def(m, "dropout", [](E x, float p) { return api::op1(OpId::dropout, x, p); }, py::arg("x"), py::arg("p"),
        "Inverted dropout: each unit is zeroed with probability p, kept units scaled by 1/(1-p).");
  def(m, "dropout_dim", [](E x, int d, float p) { return api::op1(OpId::dropout_dim, x, p, 0.f, d); },
        py::arg("x"), py::arg("d"), py::arg("p"),
        "Dropout with one mask value shared along axis d (drops whole columns for d=0, rows for d=1).");
  def(m, "dropout_batch", [](E x, float p) { return api::op1(OpId::dropout_batch, x, p); }, py::arg("x"),
        py::arg("p"), "Dropout of whole batch elements.");
  def(m, "block_dropout", [](E x, float p) { return api::op1(OpId::block_dropout, x, p); }, py::arg("x"),
        py::arg("p"), "Drops all of x or none of it (one draw).");
  def(m, "noise", [](E x, float stddev) { return api::op1(OpId::noise, x, stddev); }, py::arg("x"),
        py::arg("stddev"), "x plus Gaussian noise of standard deviation stddev.");
}

}  // namespace dg::py_bind

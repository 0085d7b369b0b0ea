// The private extension module dynagraph._core.
#include "python/bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "dynagraph's C++ engine (private; use the dynagraph package)";
  dg::py_bind::init_exceptions(m);  // the one error table (expr_type.cc)
  dg::py_bind::bind_graph(m);
  dg::py_bind::bind_device(m);
  dg::py_bind::bind_ops_core(m);
  dg::py_bind::bind_params(m);
  dg::py_bind::bind_trainers(m);
  dg::py_bind::bind_softmax_loss(m);
  dg::py_bind::bind_reduce(m);
  dg::py_bind::bind_shape(m);
  dg::py_bind::bind_noise(m);
  dg::py_bind::bind_conv(m);
  dg::py_bind::bind_nn(m);
  dg::py_bind::bind_distributed(m);
  dg::py_bind::bind_blas(m);
  dg::py_bind::add_fast_calls(m);  // last: in front of the general functions bound above
}

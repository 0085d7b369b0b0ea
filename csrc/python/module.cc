// The private extension module dynagraph._core.
#include "core/error.h"
#include "python/bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "dynagraph's C++ engine (private; use the dynagraph package)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const dg::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const dg::IOError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const dg::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const dg::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  dg::py_bind::bind_graph(m);
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
}

// The private extension module dynagraph._core.
#include "core/error.h"
#include "python/bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "dynagraph's C++ engine (private; use the dynagraph package)";
  // An index out of range is an IndexError, and also the ValueError DyNet raises
  // for it, so `except ValueError` written for DyNet still catches it.
  static PyObject* index_error = nullptr;  // one reference kept for the process's life
  {
    py::tuple bases = py::make_tuple(py::handle(PyExc_IndexError), py::handle(PyExc_ValueError));
    index_error = PyErr_NewExceptionWithDoc(
        "dynagraph._core.IndexOutOfRange", "An index out of range: an IndexError and a ValueError (DyNet's kind).",
        bases.ptr(), nullptr);
    if (!index_error) throw py::error_already_set();
    m.attr("IndexOutOfRange") = py::handle(index_error);
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const dg::IndexError& e) {
      PyErr_SetString(index_error, e.what());
    } catch (const dg::OverflowError& e) {  // before ValueError, its base (as in expr_type.cc)
      PyErr_SetString(PyExc_OverflowError, e.what());
    } catch (const dg::OutOfMemory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
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

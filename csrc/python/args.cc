#include "python/args.h"

#include <pybind11/numpy.h>

#include <cctype>
#include <cstring>
#include <new>
#include <stdexcept>

#include "core/error.h"

namespace dg::py_bind {

namespace {

std::string describe(py::handle v) {
  std::string type = Py_TYPE(v.ptr())->tp_name;
  std::string text = py::repr(v);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return type + " " + text;
}

std::string where(const char* fn, const char* arg) { return std::string(fn) + ": argument '" + arg + "'"; }

}  // namespace

long int_arg(py::handle v, const char* fn, const char* arg) {
  PyObject* o = v.ptr();
  if (PyFloat_Check(o) || PyUnicode_Check(o) || PyBytes_Check(o) || !PyIndex_Check(o))
    throw py::type_error(where(fn, arg) + " must be an int, got " + describe(v));
  PyObject* index = PyNumber_Index(o);  // a 0-d integer array is fine; a 1-d one raises
  if (!index) {
    PyErr_Clear();
    throw py::type_error(where(fn, arg) + " must be an int, got " + describe(v));
  }
  int overflow = 0;
  long out = PyLong_AsLongAndOverflow(index, &overflow);
  Py_DECREF(index);
  if (overflow) {
    PyErr_Format(PyExc_OverflowError, "%s = %s is out of range", where(fn, arg).c_str(), describe(v).c_str());
    throw py::error_already_set();
  }
  return out;
}

std::vector<long> ints_arg(py::handle v, const char* fn, const char* arg) {
  PyObject* o = v.ptr();
  if (py::isinstance<py::array>(v)) {
    auto a = py::reinterpret_borrow<py::array>(v);
    if (a.ndim() == 0) return {int_arg(v, fn, arg)};
    if (a.ndim() != 1)
      throw py::type_error(where(fn, arg) + " must be an int or a 1-D sequence of ints, got an array of shape " +
                           std::string(py::str(v.attr("shape"))));
  } else if (PyIndex_Check(o) && !PyFloat_Check(o)) {
    return {int_arg(v, fn, arg)};
  }
  if (PyUnicode_Check(o) || PyBytes_Check(o) || PyDict_Check(o) || !PySequence_Check(o))
    throw py::type_error(where(fn, arg) + " must be an int or a sequence of ints, got " + describe(v));
  std::vector<long> out;
  Py_ssize_t n = PySequence_Size(o);
  if (n < 0) throw py::error_already_set();
  out.reserve(static_cast<size_t>(n));
  for (Py_ssize_t k = 0; k < n; ++k) {
    py::object item = py::reinterpret_steal<py::object>(PySequence_GetItem(o, k));
    if (!item) throw py::error_already_set();
    const std::string name = std::string(arg) + "[" + std::to_string(k) + "]";
    out.push_back(int_arg(item, fn, name.c_str()));
  }
  return out;
}

Dim dim_arg(py::handle shape, long batch, const char* fn, const char* arg) {
  std::vector<long> axes = ints_arg(shape, fn, arg);
  try {
    return Dim::from_vector(axes, batch);
  } catch (const OverflowError& e) {  // keeps its kind: a size past what the engine represents
    throw OverflowError(where(fn, arg) + ": " + e.what());
  } catch (const ValueError& e) {
    throw ValueError(where(fn, arg) + " (shape " + std::string(py::str(shape)) + ", batch " +
                     std::to_string(batch) + "): " + e.what());
  }
}

std::string with_name(const char* fn, const std::string& msg) {
  const size_t n = std::strlen(fn);
  const bool whole_word = msg.size() == n || !(std::isalnum(static_cast<unsigned char>(msg[n])) || msg[n] == '_');
  if (msg.compare(0, n, fn) == 0 && whole_word) return msg;
  return std::string(fn) + ": " + msg;
}

void rethrow_named(const char* fn) {
  try {
    throw;
  } catch (const IndexError& e) {
    throw IndexError(with_name(fn, e.what()));
  } catch (const IOError& e) {
    throw IOError(with_name(fn, e.what()));
  } catch (const OverflowError& e) {  // before ValueError, its base
    throw OverflowError(with_name(fn, e.what()));
  } catch (const OutOfMemory& e) {
    throw OutOfMemory(with_name(fn, e.what()));
  } catch (const ValueError& e) {
    throw ValueError(with_name(fn, e.what()));
  } catch (const Error& e) {
    throw Error(with_name(fn, e.what()));
  } catch (const py::cast_error& e) {
    throw py::type_error(with_name(fn, std::string("an argument has the wrong type: ") + e.what()));
  } catch (const py::value_error& e) {  // raised by a binding itself, perhaps without its name
    throw py::value_error(with_name(fn, e.what()));
  } catch (const py::type_error& e) {
    throw py::type_error(with_name(fn, e.what()));
  } catch (const py::index_error& e) {
    throw py::index_error(with_name(fn, e.what()));
  } catch (const std::bad_alloc&) {
    PyErr_Format(PyExc_MemoryError, "%s: out of memory (the engine could not allocate the size asked for)", fn);
    throw py::error_already_set();
  } catch (const std::length_error& e) {
    throw py::value_error(with_name(fn, std::string("size too large: ") + e.what()));
  } catch (py::error_already_set& e) {
    // A Python error from code the binding called (NumPy, dynagraph.devices, a str
    // conversion): the same kind, or the builtin kind it derives from, named.
    static PyObject* const kinds[] = {PyExc_IndexError, PyExc_OverflowError, PyExc_TypeError,
                                      PyExc_ValueError, PyExc_MemoryError, PyExc_RuntimeError};
    PyObject* type = e.type().ptr();
    for (PyObject* kind : kinds) {
      if (!PyErr_GivenExceptionMatches(type, kind)) continue;
      const std::string msg = py::str(e.value());
      if (with_name(fn, msg) == msg) throw;
      PyObject* raise_as = PyType_Check(type) && reinterpret_cast<PyTypeObject*>(type)->tp_init ==
                                                     reinterpret_cast<PyTypeObject*>(kind)->tp_init &&
                                   reinterpret_cast<PyTypeObject*>(type)->tp_str ==
                                       reinterpret_cast<PyTypeObject*>(kind)->tp_str
                               ? type
                               : kind;
      PyErr_SetString(raise_as, with_name(fn, msg).c_str());
      throw py::error_already_set();
    }
    throw;
  }
  // Unreachable for the kinds above; pybind11 and Python errors (already named by
  // their raiser) and anything else propagate unchanged from the `throw;` in try.
  throw;
}

}  // namespace dg::py_bind

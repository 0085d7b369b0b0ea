// Checked argument conversion for the bindings.
//
// Two halves of one rule: a bad argument is a Python exception that names the
// function, the argument and what was expected.
//  - int_arg / ints_arg / dim_arg convert the loosely typed arguments (shapes,
//    indices, axis lists) that a binding takes as py::object, instead of
//    py::cast, whose failure says "Unable to cast Python instance of type
//    <class 'float'> to C++ type '?'".
//  - named(fn, f) wraps a binding so that an engine error raised inside it
//    (a shape mismatch, a stale expression, an out-of-memory) carries the
//    function's name. On success it costs one extra direct call.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "core/dim.h"

namespace py = pybind11;

namespace dg::py_bind {

// An int (or anything with __index__, e.g. numpy.int64); a float, a bool-less
// non-number or a string is a TypeError, an int beyond `long` an OverflowError.
long int_arg(py::handle v, const char* fn, const char* arg);
// One int, or a 1-D sequence (list, tuple, NumPy array) of ints.
std::vector<long> ints_arg(py::handle v, const char* fn, const char* arg);
// A shape (an int or a sequence of ints) with `batch` elements; the engine's
// shape errors come back prefixed with the function and the argument.
Dim dim_arg(py::handle shape, long batch, const char* fn, const char* arg = "dim");

// `msg`, prefixed with "fn: " unless it already starts with fn.
std::string with_name(const char* fn, const std::string& msg);
// Rethrows the exception being handled with `fn` in its message, same Python type
// (a leftover pybind11 cast error becomes a TypeError, bad_alloc a MemoryError).
[[noreturn]] void rethrow_named(const char* fn);

template <class F>
struct NamedFn;
template <class R, class... A>
struct NamedFn<R (*)(A...)> {
  const char* fn;
  R (*f)(A...);
  R operator()(A... a) const {
    try {
      return f(std::forward<A>(a)...);
    } catch (...) {
      rethrow_named(fn);
    }
  }
};
// A captureless lambda or a function pointer, wrapped by rethrow_named.
template <class F>
auto named(const char* fn, F f) {
  auto p = +f;
  return NamedFn<decltype(p)>{fn, p};
}
// m.def(name, f, extra...) with f wrapped by named(name, f).
template <class F, class... Extra>
void def(py::module_& m, const char* name, F f, const Extra&... extra) {
  m.def(name, named(name, f), extra...);
}

}  // namespace dg::py_bind

namespace pybind11::detail {
// pybind11's list conversion takes anything that passes PySequence_Check, then
// calls len(): an Expression (which has __getitem__) or a 0-d NumPy array raises
// "object has no len()" from inside the argument conversion, a TypeError that
// names no function. Such an object is not a list: the conversion fails, and the
// dispatcher's TypeError names the function and its signature.
template <class V>
struct sized_list_caster : list_caster<V, typename V::value_type> {
  bool load(handle src, bool convert) {
    if (PySequence_Check(src.ptr()) && PySequence_Size(src.ptr()) < 0) {
      PyErr_Clear();
      return false;
    }
    return list_caster<V, typename V::value_type>::load(src, convert);
  }
};
}  // namespace pybind11::detail

// One line per element type the bindings take lists of (a full specialization
// wins over pybind11's own for std::vector<T>).
#define DG_SIZED_LIST(T) \
  template <>            \
  struct pybind11::detail::type_caster<std::vector<T>> : pybind11::detail::sized_list_caster<std::vector<T>> {};

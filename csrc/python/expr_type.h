// dynagraph._core.Expression as a plain CPython type.
//
// Graph construction is the hot path: every op call returns a new Expression.
// A pybind11 class costs a heap-allocated holder and generic overload
// dispatch per call (~0.4 us); this type stores the node handle inline and
// implements the arithmetic operators in the number protocol, so `W*h + b`
// never leaves C. A pybind11 type caster lets every other binding take and
// return dg::Expression as if it were a bound class.
#pragma once
#include <Python.h>

#include <pybind11/pybind11.h>

#include "graph/graph.h"
#include "params/parameter.h"

namespace dg::py_bind {

// ExprObject::absorbed: what the node an object named was merged into (graph/absorb.cc).
enum Absorbed : uint8_t { kNotAbsorbed = 0, kAbsorbedProduct = 1, kAbsorbedAffine = 2 };

struct ExprObject {
  PyObject_HEAD
  Expression e;
  // Set when this object looked like a temporary nothing else held (the `W * x` of
  // `W * x + b`, the `W * x + b` of `tanh(W * x + b)`) and its node was merged into
  // the node that read it; e then names the merged node. A C caller that passed its
  // only reference and uses the object again gets the value it named, built again
  // as a node of its own (rebuild_absorbed), never the merged node's.
  Absorbed absorbed;
  // What __cuda_array_interface__ handed out keeps alive (a pin on graph
  // memory): its consumers hold this object, not the dict. Usually null.
  PyObject* keep;
};

extern PyTypeObject* expr_type;

// Expression cannot be subclassed (no Py_TPFLAGS_BASETYPE), so the exact type is the test.
inline bool is_expr(PyObject* o) { return Py_TYPE(o) == expr_type; }
// Builds an absorbed object's value as a node of its own (W x, or W x + b without the
// activation) and names it; raises as check() does when the graph has moved on.
void rebuild_absorbed(ExprObject* o);
inline const Expression& expr_of(PyObject* o) {
  ExprObject* x = reinterpret_cast<ExprObject*>(o);
  if (__builtin_expect(x->absorbed != kNotAbsorbed, 0)) rebuild_absorbed(x);
  return x->e;
}
PyObject* new_expr(const Expression& e);

// Creates the type and adds it to the module (call once, before other bindings).
void init_expr_type(pybind11::module_& m);
// Fast CPython-level functions for unary and binary ops without attributes.
void add_fast_op(pybind11::module_& m, const char* name, OpId op, int arity, const char* doc);
// The node a Parameters or LookupParameters object stands for in the current
// graph (false for anything else).
bool parameter_node(PyObject* o, Expression& e);
// The storage of a LookupParameters object of exactly that type (not a subclass), else null.
LookupParameterStorage* exact_lookup_storage(PyObject* o);
// Whether o is a Parameters or a LookupParameters of exactly that type.
bool is_exact_parameters(PyObject* o);
// Fast paths in front of pybind11-bound functions for their common argument types
// (fast_calls.cc); call once, after every other binding.
void add_fast_calls(pybind11::module_& m);
// Gives another type (Parameters) the same +, -, *, / as Expression, in C.
void install_operators(pybind11::handle type);
// Sets the Python error for the exception being handled (dg errors, pybind11 errors),
// its message prefixed with `fn` (the function or operator) when given:
// IndexError -> IndexOutOfRange (an IndexError and a ValueError), IOError -> OSError,
// ValueError -> ValueError, other dg::Error -> RuntimeError.
void set_error_from_current_exception(const char* fn = nullptr);
// Creates IndexOutOfRange and routes pybind11-bound functions' dg errors through
// set_error_from_current_exception (call once, first).
void init_exceptions(pybind11::module_& m);

}  // namespace dg::py_bind

namespace pybind11::detail {
template <>
struct type_caster<dg::Expression> {
  PYBIND11_TYPE_CASTER(dg::Expression, const_name("Expression"));
  bool load(handle src, bool convert);
  static handle cast(const dg::Expression& e, return_value_policy, handle) {
    return dg::py_bind::new_expr(e);
  }
};
}  // namespace pybind11::detail

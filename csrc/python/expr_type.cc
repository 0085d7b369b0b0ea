#include "python/expr_type.h"

#include "python/args.h"

#include <array>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "graph/api.h"
#include "ops/affine_activation.h"
#include "params/parameter.h"

namespace py = pybind11;

namespace dg::py_bind {

PyTypeObject* expr_type = nullptr;

namespace {
PyObject* g_index_error = nullptr;  // IndexOutOfRange; one reference kept for the process's life
}  // namespace

void init_exceptions(py::module_& m) {
  // An index out of range is an IndexError, and also the ValueError DyNet raises
  // for it, so `except ValueError` written for DyNet still catches it.
  py::tuple bases = py::make_tuple(py::handle(PyExc_IndexError), py::handle(PyExc_ValueError));
  g_index_error = PyErr_NewExceptionWithDoc(
      "dynagraph._core.IndexOutOfRange", "An index out of range: an IndexError and a ValueError (DyNet's kind).",
      bases.ptr(), nullptr);
  if (!g_index_error) throw py::error_already_set();
  m.attr("IndexOutOfRange") = py::handle(g_index_error);
  // pybind11-bound functions reach the same table as the fast Expression paths.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error&) {
      set_error_from_current_exception();
    } catch (const py::builtin_exception&) {  // pybind11's own, for the messages' bytes (set_message)
      set_error_from_current_exception();
    }
  });
}

namespace {
// Graph building makes and drops an Expression per node: a short free list
// spares the allocator a call each way (the GIL guards it).
constexpr int kFreeMax = 64;
PyObject* g_free[kFreeMax];
int g_nfree = 0;
}  // namespace

PyObject* new_expr(const Expression& e) {
  ExprObject* o;
  if (g_nfree > 0) {
    o = reinterpret_cast<ExprObject*>(PyObject_Init(g_free[--g_nfree], expr_type));
  } else {
    o = PyObject_New(ExprObject, expr_type);
    if (!o) return nullptr;
  }
  o->e = e;
  o->absorbed = kNotAbsorbed;
  o->keep = nullptr;
  return reinterpret_cast<PyObject*>(o);
}

void rebuild_absorbed(ExprObject* o) {
  const Absorbed kind = o->absorbed;
  o->absorbed = kNotAbsorbed;  // (if the graph has moved on, e stays the merged node's: check() refuses it)
  ComputationGraph& g = cg();
  const Expression merged = o->e;
  g.check(merged);
  const Node& n = g.nodes[merged.i];
  if (n.op != OpId::affine_transform) throw Error("internal: an absorbed expression names a " +
                                                  std::string(op_impl(n.op).name) + " node");
  std::vector<Expression> args(n.nargs);
  for (unsigned k = 0; k < n.nargs; ++k) args[k] = Expression{g.args(n)[k], g.version()};
  // merged: affine_transform(b, W, x) (with f folded in or not); the product was W x.
  o->e = kind == kAbsorbedProduct ? api::op2(OpId::matmul, args[1], args[2])
                                  : api::opn(OpId::affine_transform, args);
}

// Sets a Python error whose message is `what`: a message quoting the caller's bytes
// (b'\xff' given for a name) need not be UTF-8, and PyErr_SetString would then raise
// UnicodeDecodeError in its place; such bytes are shown as \xff instead.
static void set_message(PyObject* type, const char* what) {
  PyObject* text = PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "backslashreplace");
  if (!text) return;  // MemoryError already set
  PyErr_SetObject(type, text);
  Py_DECREF(text);
}

// The one table from dg errors to Python exceptions (see init_exceptions); with `fn`,
// the message is first prefixed with the function's (or operator's) name.
void set_error_from_current_exception(const char* fn) {
  if (fn) {
    try {
      rethrow_named(fn);
    } catch (...) {
      set_error_from_current_exception(nullptr);
    }
    return;
  }
  try {
    throw;
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const IndexError& e) {
    set_message(g_index_error ? g_index_error : PyExc_IndexError, e.what());
  } catch (const IOError& e) {
    set_message(PyExc_OSError, e.what());
  } catch (const OverflowError& e) {  // before ValueError, its base
    set_message(PyExc_OverflowError, e.what());
  } catch (const OutOfMemory& e) {
    set_message(PyExc_MemoryError, e.what());
  } catch (const ValueError& e) {
    set_message(PyExc_ValueError, e.what());
  } catch (const Error& e) {
    set_message(PyExc_RuntimeError, e.what());
  } catch (const py::value_error& e) {
    set_message(PyExc_ValueError, e.what());
  } catch (const py::type_error& e) {
    set_message(PyExc_TypeError, e.what());
  } catch (const py::index_error& e) {
    set_message(PyExc_IndexError, e.what());
  } catch (const py::key_error& e) {
    set_message(PyExc_KeyError, e.what());
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    set_message(PyExc_RuntimeError, e.what());
  }
}

namespace {

// Parameters and lookup parameters stand for their nodes wherever an expression is
// expected (dy.parameter(p) returns p, as DyNet 2.2's does), so their conversion
// is on the graph-building path: an exact type check and the instance's C++
// pointer, without pybind11's type lookups.
PyTypeObject* g_param_type = nullptr;
PyTypeObject* g_lookup_type = nullptr;

template <class T>
T& storage_of(PyObject* o) {
  auto* inst = reinterpret_cast<py::detail::instance*>(o);
  return *static_cast<T*>(inst->get_value_and_holder().value_ptr());
}

}  // namespace

bool parameter_node(PyObject* o, Expression& e) {
  PyTypeObject* t = Py_TYPE(o);
  if (t == g_param_type) {
    e = api::parameter(storage_of<ParameterStorage>(o), true);
    return true;
  }
  if (t == g_lookup_type) {
    e = api::lookup_table(storage_of<LookupParameterStorage>(o), true);
    return true;
  }
  py::handle h(o);  // a subclass: the general way
  if (py::isinstance<ParameterStorage>(h)) {
    e = api::parameter(h.cast<ParameterStorage&>(), true);
    return true;
  }
  if (py::isinstance<LookupParameterStorage>(h)) {
    e = api::lookup_table(h.cast<LookupParameterStorage&>(), true);
    return true;
  }
  return false;
}

bool is_exact_parameters(PyObject* o) { return Py_TYPE(o) == g_param_type || Py_TYPE(o) == g_lookup_type; }

LookupParameterStorage* exact_lookup_storage(PyObject* o) {
  return Py_TYPE(o) == g_lookup_type ? &storage_of<LookupParameterStorage>(o) : nullptr;
}

namespace {

// Operand kinds for the number protocol.
enum class Kind { expr, number, parameter, array, other };

// A NumPy real scalar (np.float32(2), np.int64(3)) or 0-d real array is a number,
// as a Python float is; an array with axes is Kind::array, refused with a message
// (NumPy's own, "does not support ufuncs", names neither the array nor the fix).
Kind numpy_operand(PyObject* o, float& c) {
  PyTypeObject* t = Py_TYPE(o);
  const char* mod = t->tp_name;
  if (std::strncmp(mod, "numpy.", 6) != 0) return Kind::other;
  py::handle h(o);
  if (!py::hasattr(h, "ndim") || !py::hasattr(h, "dtype")) return Kind::other;
  const char kind = py::cast<py::str>(h.attr("dtype").attr("kind")).cast<std::string>()[0];
  if (h.attr("ndim").cast<long>() != 0) return Kind::array;
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') return Kind::other;  // complex, strings
  c = static_cast<float>(h.attr("item")().cast<double>());
  return Kind::number;
}

Kind kind_of(PyObject* o, Expression& e, float& c) {
  if (is_expr(o)) {
    e = expr_of(o);
    return Kind::expr;
  }
  PyTypeObject* t = Py_TYPE(o);
  if (t == g_param_type) {  // parameters next: used on every graph-building step
    e = api::parameter(storage_of<ParameterStorage>(o), true);
    return Kind::expr;
  }
  if (PyFloat_Check(o) || PyLong_Check(o)) {
    double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return Kind::other;
    }
    c = static_cast<float>(d);
    return Kind::number;
  }
  if (parameter_node(o, e)) return Kind::expr;
  return numpy_operand(o, c);
}

// Whether o is an object only the interpreter's stack holds: a temporary such as
// the `W * x` of `W * x + b`, which nobody can read after this operator. (Before
// 3.14, an object held only by a tuple passed as f(*t), or by a C caller, counts
// too: such a caller may use it again, and then gets its own value rebuilt:
// ExprObject::absorbed.)
bool unseen_temporary(PyObject* o) {
#if defined(Py_GIL_DISABLED)
  return false;
#elif PY_VERSION_HEX >= 0x030E0000
  // 3.14 borrows references of locals onto the stack: a count of 1 no longer says it.
  return PyUnstable_Object_IsUniqueReferencedTemporary(o);
#else
  return Py_REFCNT(o) == 1;
#endif
}

// x + y where one side is a product W * v that nothing else holds and the other
// (an expression made before it, or a Parameters) can be its bias: the product's
// node becomes affine_transform(bias, W, v) (ComputationGraph::absorb_bias), one
// node rather than two. The product's object is marked absorbed (ExprObject::absorbed).
// Null (no error set) when the sum is built as usual.
PyObject* add_to_unseen_product(PyObject* a, PyObject* b) {
  PyObject* sides[2][2] = {{a, b}, {b, a}};
  for (auto& side : sides) {
    PyObject* product = side[0];
    PyObject* other = side[1];
    if (!is_expr(product) || !unseen_temporary(product)) continue;
    Expression e = expr_of(product);
    bool merged = false;
    if (is_expr(other)) merged = cg().absorb_bias(e, expr_of(other));
    else if (Py_TYPE(other) == g_param_type) merged = api::absorb_parameter_bias(e, storage_of<ParameterStorage>(other));
    if (!merged) continue;
    ExprObject* p = reinterpret_cast<ExprObject*>(product);
    p->e = e;  // the merged node (a bias parameter's node may have moved before the product)
    p->absorbed = kAbsorbedProduct;
    return new_expr(e);
  }
  return nullptr;
}

// One implementation of the binary operators (+, -, *, /, **): `right` builds
// expr (op) number, `left` number (op) expr.
template <OpId kExprExpr, class ScalarRight, class ScalarLeft>
PyObject* binary_operator(const char* symbol, PyObject* a, PyObject* b, ScalarRight right, ScalarLeft left) {
  try {
    if constexpr (kExprExpr == OpId::add) {
      if (PyObject* merged = add_to_unseen_product(a, b)) return merged;
    }
    Expression ea, eb;
    float ca = 0.f, cb = 0.f;
    Kind ka = kind_of(a, ea, ca);
    if (ka == Kind::other) Py_RETURN_NOTIMPLEMENTED;
    Kind kb = kind_of(b, eb, cb);
    if (kb == Kind::other) Py_RETURN_NOTIMPLEMENTED;
    if (ka == Kind::array || kb == Kind::array) {
      py::handle arr(ka == Kind::array ? a : b);
      throw py::type_error(std::string(symbol) + ": an Expression and a NumPy array of shape " +
                           std::string(py::str(arr.attr("shape"))) +
                           " (arrays enter the graph through dy.inputTensor(array); a number or a "
                           "0-d array may be used directly)");
    }
    if (ka == Kind::expr && kb == Kind::expr) return new_expr(api::op2(kExprExpr, ea, eb));
    if (ka == Kind::expr && kb == Kind::number) return new_expr(right(ea, cb));
    if (ka == Kind::number && kb == Kind::expr) return new_expr(left(ca, eb));
    Py_RETURN_NOTIMPLEMENTED;
  } catch (...) {
    set_error_from_current_exception(symbol);
    return nullptr;
  }
}

PyObject* nb_add(PyObject* a, PyObject* b) {
  return binary_operator<OpId::add>(
      "x + y", a, b, [](const Expression& x, float c) { return api::op1(OpId::add_scalar, x, c); },
      [](float c, const Expression& x) { return api::op1(OpId::add_scalar, x, c); });
}
PyObject* nb_sub(PyObject* a, PyObject* b) {
  return binary_operator<OpId::sub>(
      "x - y", a, b, [](const Expression& x, float c) { return api::op1(OpId::add_scalar, x, -c); },
      [](float c, const Expression& x) { return api::op1(OpId::scalar_sub, x, c); });
}
// Expression * Expression is a matrix product, as in DyNet.
PyObject* nb_mul(PyObject* a, PyObject* b) {
  return binary_operator<OpId::matmul>(
      "x * y", a, b, [](const Expression& x, float c) { return api::op1(OpId::mul_scalar, x, c); },
      [](float c, const Expression& x) { return api::op1(OpId::mul_scalar, x, c); });
}
PyObject* nb_div(PyObject* a, PyObject* b) {
  return binary_operator<OpId::cdiv>(
      "x / y", a, b,
      [](const Expression& x, float c) {
        if (c == 0.f) throw ValueError("division of an expression by zero");
        return api::op1(OpId::mul_scalar, x, 1.f / c);
      },
      [](float c, const Expression& x) { return api::op1(OpId::scalar_div, x, c); });
}
// x ** y: the element-wise power (DyNet's x ** 2); a number on either side is a
// one-element constant, broadcast.
PyObject* nb_pow(PyObject* a, PyObject* b, PyObject* mod) {
  if (mod != Py_None) Py_RETURN_NOTIMPLEMENTED;
  return binary_operator<OpId::pow>(
      "x ** y", a, b, [](const Expression& x, float c) { return api::op2(OpId::pow, x, api::constant(Dim({1}), c)); },
      [](float c, const Expression& x) { return api::op2(OpId::pow, api::constant(Dim({1}), c), x); });
}
PyObject* nb_neg(PyObject* a) {
  try {
    Expression e;
    float c;
    if (kind_of(a, e, c) != Kind::expr) Py_RETURN_NOTIMPLEMENTED;
    return new_expr(api::op1(OpId::negate, e));
  } catch (...) {
    set_error_from_current_exception("-x");
    return nullptr;
  }
}

void expr_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  Py_CLEAR(reinterpret_cast<ExprObject*>(self)->keep);
  if (g_nfree < kFreeMax)
    g_free[g_nfree++] = self;  // PyObject_Init in new_expr takes the type's reference again
  else
    tp->tp_free(self);
  Py_DECREF(tp);
}

PyObject* get_vindex(PyObject* self, void*) {
  try {
    const Expression& e = expr_of(self);
    // The number may come back as a plain int (dy.cg().forward_vec(i)): node i and the
    // nodes before it must keep their values, so no later merge rewrites them or moves
    // a bias parameter's node before them (graph/absorb.cc).
    ComputationGraph& g = cg();
    try {
      g.check(e);
      g.mark_aliased(e.i);
    } catch (const Error&) {  // a stale expression's number, as DyNet gives it
    }
    return PyLong_FromUnsignedLong(e.i);
  } catch (...) {
    set_error_from_current_exception("vindex");
    return nullptr;
  }
}
PyObject* get_version(PyObject* self, void*) { return PyLong_FromUnsignedLong(expr_of(self).version); }

PyGetSetDef expr_getset[] = {
    {"vindex", get_vindex, nullptr, "Index of the node in the graph.", nullptr},
    {"cg_version", get_version, nullptr, "Version of the graph the node belongs to.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

// ---- fast module-level functions. Their self is the module, as for any module
// function, so they pickle by name (Ray, multiprocessing) and __qualname__ is the
// name; each is one instance of a slot function that reads its op from a table.
bool arg_expr(PyObject* o, Expression& e, const char* fn, const char* arg) {
  float c;
  if (kind_of(o, e, c) == Kind::expr) return true;
  PyErr_Format(PyExc_TypeError, "%s: argument '%s' must be an Expression (or Parameters), got %s", fn, arg,
               Py_TYPE(o)->tp_name);
  return false;
}

// f(W x + b) for f = logistic, tanh or rectify, where W x + b (an affine_transform
// node) is held by nothing else: f folds into that node (ComputationGraph::
// absorb_activation), marked as an absorbed product is. Null (no error set) when
// f's node is built as usual.
PyObject* fold_into_unseen_affine(OpId op, PyObject* arg) {
  if (affine_activation::of_op(op) == affine_activation::kNone || !unseen_temporary(arg)) return nullptr;
  Expression e = expr_of(arg);
  if (!cg().absorb_activation(e, op)) return nullptr;
  reinterpret_cast<ExprObject*>(arg)->absorbed = kAbsorbedAffine;
  return new_expr(e);
}

PyObject* fast_unary(OpId op, PyObject* arg) {
  try {
    if (!is_expr(arg)) {
      Expression e;
      if (!arg_expr(arg, e, op_impl(op).name, "x")) return nullptr;
      return new_expr(api::op1(op, e));
    }
    if (PyObject* folded = fold_into_unseen_affine(op, arg)) return folded;
    return new_expr(api::op1(op, expr_of(arg)));
  } catch (...) {
    set_error_from_current_exception(op_impl(op).name);
    return nullptr;
  }
}

PyObject* fast_binary(OpId op, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  try {
    const char* fn = op_impl(op).name;
    PyObject* x = nargs > 0 ? args[0] : nullptr;
    PyObject* y = nargs > 1 ? args[1] : nullptr;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; ++k) {
      const char* key = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
      PyObject* v = args[nargs + k];
      if (key && std::string(key) == "x" && !x) x = v;
      else if (key && std::string(key) == "y" && !y) y = v;
      else {
        if (!key) PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: unexpected or repeated keyword argument '%s'", fn, key ? key : "?");
        return nullptr;
      }
    }
    if (!x || !y || nargs > 2) {
      PyErr_Format(PyExc_TypeError, "%s: expected two expressions (x, y), got %zd positional argument(s)", fn, nargs);
      return nullptr;
    }
    Expression ex, ey;
    if (!arg_expr(x, ex, fn, "x") || !arg_expr(y, ey, fn, "y")) return nullptr;
    return new_expr(api::op2(op, ex, ey));
  } catch (...) {
    set_error_from_current_exception(op_impl(op).name);
    return nullptr;
  }
}

// A unary op called otherwise than f(x): f(x=x) as DyNet allows, else a TypeError.
PyObject* unary_other_call(OpId op, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  const char* fn = op_impl(op).name;
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nargs == 0 && nkw == 1) {
    const char* key = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, 0));
    if (key && std::strcmp(key, "x") == 0) return fast_unary(op, args[0]);
    if (!key) PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s: unexpected keyword argument '%s' (the argument is x)", fn, key ? key : "?");
    return nullptr;
  }
  PyErr_Format(PyExc_TypeError, "%s: expected one expression (x), got %zd positional and %zd keyword argument(s)", fn,
               nargs, nkw);
  return nullptr;
}

// Slot K of each arity calls the K-th op added with that arity.
constexpr size_t kFastSlots = 64;
OpId unary_ops[kFastSlots], binary_ops[kFastSlots];
size_t n_unary = 0, n_binary = 0;

template <size_t K>
PyObject* unary_slot(PyObject*, PyObject* arg) { return fast_unary(unary_ops[K], arg); }
// The function object's vectorcall: f(x) as fast as METH_O's, and f(x=x) too.
template <size_t K>
PyObject* unary_vectorcall(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs == 1 && !kwnames) return fast_unary(unary_ops[K], args[0]);
  return unary_other_call(unary_ops[K], args, nargs, kwnames);
}
template <size_t K>
PyObject* binary_slot(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return fast_binary(binary_ops[K], args, nargs, kwnames);
}
using BinaryMeth = PyObject* (*)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*);
template <size_t... K>
constexpr std::array<PyCFunction, kFastSlots> unary_slots(std::index_sequence<K...>) { return {unary_slot<K>...}; }
template <size_t... K>
constexpr std::array<vectorcallfunc, kFastSlots> unary_vectorcalls(std::index_sequence<K...>) {
  return {unary_vectorcall<K>...};
}
template <size_t... K>
constexpr std::array<BinaryMeth, kFastSlots> binary_slots(std::index_sequence<K...>) { return {binary_slot<K>...}; }

std::deque<PyMethodDef> fast_defs;  // must outlive the module's functions

}  // namespace

void add_fast_op(py::module_& m, const char* name, OpId op, int arity, const char* doc) {
  static constexpr auto unary = unary_slots(std::make_index_sequence<kFastSlots>());
  static constexpr auto unary_vc = unary_vectorcalls(std::make_index_sequence<kFastSlots>());
  static constexpr auto binary = binary_slots(std::make_index_sequence<kFastSlots>());
  size_t& n = arity == 1 ? n_unary : n_binary;
  const size_t slot = n;
  if (n == kFastSlots) throw Error(std::string("add_fast_op: no slot left for ") + name + " (raise kFastSlots)");
  PyMethodDef def{};
  def.ml_name = name;
  def.ml_doc = doc;
  if (arity == 1) {
    unary_ops[n] = op;
    def.ml_meth = unary[n];
    def.ml_flags = METH_O;
  } else {
    binary_ops[n] = op;
    def.ml_meth = reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(binary[n]));
    def.ml_flags = METH_FASTCALL | METH_KEYWORDS;
  }
  ++n;
  fast_defs.push_back(def);
  py::str modname = m.attr("__name__");
  PyObject* f = PyCFunction_NewEx(&fast_defs.back(), m.ptr(), modname.ptr());
  if (!f) throw py::error_already_set();
  // METH_O takes no keywords; DyNet's f(x=e) goes through the object's vectorcall (a
  // field of CPython's PyCFunctionObject, as for dy.transpose: python/fast_calls.cc).
  if (arity == 1) reinterpret_cast<PyCFunctionObject*>(f)->vectorcall = unary_vc[slot];
  m.add_object(name, py::reinterpret_steal<py::object>(f), true);
}

void init_expr_type(py::module_& m) {
  static PyType_Slot slots[] = {
      {Py_tp_dealloc, reinterpret_cast<void*>(expr_dealloc)},
      {Py_tp_getset, expr_getset},
      {Py_tp_doc, const_cast<char*>("A node of the current computation graph (stale after renew_cg()).")},
      {Py_nb_add, reinterpret_cast<void*>(nb_add)},
      {Py_nb_subtract, reinterpret_cast<void*>(nb_sub)},
      {Py_nb_multiply, reinterpret_cast<void*>(nb_mul)},
      {Py_nb_true_divide, reinterpret_cast<void*>(nb_div)},
      {Py_nb_power, reinterpret_cast<void*>(nb_pow)},
      {Py_nb_negative, reinterpret_cast<void*>(nb_neg)},
      {0, nullptr},
  };
  static PyType_Spec spec = {"dynagraph._core.Expression", sizeof(ExprObject), 0,
                             Py_TPFLAGS_DEFAULT, slots};
  PyObject* t = PyType_FromSpec(&spec);
  if (!t) throw py::error_already_set();
  expr_type = reinterpret_cast<PyTypeObject*>(t);
  m.add_object("Expression", py::reinterpret_borrow<py::object>(t));
}

void install_operators(py::handle type) {
  auto* t = reinterpret_cast<PyTypeObject*>(type.ptr());
  if (type.is(py::type::of<ParameterStorage>())) g_param_type = t;
  if (type.is(py::type::of<LookupParameterStorage>())) g_lookup_type = t;
  if (!t->tp_as_number) throw Error("install_operators: type has no number protocol");
  t->tp_as_number->nb_add = nb_add;
  t->tp_as_number->nb_subtract = nb_sub;
  t->tp_as_number->nb_multiply = nb_mul;
  t->tp_as_number->nb_true_divide = nb_div;
  t->tp_as_number->nb_power = nb_pow;
  t->tp_as_number->nb_negative = nb_neg;
  PyType_Modified(t);
}

}  // namespace dg::py_bind

namespace pybind11::detail {

bool type_caster<dg::Expression>::load(handle src, bool convert) {
  if (dg::py_bind::is_expr(src.ptr())) {
    value = dg::py_bind::expr_of(src.ptr());
    return true;
  }
  // Parameters stand for their node in the current graph (DyNet >= 2.1), and
  // lookup parameters for their whole table.
  return convert && dg::py_bind::parameter_node(src.ptr(), value);
}

}  // namespace pybind11::detail

// Fast paths in front of the pybind11-bound expression functions that models
// call once or more per tree node or word (concatenate, lookup, esum, the LSTM
// builders' fused step, transpose, ...), of
// E[i] on a lookup table, and of dy.parameter (a Python function).
//
// pybind11's dispatch costs ~0.2-0.5 us a call (argument records, overload
// passes, a std::vector per list argument). Each front function here reads its
// arguments' common kinds in C (Expressions, exact ints, a list or tuple of
// expressions) into stack arrays and calls the api directly. Anything else
// (keywords, other types, an index out of range, an empty list) is passed on
// unchanged to the general pybind11 function it replaced, so a bad argument
// raises exactly the error it always did; an engine error (a shape mismatch,
// a stale expression) is named as the general path names it.
//
// A front's self is its module, as for any module function, so it pickles by
// name like the function it replaced (Ray and multiprocessing send functions so)
// and its __qualname__ is its name; the general functions are kept here, and
// _core._general(front) returns one.
#include <Python.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <string>
#include <utility>

#include "python/bindings.h"

namespace dg::py_bind {

namespace {

// What a fast path returns when the call is not one of its common forms.
PyObject* const kGeneral = Py_None;

// An expression argument: an Expression, or a Parameters / LookupParameters
// (their node, as the type caster converts them). False: anything else, nothing done.
bool operand(PyObject* o, Expression& e) {
  if (is_expr(o)) {
    e = expr_of(o);
    return true;
  }
  return parameter_node(o, e);
}

// An int (exactly: not a bool, not a NumPy integer) in [lo, hi].
bool exact_int(PyObject* o, long lo, long hi, long& v) {
  if (!PyLong_CheckExact(o)) return false;
  int overflow = 0;
  v = PyLong_AsLongAndOverflow(o, &overflow);
  return !overflow && v >= lo && v <= hi;
}

bool int_arg_or(PyObject* const* args, Py_ssize_t nargs, Py_ssize_t k, long deflt, long& v) {
  if (k >= nargs) {
    v = deflt;
    return true;
  }
  return exact_int(args[k], INT_MIN, INT_MAX, v);
}

// The items of a non-empty list or tuple of at most kMaxItems expression arguments.
constexpr Py_ssize_t kMaxItems = 64;
struct Items {
  Expression e[kMaxItems];
  size_t n = 0;
};
bool expressions(PyObject* seq, Items& out) {
  if (!PyList_CheckExact(seq) && !PyTuple_CheckExact(seq)) return false;
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n < 1 || n > kMaxItems) return false;
  PyObject** items = PySequence_Fast_ITEMS(seq);
  for (Py_ssize_t k = 0; k < n; ++k)
    if (!operand(items[k], out.e[k])) return false;
  out.n = static_cast<size_t>(n);
  return true;
}

// ---- the fast paths: a new reference, or kGeneral (no error set)

PyObject* concatenate(PyObject* const* a, Py_ssize_t n) {  // concatenate(xs, d=0)
  Items xs;
  long d;
  if (n < 1 || n > 2 || !int_arg_or(a, n, 1, 0, d) || !expressions(a[0], xs)) return kGeneral;
  return new_expr(api::opn(OpId::concatenate, xs.e, xs.n, 0.f, static_cast<int>(d)));
}

template <OpId kOp>
PyObject* over_list(PyObject* const* a, Py_ssize_t n) {  // esum(xs), affine_transform(exprs)
  Items xs;
  if (n != 1 || !expressions(a[0], xs)) return kGeneral;
  return new_expr(api::opn(kOp, xs.e, xs.n));
}

PyObject* lookup(PyObject* const* a, Py_ssize_t n) {  // lookup(p, index=0, update=True)
  if (n < 1 || n > 3) return kGeneral;
  LookupParameterStorage* p = exact_lookup_storage(a[0]);
  long index = 0;
  if (!p || p->rows == 0 || (n > 1 && !exact_int(a[1], 0, static_cast<long>(p->rows) - 1, index))) return kGeneral;
  if (n > 2 && a[2] != Py_True && a[2] != Py_False) return kGeneral;
  const int32_t i = static_cast<int32_t>(index);
  return new_expr(api::lookup(*p, &i, 1, false, n < 3 || a[2] == Py_True));
}

PyObject* pick(PyObject* const* a, Py_ssize_t n) {  // pick(e, index=0, dim=0)
  Expression x;
  long index, dim;
  if (n < 1 || n > 3 || !int_arg_or(a, n, 1, 0, index) || !int_arg_or(a, n, 2, 0, dim) || !operand(a[0], x))
    return kGeneral;
  const int32_t i = static_cast<int32_t>(index);
  return new_expr(api::op_ints(OpId::pick, &x, 1, &i, 1, 0.f, 0.f, static_cast<int>(dim), 0));
}

PyObject* pick_range(PyObject* const* a, Py_ssize_t n) {  // pick_range(x, s, e, d=0)
  Expression x;
  long s, e, d;
  if (n < 3 || n > 4 || !exact_int(a[1], INT_MIN, INT_MAX, s) || !exact_int(a[2], INT_MIN, INT_MAX, e) ||
      !int_arg_or(a, n, 3, 0, d) || !operand(a[0], x))
    return kGeneral;
  const int32_t ints[3] = {static_cast<int32_t>(s), static_cast<int32_t>(e), static_cast<int32_t>(d)};
  return new_expr(api::op_ints(OpId::pick_range, &x, 1, ints, 3));
}

PyObject* pickneglogsoftmax(PyObject* const* a, Py_ssize_t n) {  // pickneglogsoftmax(x, v) with an int v
  Expression x;
  long v;
  if (n != 2 || !exact_int(a[1], INT_MIN, INT_MAX, v) || !operand(a[0], x)) return kGeneral;
  const int32_t i = static_cast<int32_t>(v);
  return new_expr(api::op_ints(OpId::pickneglogsoftmax, &x, 1, &i, 1));
}

// vanilla_lstm_c(c_tm1, gates_t), vanilla_lstm_h(c_t, gates_t)
template <OpId kOp>
PyObject* two_operands(PyObject* const* a, Py_ssize_t n) {
  Expression x[2];
  if (n != 2 || !operand(a[0], x[0]) || !operand(a[1], x[1])) return kGeneral;
  return new_expr(api::op2(kOp, x[0], x[1]));
}

// vanilla_lstm_gates(x_t, h_tm1, Wx, Wh, b, weightnoise_std=0.0): the LSTM builders' step, with a float >= 0.
PyObject* lstm_gates(PyObject* const* a, Py_ssize_t n) {
  Expression x[5];
  double noise = 0.0;
  if (n < 5 || n > 6) return kGeneral;
  if (n == 6 && (!PyFloat_CheckExact(a[5]) || !((noise = PyFloat_AS_DOUBLE(a[5])) >= 0.0))) return kGeneral;
  for (int k = 0; k < 5; ++k)
    if (!operand(a[k], x[k])) return kGeneral;
  const Expression args[5] = {x[1], x[2], x[3], x[4], x[0]};  // h, Wx, Wh, b, then the input (bind_nn.cc's order)
  return new_expr(api::opn(OpId::vanilla_lstm_gates, args, 5, static_cast<float>(noise), 0, 0));
}

using Fast = PyObject* (*)(PyObject* const*, Py_ssize_t);
struct FastCall {
  const char* name;
  Fast fast;
};
constexpr FastCall kFastCalls[] = {
    {"concatenate", concatenate},
    {"esum", over_list<OpId::sum>},
    {"affine_transform", over_list<OpId::affine_transform>},
    {"lookup", lookup},
    {"pick", pick},
    {"pick_range", pick_range},
    {"pickrange", pick_range},
    {"pickneglogsoftmax", pickneglogsoftmax},
    {"vanilla_lstm_gates", lstm_gates},
    {"vanilla_lstm_c", two_operands<OpId::vanilla_lstm_c>},
    {"vanilla_lstm_h", two_operands<OpId::vanilla_lstm_h>},
};

constexpr size_t kNumFronts = sizeof(kFastCalls) / sizeof(kFastCalls[0]);
PyObject* general_of[kNumFronts];  // kFastCalls[K]'s general function; a reference for the process's life

// Keyword arguments always take the general path.
template <size_t K>
PyObject* front(PyObject* /*module*/, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (!kwnames) {
    try {
      PyObject* r = kFastCalls[K].fast(args, nargs);
      if (r != kGeneral) return r;
    } catch (...) {
      set_error_from_current_exception(kFastCalls[K].name);
      return nullptr;
    }
  }
  return PyObject_Vectorcall(general_of[K], args, static_cast<size_t>(nargs), kwnames);
}

using FastMeth = PyObject* (*)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*);  // METH_FASTCALL | METH_KEYWORDS
std::deque<PyMethodDef> front_defs;  // must outlive the module's functions
std::deque<std::string> front_docs;
// (front, general) of every front made, for _general; references for the process's life.
std::deque<std::pair<PyObject*, PyObject*>> fronts;

// dy.parameter(p) (dynagraph/expressions.py) is called per parameter per tree or
// sentence in DyNet-style models and returns p itself: that case, in C; the
// Python function takes every other call.
PyObject* parameter_general = nullptr;  // the latest _parameters_front's (a module reload makes another)
PyObject* parameters_front(PyObject* /*module*/, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (!kwnames && nargs == 1 && is_exact_parameters(args[0])) {
    Py_INCREF(args[0]);
    return args[0];
  }
  return PyObject_Vectorcall(parameter_general, args, static_cast<size_t>(nargs), kwnames);
}

// A module function `name` of `module` (pickled by name, found there by
// pickle.loads) that runs meth and stands for general.
PyObject* new_front(PyObject* general, const char* name, std::string doc, FastMeth meth, const py::module_& module) {
  front_docs.push_back(std::move(doc));
  PyMethodDef def{};
  def.ml_name = name;
  def.ml_doc = front_docs.back().c_str();
  def.ml_meth = reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(meth));
  def.ml_flags = METH_FASTCALL | METH_KEYWORDS;
  front_defs.push_back(def);
  PyObject* f = PyCFunction_NewEx(&front_defs.back(), module.ptr(), module.attr("__name__").ptr());
  if (!f) throw py::error_already_set();
  Py_INCREF(f);
  Py_INCREF(general);
  fronts.emplace_back(f, general);
  return f;
}

// pybind11's "name(a: T, b: U = 1) -> R\n\ndoc" with a first line "name(a, b=1)\n--\n\n"
// before it: CPython's text-signature form (no annotations), which gives the builtin a
// __text_signature__ for inspect and help(), and leaves __doc__ the typed text docs and
// stubs read. An overloaded function's text is kept as it is.
std::string text_signature_doc(const std::string& name, const std::string& doc) {
  const std::string first = doc.substr(0, doc.find('\n'));
  const size_t ret = first.rfind(") -> ");
  if (first.rfind(name + "(", 0) != 0 || ret == std::string::npos) return doc;
  const std::string args = first.substr(name.size() + 1, ret - name.size() - 1);
  std::string plain, param;
  auto flush = [&] {  // "a: T = 1" -> "a=1", "a: T" -> "a"
    int depth = 0;
    size_t colon = std::string::npos, eq = std::string::npos;
    for (size_t i = 0; i < param.size(); ++i) {
      const char c = param[i];
      depth += (c == '[' || c == '(') - (c == ']' || c == ')');
      if (depth == 0 && c == ':' && colon == std::string::npos) colon = i;
      if (depth == 0 && c == '=' && eq == std::string::npos) eq = i;
    }
    std::string p = param.substr(0, std::min(colon, eq));
    p.erase(0, p.find_first_not_of(' '));
    p.erase(p.find_last_not_of(' ') + 1);
    if (eq != std::string::npos) p += "=" + param.substr(param.find_first_not_of(' ', eq + 1));
    if (!plain.empty()) plain += ", ";
    plain += p;
    param.clear();
  };
  int depth = 0;
  for (const char c : args) {
    depth += (c == '[' || c == '(') - (c == ']' || c == ')');
    if (c == ',' && depth == 0) flush();
    else param += c;
  }
  if (!param.empty()) flush();
  return name + "(" + plain + ")\n--\n\n" + doc;
}

// Whether inspect can read f's signature (a default pybind11 wrote as a repr cannot be).
bool has_signature(PyObject* f) {
  try {
    py::module_::import("inspect").attr("signature")(py::handle(f));
    return true;
  } catch (const py::error_already_set&) {
    return false;
  }
}

template <size_t... K>
void add_all(py::module_& m, std::index_sequence<K...>) {
  using Meth = PyObject* (*)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*);
  const Meth meths[] = {front<K>...};
  for (size_t k = 0; k < sizeof...(K); ++k) {
    const char* name = kFastCalls[k].name;
    py::object general = m.attr(name);
    general_of[k] = py::object(general).release().ptr();
    // The general function's docstring (its signatures): docs and stubs read the same text,
    // its first line in CPython's text-signature form where it has one signature.
    const std::string doc = py::str(general.attr("__doc__"));
    PyObject* f = new_front(general.ptr(), name, text_signature_doc(name, doc),
                            reinterpret_cast<FastMeth>(reinterpret_cast<void (*)()>(meths[k])), m);
    if (!has_signature(f)) front_defs.back().ml_doc = (front_docs.back() = doc).c_str();
    m.add_object(name, py::reinterpret_steal<py::object>(f), true);
  }
}

// dy.transpose: transpose(x) is built per word or node in some models (tied
// embeddings, attention), as often as tanh(x), and is a METH_O function as the
// element-wise ops are: CPython calls a METH_O function's C code directly for
// one positional argument, where a METH_FASTCALL | METH_KEYWORDS front costs
// ~3 ns more a call (41-42 vs 44-45 ns to build the node, measured). Any other
// call (transpose(x, dims), a keyword, f(*args)) goes through the function's
// vectorcall, which CPython uses for every call it does not specialise as
// METH_O with one argument; here that passes the call to the general function.
PyObject* transpose_general = nullptr;  // one reference for the process's life
PyObject* transpose_x(PyObject* /*module*/, PyObject* x) {
  Expression e;
  if (operand(x, e)) {
    try {
      return new_expr(api::op1(OpId::transpose, e));
    } catch (...) {
      set_error_from_current_exception("transpose");
      return nullptr;
    }
  }
  return PyObject_Vectorcall(transpose_general, &x, 1, nullptr);  // its error for a non-expression
}
PyObject* transpose_call(PyObject* /*self*/, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  if (PyVectorcall_NARGS(nargsf) == 1 && !kwnames) return transpose_x(nullptr, args[0]);
  return PyObject_Vectorcall(transpose_general, args, nargsf, kwnames);
}
void add_transpose(py::module_& m) {
  py::object general = m.attr("transpose");
  transpose_general = py::object(general).release().ptr();
  front_docs.push_back(text_signature_doc("transpose", py::str(general.attr("__doc__"))));
  PyMethodDef def{};
  def.ml_name = "transpose";
  def.ml_doc = front_docs.back().c_str();
  def.ml_meth = transpose_x;
  def.ml_flags = METH_O;
  front_defs.push_back(def);
  PyObject* f = PyCFunction_NewEx(&front_defs.back(), m.ptr(), m.attr("__name__").ptr());
  if (!f) throw py::error_already_set();
  reinterpret_cast<PyCFunctionObject*>(f)->vectorcall = transpose_call;
  Py_INCREF(f);
  Py_INCREF(transpose_general);
  fronts.emplace_back(f, transpose_general);
  m.add_object("transpose", py::reinterpret_steal<py::object>(f), true);
}

// E[i] for a lookup table E (DyNet's idiom for dy.lookup(E, i)): an int row in
// range in C, anything else through the bound LookupParameters.__getitem__.
PyObject* g_lookup_getitem = nullptr;  // the bound function; one reference for the process's life
PyObject* lookup_subscript(PyObject* self, PyObject* key) {
  if (LookupParameterStorage* p = exact_lookup_storage(self)) {
    long i;
    if (p->rows > 0 && exact_int(key, 0, static_cast<long>(p->rows) - 1, i)) {
      try {
        const int32_t row = static_cast<int32_t>(i);
        return new_expr(api::lookup(*p, &row, 1, false, true));
      } catch (...) {
        set_error_from_current_exception("LookupParameters.__getitem__");
        return nullptr;
      }
    }
  }
  PyObject* args[2] = {self, key};
  return PyObject_Vectorcall(g_lookup_getitem, args, 2, nullptr);
}

}  // namespace

void add_fast_calls(py::module_& m) {
  add_all(m, std::make_index_sequence<sizeof(kFastCalls) / sizeof(kFastCalls[0])>());
  add_transpose(m);
  py::object lookup_type = m.attr("LookupParameters");
  py::object getitem = lookup_type.attr("__dict__")["__getitem__"];
  if (PyInstanceMethod_Check(getitem.ptr()))
    getitem = py::reinterpret_borrow<py::object>(PyInstanceMethod_GET_FUNCTION(getitem.ptr()));
  g_lookup_getitem = getitem.release().ptr();
  auto* t = reinterpret_cast<PyTypeObject*>(lookup_type.ptr());
  if (!t->tp_as_mapping) throw Error("add_fast_calls: LookupParameters has no mapping protocol");
  t->tp_as_mapping->mp_subscript = lookup_subscript;
  PyType_Modified(t);
  m.def("_parameters_front", [](const py::function& general) {
    // "name(signature)\n--\n\n" gives the builtin the Python function's signature (inspect, docs).
    py::module_ inspect = py::module_::import("inspect");
    const std::string name = py::str(general.attr("__name__"));
    const std::string doc = name + std::string(py::str(inspect.attr("signature")(general))) + "\n--\n\n" +
                            std::string(py::str(inspect.attr("getdoc")(general)));
    front_docs.push_back(name);  // the name must outlive the function too
    // The module being imported (already in sys.modules): the front pickles as general's module.name.
    auto module = py::module_::import("sys").attr("modules")[general.attr("__module__")].cast<py::module_>();
    PyObject* f = new_front(general.ptr(), front_docs.back().c_str(), doc,
                            reinterpret_cast<FastMeth>(reinterpret_cast<void (*)()>(parameters_front)), module);
    Py_XDECREF(parameter_general);
    parameter_general = py::object(general).release().ptr();
    return py::reinterpret_steal<py::object>(f);
  }, py::arg("general"),
     "dy.parameter: returns a single Parameters or LookupParameters argument in C, general(...) otherwise.");
  m.def("_general", [](const py::object& f) -> py::object {
    for (const auto& [front, general] : fronts)
      if (front == f.ptr()) return py::reinterpret_borrow<py::object>(general);
    throw py::type_error("_general: f must be one of the fast-call fronts (dy.concatenate, dy.esum, ..., "
                         "dy.parameter), got " + std::string(py::str(py::repr(f))));
  }, py::arg("f"), "The general function behind a fast-call front (the one its uncommon calls go to).");
}

}  // namespace dg::py_bind

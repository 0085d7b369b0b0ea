// Expression functions of the input, arithmetic, element-wise and matmul families.
#include "device/device_ops.h"
#include "python/bindings.h"

namespace dg::py_bind {

namespace {
using E = const Expression&;
Expression un(OpId op, E x) { return api::op1(op, x); }
Expression bin(OpId op, E a, E b) { return api::op2(op, a, b); }

// floor/ceil/round: DyNet's gradient_mode picks zero or straight-through gradients.
float gradient_mode(const std::string& mode) {
  if (mode == "zero_gradient") return 0.f;
  if (mode == "straight_through_gradient") return 1.f;
  throw ValueError("gradient_mode must be 'zero_gradient' or 'straight_through_gradient', got '" + mode + "'");
}
// DyNet's device argument: "" is the graph's default device (-1); other names are
// checked by dynagraph.devices, the one place that words errors as DyNet does.
int check_device(const std::string& device) {
  if (device.empty()) return -1;
  return py::module_::import("dynagraph.devices").attr("_device_id")(device).cast<int>();
}

// A CUDA array (CuPy, or anything with __cuda_array_interface__): float32,
// C- or F-contiguous. Its memory order is column-major (F-contiguous, or one
// axis longer than 1) on a GPU graph device: copied device to device, no host
// round trip. Otherwise (a C-ordered matrix, or a CPU input) it is converted
// through a host copy. The graph keeps its own copy: the source may change.
struct CudaArray {
  std::vector<long> shape;
  const float* data = nullptr;
  bool column_major = false;
  size_t size = 1;
};

CudaArray read_cuda_array(const py::object& arr) {
  py::dict cai = arr.attr("__cuda_array_interface__");
  for (const char* key : {"shape", "typestr", "data"})
    if (!cai.contains(key))
      throw ValueError(std::string("inputTensor: arr.__cuda_array_interface__ has no '") + key + "'");
  const std::string typestr = py::str(cai["typestr"]);
  if (typestr != "<f4")
    throw ValueError("inputTensor: a CUDA array must be float32 (typestr '<f4'), got typestr '" + typestr +
                     "' (convert it with .astype('float32'))");
  CudaArray a;
  for (auto s : cai["shape"].cast<py::tuple>()) a.shape.push_back(s.cast<long>());
  std::vector<long> c_strides(a.shape.size()), f_strides(a.shape.size());
  long sc = 4, sf = 4;
  for (size_t k = a.shape.size(); k-- > 0;) c_strides[k] = sc, sc *= a.shape[k];
  for (size_t k = 0; k < a.shape.size(); ++k) f_strides[k] = sf, sf *= a.shape[k];
  bool c_contig = true, f_contig = true;
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    py::tuple strides = cai["strides"];
    if (strides.size() != a.shape.size())
      throw ValueError("inputTensor: __cuda_array_interface__ strides and shape differ in length");
    for (size_t k = 0; k < a.shape.size(); ++k) {
      if (a.shape[k] <= 1) continue;
      const long st = strides[k].cast<long>();
      c_contig = c_contig && st == c_strides[k];
      f_contig = f_contig && st == f_strides[k];
    }
  } else {
    f_contig = false;
  }
  if (!c_contig && !f_contig) {
    std::string got = py::str(cai["strides"]), shp = py::str(cai["shape"]);
    throw ValueError("inputTensor: a CUDA array must be contiguous, got shape " + shp + " with strides " + got +
                     " (copy it with cupy.ascontiguousarray)");
  }
  long longer = 0;
  for (long s : a.shape) {
    a.size *= static_cast<size_t>(s);
    longer += s > 1;
  }
  a.column_major = f_contig || longer <= 1;
  a.data = reinterpret_cast<const float*>(cai["data"].cast<py::tuple>()[0].cast<uintptr_t>());
  return a;
}

bool in_emu_memory(const CudaArray& a) {
  auto& emu = static_cast<EmuAllocator&>(device_allocator(kEmuDevice));
  return a.size > 0 && emu.owns(a.data) && emu.owns(a.data + a.size - 1);
}

// Through host memory, as a NumPy array of the source's memory order (input_from_array
// lays it out column-major). EMU:0's memory is host memory; a GPU's needs a CUDA build.
py::array host_copy_of_cuda_array(const CudaArray& a, bool emu) {
  if (!emu && !have_cuda())
    throw ValueError("inputTensor: got a CUDA array, but this dynagraph build has no CUDA (DYNAGRAPH_BACKEND=cuda)");
  std::vector<py::ssize_t> shape(a.shape.begin(), a.shape.end());
  py::array host = a.column_major ? py::array(py::array_t<float, py::array::f_style>(shape))
                                  : py::array(py::array_t<float, py::array::c_style>(shape));
  if (host.size() > 0)
    device_ops(emu ? DeviceKind::emu : DeviceKind::cuda).to_host(host.mutable_data(), a.data, sizeof(float) * a.size);
  return host;
}

Expression input_from_cuda_array(const py::object& arr, bool batched, int device) {
  const CudaArray a = read_cuda_array(arr);
  const DeviceId target = device >= 0 ? static_cast<DeviceId>(device) : cg().default_device;
  const DeviceKind kind = Device::from_id(target).kind;
  // EMU:0 takes its own memory (an EMU:0 value's interface, in the tests) device to device.
  const bool emu_source = in_emu_memory(a);
  const bool same_memory = kind == DeviceKind::cuda ? !emu_source : kind == DeviceKind::emu && emu_source;
  if (same_memory && a.column_major && a.size > 0) {
    std::vector<long> ds = a.shape;
    long batch = 1;
    if (batched) {
      if (ds.empty()) throw ValueError("inputTensor(batched=True) needs at least one axis (the batch)");
      batch = ds.back();
      ds.pop_back();
    }
    if (ds.empty()) ds.push_back(1);
    return api::input_from_device(a.data, Dim::from_vector(ds, batch), target);
  }
  return input_from_array(host_copy_of_cuda_array(a, emu_source), batched, device);
}

// A DLPack producer in host memory (NumPy, a PyTorch CPU tensor): read through
// numpy.from_dlpack (zero-copy) instead of element by element; None when the object
// cannot be read that way (it then takes the ordinary path).
py::object host_dlpack_array(const py::object& arr) {
  py::object dev;
  try {
    dev = arr.attr("__dlpack_device__")();
  } catch (py::error_already_set&) {
    return py::none();
  }
  if (dev.cast<py::tuple>()[0].cast<int>() != 1) return py::none();  // kDLCPU only
  try {
    return py::module_::import("numpy").attr("from_dlpack")(arr);
  } catch (py::error_already_set&) {
    return py::none();  // e.g. a tensor that requires grad: its __array__ path says why
  }
}

}  // namespace

void bind_ops_core(py::module_& m) {
  // ---- inputs (every input can be overwritten later with Expression.set, so
  // DyNet's reusable_expr changes nothing here)
  def(m, "inputTensor", [](const py::object& arr, bool batched, const std::string& device, bool) {
    const int dev = check_device(device);
    if (!py::isinstance<py::array>(arr)) {
      if (py::hasattr(arr, "__cuda_array_interface__")) return input_from_cuda_array(arr, batched, dev);
      if (py::hasattr(arr, "__dlpack__")) {
        py::object host = host_dlpack_array(arr);
        if (!host.is_none()) return input_from_array(host, batched, dev);
      }
    }
    // As DyNet: a list of NumPy arrays is a batch, one array per batch element.
    if (py::isinstance<py::list>(arr) && py::len(arr) > 0) {
      bool all_arrays = true;
      for (py::handle item : arr) all_arrays = all_arrays && py::isinstance<py::array>(item);
      if (all_arrays) {
        py::object stacked = py::module_::import("numpy").attr("stack")(arr, py::arg("axis") = -1);
        return input_from_array(stacked, true, dev);
      }
    }
    return input_from_array(arr, batched, dev);
  }, py::arg("arr"), py::arg("batched") = false, py::arg("device") = "", py::arg("reusable_expr") = false,
     "A tensor of a NumPy array or nested lists (with batched=True the last axis is the batch); a list "
     "of NumPy arrays is a batch of them. A DLPack array in host memory is read through numpy.from_dlpack; "
     "a float32 contiguous CUDA array (__cuda_array_interface__) is copied device to device on a GPU.");
  def(m, "inputVector", [](const py::object& values, const std::string& device) {
    const int dev = check_device(device);
    const Floats v = floats_from(values, "inputVector");
    if (v.size() == 0) throw ValueError("inputVector: empty vector");
    return api::input(v.data(), Dim::from_vector({static_cast<long>(v.size())}), dev);
  }, py::arg("v"), py::arg("device") = "", "A vector input of the numbers in v (a list or a 1-D array).");
  def(m, "inputMatrix", [](const py::object& values, const py::object& d) {
    Dim dim = dim_arg(d, 1, "inputMatrix", "d");
    const Floats v = floats_from(values, "inputMatrix");
    if (dim.size() != v.size())
      throw ValueError("inputMatrix: " + std::to_string(v.size()) + " values do not fill shape " + dim.str());
    return api::input(v.data(), dim);
  }, py::arg("v"), py::arg("d"), "An input of shape d from the numbers v in column-major order.");
  def(m, "scalarInput", [](float x, const std::string& device) {
    return api::input(&x, Dim({1}), check_device(device));
  }, py::arg("s"), py::arg("device") = "", "A one-element input holding s.");
  def(m, "constant", [](const py::object& d, float val, long batch_size) {
    return api::constant(dim_arg(d, batch_size, "constant"), val);
  }, py::arg("dim"), py::arg("val"), py::arg("batch_size") = 1,
     "A tensor of shape dim (batch_size elements) filled with val.");
  def(m, "zeros", [](const py::object& d, long batch_size) { return api::constant(dim_arg(d, batch_size, "zeros"), 0.f); },
        py::arg("dim"), py::arg("batch_size") = 1, "A tensor of shape dim (batch_size elements) of zeros.");
  def(m, "ones", [](const py::object& d, long batch_size) { return api::constant(dim_arg(d, batch_size, "ones"), 1.f); },
        py::arg("dim"), py::arg("batch_size") = 1, "A tensor of shape dim (batch_size elements) of ones.");
  def(m, "random_normal", [](const py::object& d, float mean, float stddev, long batch_size) {
    return api::random(OpId::random_normal, dim_arg(d, batch_size, "random_normal"), mean, stddev);
  }, py::arg("dim"), py::arg("mean") = 0.f, py::arg("stddev") = 1.f, py::arg("batch_size") = 1,
     "Gaussian samples N(mean, stddev^2) of shape dim, drawn at evaluation.");
  def(m, "random_uniform", [](const py::object& d, float left, float right, long batch_size) {
    return api::random(OpId::random_uniform, dim_arg(d, batch_size, "random_uniform"), left, right);
  }, py::arg("dim"), py::arg("left"), py::arg("right"), py::arg("batch_size") = 1,
     "Uniform samples in [left, right) of shape dim, drawn at evaluation (left > right draws in (right, left], "
     "as DyNet).");
  def(m, "random_bernoulli", [](const py::object& d, float p, float scale, long batch_size) {
    // Written so that NaN fails too (it drew zeros everywhere).
    if (!(p >= 0.f && p <= 1.f)) throw ValueError("random_bernoulli: p must be in [0, 1], got " + std::to_string(p));
    return api::random(OpId::random_bernoulli, dim_arg(d, batch_size, "random_bernoulli"), p, scale);
  }, py::arg("dim"), py::arg("p"), py::arg("scale") = 1.f, py::arg("batch_size") = 1,
     "scale with probability p, else 0, per element of shape dim, drawn at evaluation.");
  def(m, "random_gumbel", [](const py::object& d, float mu, float beta, long batch_size) {
    return api::random(OpId::random_gumbel, dim_arg(d, batch_size, "random_gumbel"), mu, beta);
  }, py::arg("dim"), py::arg("mu") = 0.f, py::arg("beta") = 1.f, py::arg("batch_size") = 1,
     "Gumbel(mu, beta) samples of shape dim, drawn at evaluation.");

  // ---- arithmetic (the operators live on the Expression type itself)
// "name(args)\n--\n\n": CPython's text-signature form (inspect.signature, help()).
#define DG_FAST_BINARY(NAME, DOC) add_fast_op(m, #NAME, OpId::NAME, 2, #NAME "(x, y)\n--\n\n" DOC);
  DG_FAST_BINARY(cmult, "Element-wise product (broadcasting a size-1 axis or batch).")
  DG_FAST_BINARY(cdiv, "Element-wise quotient x / y (broadcasting a size-1 axis or batch).")
  DG_FAST_BINARY(pow, "Element-wise power x ** y.")
  DG_FAST_BINARY(bmin, "Element-wise minimum of x and y.")
  DG_FAST_BINARY(bmax, "Element-wise maximum of x and y.")
  DG_FAST_BINARY(dot_product, "Dot product of two vectors (one value per batch element).")
  DG_FAST_BINARY(trace_of_product, "trace(x * transpose(y)) of two matrices of one shape.")
#undef DG_FAST_BINARY
  def(m, "esum", [](const std::vector<Expression>& xs) { return api::opn(OpId::sum, xs); }, py::arg("xs"),
        "Element-wise sum of a list of expressions of one shape.");
  def(m, "emax", [](const std::vector<Expression>& xs) { return api::opn(OpId::max, xs); }, py::arg("xs"),
        "Element-wise maximum of a list of expressions of one shape.");

  // ---- matmul family
  def(m, "_matmul", [](E a, E b) { return bin(OpId::matmul, a, b); });
  def(m, "affine_transform", [](const std::vector<Expression>& xs) { return api::opn(OpId::affine_transform, xs); },
        py::arg("exprs"), "b + W1*x1 + W2*x2 + ... for exprs = [b, W1, x1, W2, x2, ...].");
  // transpose(x) takes a fast path in C (fast_calls.cc); this is the general function behind it.
  def(m, "transpose", [](E x, const py::object& dims) {
    const std::vector<long> d = ints_arg(dims, "transpose", "dims");
    if (d.size() == 2 && d[0] == 1 && d[1] == 0) return api::op1(OpId::transpose, x);  // the default's node
    if (d.empty()) throw ValueError("transpose: dims is empty; it lists every axis of x in its new order");
    std::vector<int32_t> p;
    for (size_t k = 0; k < d.size(); ++k) {
      if (d[k] < INT32_MIN || d[k] > INT32_MAX)
        throw ValueError("transpose: dims[" + std::to_string(k) + "] = " + std::to_string(d[k]) +
                         " is not an axis (x has at most 4)");
      p.push_back(static_cast<int32_t>(d[k]));
    }
    return api::op_ints(OpId::transpose, {x}, p);
  }, py::arg("x"), py::arg("dims") = std::vector<long>{1, 0},
     "Each batch element with its axes permuted: axis i of the result is axis dims[i] of x. The default [1, 0] "
     "is the matrix transpose (a vector (n,) becomes (1, n)). dims lists every axis of x once (trailing axes of "
     "length 1 may be left out or added); the batch is never permuted.");
#define DG_FAST_UNARY(NAME, DOC) add_fast_op(m, #NAME, OpId::NAME, 1, #NAME "(x)\n--\n\n" DOC);
  DG_FAST_UNARY(inverse, "Inverse of a square matrix.")
  DG_FAST_UNARY(logdet, "log(det(x)) of a square positive-definite matrix.")

  // ---- element-wise: plain unary functions, bound from one list
  DG_FAST_UNARY(tanh, "Element-wise hyperbolic tangent.")
  DG_FAST_UNARY(logistic, "Element-wise sigmoid 1 / (1 + exp(-x)).")
  DG_FAST_UNARY(log_sigmoid, "Element-wise log(sigmoid(x)), computed stably.")
  DG_FAST_UNARY(rectify, "Element-wise ReLU max(0, x).")
  DG_FAST_UNARY(selu, "Element-wise scaled exponential linear unit (SELU).")
  DG_FAST_UNARY(softsign, "Element-wise x / (1 + |x|).")
  DG_FAST_UNARY(exp, "Element-wise exponential.")
  DG_FAST_UNARY(log, "Element-wise natural logarithm.")
  DG_FAST_UNARY(sqrt, "Element-wise square root.")
  DG_FAST_UNARY(square, "Element-wise square.")
  DG_FAST_UNARY(cube, "Element-wise cube.")
  DG_FAST_UNARY(abs, "Element-wise absolute value.")
  DG_FAST_UNARY(erf, "Element-wise Gauss error function.")
  DG_FAST_UNARY(lgamma, "Element-wise log of the absolute gamma function.")
  DG_FAST_UNARY(sin, "Element-wise sine.")
  DG_FAST_UNARY(cos, "Element-wise cosine.")
  DG_FAST_UNARY(tan, "Element-wise tangent.")
  DG_FAST_UNARY(asin, "Element-wise arcsine.")
  DG_FAST_UNARY(acos, "Element-wise arccosine.")
  DG_FAST_UNARY(atan, "Element-wise arctangent.")
  DG_FAST_UNARY(sinh, "Element-wise hyperbolic sine.")
  DG_FAST_UNARY(cosh, "Element-wise hyperbolic cosine.")
  DG_FAST_UNARY(asinh, "Element-wise inverse hyperbolic sine.")
  DG_FAST_UNARY(acosh, "Element-wise inverse hyperbolic cosine.")
  DG_FAST_UNARY(atanh, "Element-wise inverse hyperbolic tangent.")
  DG_FAST_UNARY(nobackprop, "x itself, through which backward passes no gradient.")
  DG_FAST_UNARY(flip_gradient, "x itself; backward passes the negated gradient (adversarial training).")
#undef DG_FAST_UNARY
  def(m, "elu", [](E x, float alpha) { return api::op1(OpId::elu, x, alpha); }, py::arg("x"), py::arg("alpha") = 1.f,
        "Element-wise ELU: x for x > 0, alpha * (exp(x) - 1) otherwise.");
  def(m, "silu", [](E x, float beta) { return api::op1(OpId::silu, x, beta); }, py::arg("x"), py::arg("beta") = 1.f,
        "Element-wise SiLU (swish) x * sigmoid(beta * x).");
  def(m, "scale_gradient", [](E x, float lambd) { return api::op1(OpId::scale_gradient, x, lambd); },
        py::arg("x"), py::arg("lambd") = 1.f, "x itself; backward multiplies its gradient by lambd.");
  def(m, "floor", [](E x, const std::string& mode) { return api::op1(OpId::floor, x, gradient_mode(mode)); },
        py::arg("x"), py::arg("gradient_mode") = "zero_gradient",
        "Element-wise floor; gradient_mode zero_gradient or straight_through_gradient.");
  def(m, "ceil", [](E x, const std::string& mode) { return api::op1(OpId::ceil, x, gradient_mode(mode)); },
        py::arg("x"), py::arg("gradient_mode") = "zero_gradient",
        "Element-wise ceiling; gradient_mode zero_gradient or straight_through_gradient.");
  def(m, "round", [](E x, const std::string& mode) { return api::op1(OpId::round, x, gradient_mode(mode)); },
        py::arg("x"), py::arg("gradient_mode") = "zero_gradient",
        "Element-wise rounding; gradient_mode zero_gradient or straight_through_gradient.");

}

}  // namespace dg::py_bind

// Shared declarations for the pybind11 bindings (bindings only, no logic).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "device/pinned_host.h"
#include "graph/api.h"
#include "python/args.h"
#include "python/expr_type.h"

namespace py = pybind11;

DG_SIZED_LIST(dg::Expression)
DG_SIZED_LIST(long)
DG_SIZED_LIST(int32_t)
DG_SIZED_LIST(float)
DG_SIZED_LIST(std::vector<int32_t>)

namespace dg::py_bind {

void bind_graph(py::module_& m);  // creates Expression: call first
void bind_ops_core(py::module_& m);  // inputs, arithmetic, element-wise, matmul
void bind_params(py::module_& m);
void bind_trainers(py::module_& m);
void bind_softmax_loss(py::module_& m);  // softmax, log-softmax, losses
void bind_reduce(py::module_& m);        // sums, moments, extrema, cumsum, argmax
void bind_distributed(py::module_& m);  // gradient hook and sufficient factors
void bind_blas(py::module_& m);         // the external BLAS behind large matrix products, threads
// Op families add their own bind_<family>() here and in module.cc.
void bind_shape(py::module_& m);  // pick, ranges, select, reshape, concatenate
void bind_noise(py::module_& m);  // dropout variants, Gaussian noise
void bind_conv(py::module_& m);   // conv2d, maxpooling2d, 1-D convolutions, circular products
void bind_nn(py::module_& m);     // contractions, layer/weight norm, LSTM kernels, sparsemax
void bind_device(py::module_& m); // devices, to_device, DLPack
// A pinned host buffer (device/pinned_host.h) as a NumPy array of `dtype` and
// `shape` (C order) without a copy; the buffer goes back to its pool when the
// array (and every view of it) is gone.
py::array pinned_numpy(PinnedBuffer buffer, const std::vector<py::ssize_t>& shape, const py::dtype& dtype);
// t itself on the CPU; for a device value a host copy in `staging`.
Tensor host_view(const Tensor& t, std::vector<float>& staging);

// Adds a method (any pybind11-bindable callable) to a non-pybind11 type such as Expression.
template <class F, class... Extra>
void def_method(py::handle type, const char* name, F&& f, const Extra&... extra) {
  py::cpp_function cf(std::forward<F>(f), py::name(name), py::is_method(type),
                      py::sibling(py::getattr(type, name, py::none())), extra...);
  py::setattr(type, name, cf);
}

// Dim -> Python (tuple of axes, batch); dim_arg (args.h) is the other way.
py::tuple dim_to_py(const Dim& d);
// A copy of t as a NumPy array: shape = axes (+ batch as a last axis when > 1).
py::array to_numpy(const Tensor& t);
// A float64 copy of n float32 values, with shape and strides (in elements) as given.
py::array widened_array(const std::vector<py::ssize_t>& shape, std::vector<py::ssize_t> strides, const float* v,
                        size_t n);
// `obj` as a NumPy array of a real dtype (float, int, unsigned, bool); anything
// else (None, strings, objects, ragged lists) is a TypeError naming fn and arg.
py::array real_array(const py::object& obj, const std::string& fn, const char* arg);
// NumPy/list input: float32, Fortran order; `batched` takes the last axis as the batch.
// device: a DeviceId, or -1 for the graph's default device.
Expression input_from_array(const py::object& arr, bool batched, int device = -1);

// The numbers of a flat list or a 1-D NumPy array (any real dtype). An array is
// read through its buffer: as a sequence pybind11 would box every element into
// a NumPy scalar first (5-7.5 us for 64 floats, against 0.5 us this way).
struct Floats {
  py::object holder;  // the float32 array read from, when the input was an array
  const float* begin = nullptr;
  size_t n = 0;
  std::vector<float> list;
  const float* data() const { return holder ? begin : list.data(); }
  size_t size() const { return holder ? n : list.size(); }
};
// `fn` names the caller in the errors (a 2-D array, a non-real dtype, a non-number).
Floats floats_from(const py::handle& v, const char* fn);

}  // namespace dg::py_bind

// Shared declarations for the pybind11 bindings (bindings only, no logic).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "graph/api.h"

namespace py = pybind11;

namespace dg::py_bind {

void bind_graph(py::module_& m);
void bind_ops_core(py::module_& m);  // inputs, arithmetic, element-wise, matmul
void bind_params(py::module_& m);
void bind_trainers(py::module_& m);
void bind_distributed(py::module_& m);  // gradient hook and sufficient factors
// Op families add their own bind_<family>() here and in module.cc.

// Dim <-> Python (tuple of axes, batch).
Dim dim_from(const py::object& shape, long batch = 1);
py::tuple dim_to_py(const Dim& d);
// A copy of t as a NumPy array: shape = axes (+ batch as a last axis when > 1).
py::array to_numpy(const Tensor& t);
// NumPy/list input: float32, Fortran order; `batched` takes the last axis as the batch.
Expression input_from_array(const py::object& arr, bool batched);

}  // namespace dg::py_bind

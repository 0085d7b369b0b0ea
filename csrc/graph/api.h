// Node-building functions: the C++ side of every expression function. The
// Python bindings call these and nothing else; each checks its arguments are
// live (not stale) and lets the op's dim_forward validate shapes.
#pragma once
#include <vector>

#include "graph/graph.h"
#include "params/parameter.h"

namespace dg::api {

inline ComputationGraph& G() { return cg(); }

// Data entering the graph (copied now).
// device: a DeviceId, or -1 for the graph's default device.
Expression input(const float* data, const Dim& d, int device = -1);
// An input whose values (column-major, d.size() floats) are already in the memory of
// `device` (a GPU, or EMU:0): copied there device to device when it is made, into
// graph memory, so the source may change or die afterwards.
Expression input_from_device(const float* src, const Dim& d, DeviceId device);
// x's value on another device (DyNet's to_device).
Expression to_device(const Expression& x, DeviceId device);
Expression constant(const Dim& d, float value);
Expression random(OpId op, const Dim& d, float a, float b);
Expression parameter(ParameterStorage& p, bool update);
Expression lookup(LookupParameterStorage& p, const int32_t* idx, unsigned n, bool batched, bool update);
// The whole table as one (row shape..., rows) expression (DyNet's parameter(lookup)).
Expression lookup_table(LookupParameterStorage& p, bool update);

// Expression.set: new data for an input node (n column-major values), or new
// row indices for a lookup node (n of them, as many as it looked up). The
// graph's values are recomputed at the next forward.
void set_input_values(const Expression& e, const float* values, size_t n);
void set_lookup_indices(const Expression& e, const long* indices, size_t n);
bool is_lookup(const Expression& e);

// W x + b for a product nothing else holds (the Python `+`, python/expr_type.cc): b's
// node (made now if this graph has none yet, then moved before the product, as
// arguments precede their node) and the product turned into affine_transform(b, W, x);
// `product` then names it. False, with the graph as it was, when it cannot.
bool absorb_parameter_bias(Expression& product, ParameterStorage& b);

// Generic forms, for ops whose only attributes are f0/f1/i0/i1 and int lists.
Expression op1(OpId op, const Expression& x, float f0 = 0.f, float f1 = 0.f, int i0 = 0, int i1 = 0);
Expression op2(OpId op, const Expression& a, const Expression& b, float f0 = 0.f, int i0 = 0, int i1 = 0);
Expression opn(OpId op, const std::vector<Expression>& xs, float f0 = 0.f, int i0 = 0, int i1 = 0);
// An op with a variable-length int attribute (indices, axes) stored in the graph.
Expression op_ints(OpId op, const std::vector<Expression>& xs, const std::vector<int32_t>& ints,
                   float f0 = 0.f, float f1 = 0.f, int i0 = 0, int i1 = 0);
// The same from arrays (the bindings' fast paths read arguments into stack arrays).
Expression opn(OpId op, const Expression* xs, size_t n, float f0 = 0.f, int i0 = 0, int i1 = 0);
Expression op_ints(OpId op, const Expression* xs, size_t n, const int32_t* ints, size_t nints, float f0 = 0.f,
                   float f1 = 0.f, int i0 = 0, int i1 = 0);

}  // namespace dg::api

// An activation applied inside affine_transform: tanh(W x + b) as one node.
//
// `f(W * x + b)` is the gate of every DyNet cell. When nothing else can read
// W x + b, the graph folds f into the affine node (ComputationGraph::
// absorb_activation, graph/absorb.cc): affine_transform's i0 names f, its
// forward applies f in place after the products, and backward first turns the
// node's gradient dy into dz = dy f'(y), the gradient of W x + b, which every
// argument's gradient then reads (the graph computes dz once per node or
// group: ops' backward runs once per argument). f' is taken from the output y,
// so the pre-activation values are not kept.
//
// The formulas are the element-wise ops' own (ops/gate_formulas.h), so a folded
// node gives bit for bit what the two nodes give.
#pragma once
#include <cstddef>

#include "core/tensor.h"
#include "ops/gate_formulas.h"
#include "ops/op_id.h"

namespace dg::affine_activation {

// Node::i0 of an affine_transform node.
enum Kind : int32_t { kNone = 0, kLogistic = 1, kTanh = 2, kRectify = 3 };

// The kind for an element-wise op (kNone: one that is not folded).
inline Kind of_op(OpId op) {
  switch (op) {
    case OpId::logistic: return kLogistic;
    case OpId::tanh: return kTanh;
    case OpId::rectify: return kRectify;
    default: return kNone;
  }
}

inline const char* name(int32_t kind) {
  switch (kind) {
    case kLogistic: return "logistic";
    case kTanh: return "tanh";
    case kRectify: return "rectify";
    default: return nullptr;
  }
}

// y = f(y), in place.
inline void apply(int32_t kind, Tensor& y) {
  auto x = y.arr();
  switch (kind) {
    case kLogistic: x = gate::logistic_value(x); break;
    case kTanh: x = gate::tanh_value(x); break;
    case kRectify: x = gate::rectify_value(x); break;
    default: break;
  }
}

// dz = dy f'(x) from y = f(x) (dz may not alias dy).
inline void gradient(int32_t kind, const Tensor& y, const Tensor& dy, float* dz) {
  ArrMap z(dz, y.d.size());
  auto yv = y.arr();
  switch (kind) {
    case kLogistic: z = dy.arr() * gate::logistic_slope(yv); break;
    case kTanh: z = dy.arr() * gate::tanh_slope(yv); break;
    case kRectify: z = dy.arr() * gate::rectify_slope(yv); break;
    default: z = dy.arr(); break;
  }
}

}  // namespace dg::affine_activation

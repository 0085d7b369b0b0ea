// The gate functions tanh, logistic and rectify as Eigen array expressions: the
// value from x, the slope dy/dx from y. The element-wise ops (ops/elementwise.cc)
// and the activations folded into affine_transform (ops/affine_activation.h) both
// evaluate these, so a folded node gives the separate nodes' values and gradients
// bit for bit.
#pragma once

namespace dg::gate {

template <class X>
auto tanh_value(const X& x) { return x.tanh(); }
template <class Y>
auto tanh_slope(const Y& y) { return 1.f - y.square(); }

template <class X>
auto logistic_value(const X& x) { return 0.5f * (0.5f * x).tanh() + 0.5f; }
template <class Y>
auto logistic_slope(const Y& y) { return y * (1.f - y); }

template <class X>
auto rectify_value(const X& x) { return x.max(0.f); }
template <class Y>
auto rectify_slope(const Y& y) { return (y > 0.f).template cast<float>(); }  // x > 0 exactly where y > 0

}  // namespace dg::gate

// Expression functions of the convolution families (conv.cc, conv1d.cc), with
// DyNet's names, argument names and defaults.
#include "python/bindings.h"

namespace dg::py_bind {

namespace {
using E = const Expression&;

// A [rows, cols] pair (strides, window sizes), each in [1, 65535].
std::pair<int, int> pair_of(const std::vector<long>& v, const char* op, const char* what) {
  if (v.size() != 2)
    throw ValueError(std::string(op) + ": " + what + " must have 2 entries [rows, cols], got " +
                     std::to_string(v.size()));
  for (long x : v)
    if (x < 1 || x > 65535)
      throw ValueError(std::string(op) + ": " + what + " entries must be in [1, 65535], got " + std::to_string(x));
  return {static_cast<int>(v[0]), static_cast<int>(v[1])};
}
int packed(std::pair<int, int> p) { return p.first | (p.second << 16); }
}  // namespace

void bind_conv(py::module_& m) {
  def(m, "conv2d", [](E x, E f, const std::vector<long>& stride, bool is_valid) {
    auto s = pair_of(stride, "conv2d", "stride");
    return api::op2(OpId::conv2d, x, f, is_valid ? 1.f : 0.f, s.first, s.second);
  }, py::arg("x"), py::arg("f"), py::arg("stride"), py::arg("is_valid") = true,
     "2-D convolution (cross-correlation) of feature maps x (H, W, C_in) with filters f (fh, fw, C_in, C_out); "
     "stride [sh, sw]; is_valid=False pads as TensorFlow's SAME. Result (YH, YW, C_out), batch kept.");
  def(m, "conv2d_bias", [](E x, E f, E b, const std::vector<long>& stride, bool is_valid) {
    auto s = pair_of(stride, "conv2d_bias", "stride");
    return api::opn(OpId::conv2d_bias, {x, f, b}, is_valid ? 1.f : 0.f, s.first, s.second);
  }, py::arg("x"), py::arg("f"), py::arg("b"), py::arg("stride"), py::arg("is_valid") = true,
     "conv2d(x, f, stride, is_valid) plus the bias b (C_out,) on every output position.");
  def(m, "maxpooling2d", [](E x, const std::vector<long>& ksize, const std::vector<long>& stride, bool is_valid) {
    int k = packed(pair_of(ksize, "maxpooling2d", "ksize")), s = packed(pair_of(stride, "maxpooling2d", "stride"));
    return api::op1(OpId::maxpooling2d, x, is_valid ? 1.f : 0.f, 0.f, k, s);
  }, py::arg("x"), py::arg("ksize"), py::arg("stride"), py::arg("is_valid") = true,
     "2-D max pooling of feature maps x (H, W, C) with window ksize [kh, kw] and stride [sh, sw]; "
     "is_valid=False pads as SAME (padding never wins).");
  def(m, "filter1d_narrow", [](E x, E y) { return api::op2(OpId::filter1d_narrow, x, y); }, py::arg("x"),
        py::arg("y"),
        "Narrow 1-D convolution of x (d, n) with filters y (d, w[, m]): result (m, n - w + 1), "
        "entry [k, j] = sum(x[:, j:j+w] * y[:, :, k]).");
  def(m, "kmax_pooling", [](E x, int k, int d) { return api::op1(OpId::kmax_pooling, x, 0.f, 0.f, k, d); },
        py::arg("x"), py::arg("k"), py::arg("d") = 1,
        "The k largest entries along axis d, kept in their original order.");
  def(m, "fold_rows", [](E x, int nrows) { return api::op1(OpId::fold_rows, x, 0.f, 0.f, nrows); }, py::arg("x"),
        py::arg("nrows") = 2, "Sums each group of nrows consecutive rows: (r, c) -> (r / nrows, c).");
  def(m, "kmh_ngram", [](E x, int v) { return api::op1(OpId::kmh_ngram, x, 0.f, 0.f, v); }, py::arg("x"),
        py::arg("v"), "Sums of v consecutive columns: (d, n) -> (d, n - v + 1).");
  def(m, "circ_conv", [](E u, E v) { return api::op2(OpId::circ_conv, u, v); }, py::arg("u"), py::arg("v"),
        "Circular convolution y_k = sum_i u_i v_{(k - i) mod n} of two vectors.");
  def(m, "circ_corr", [](E u, E v) { return api::op2(OpId::circ_corr, u, v); }, py::arg("u"), py::arg("v"),
        "Circular correlation y_k = sum_i u_i v_{(i + k) mod n} of two vectors.");
}

}  // namespace dg::py_bind

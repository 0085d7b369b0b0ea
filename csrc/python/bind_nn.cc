// Expression functions of the contract, norm, lstm and sparse families, with
// DyNet's names, argument names and defaults.
#include "python/bindings.h"

namespace dg::py_bind {

namespace {
using E = const Expression&;
using Es = std::vector<Expression>;

Expression gates(const Es& xs, E h, E Wx, E Wh, E b, const Expression* mx, const Expression* mh, float noise) {
  if (noise < 0.f) throw ValueError("vanilla_lstm_gates: weightnoise_std must be >= 0, got " + std::to_string(noise));
  Es args = {h, Wx, Wh, b};
  if (mx) {
    args.push_back(*mx);
    args.push_back(*mh);
  }
  args.insert(args.end(), xs.begin(), xs.end());
  return api::opn(OpId::vanilla_lstm_gates, args, noise, 0, mx ? 1 : 0);
}
}  // namespace

void bind_nn(py::module_& m) {
  // ---- contractions
  def(m, "contract3d_1d", [](E x, E y) { return api::op2(OpId::contract3d_1d, x, y); }, py::arg("x"), py::arg("y"),
        "z[i, j] = sum_k x[i, j, k] y[k] for x (a, b, c) and y (c,): result (a, b).");
  def(m, "contract3d_1d_bias", [](E x, E y, E b) { return api::opn(OpId::contract3d_1d_bias, {x, y, b}); },
        py::arg("x"), py::arg("y"), py::arg("b"), "contract3d_1d(x, y) + b, b of shape (a, b).");
  def(m, "contract3d_1d_1d", [](E x, E y, E z) { return api::opn(OpId::contract3d_1d_1d, {x, y, z}); },
        py::arg("x"), py::arg("y"), py::arg("z"),
        "t[i] = sum_{j,k} x[i, j, k] y[k] z[j] for x (a, b, c), y (c,), z (b,): result (a,).");
  def(m, "contract3d_1d_1d_bias",
        [](E x, E y, E z, E b) { return api::opn(OpId::contract3d_1d_1d_bias, {x, y, z, b}); }, py::arg("x"),
        py::arg("y"), py::arg("z"), py::arg("b"), "contract3d_1d_1d(x, y, z) + b, b of shape (a,).");
  // ---- normalisation
  def(m, "layer_norm", [](E x, E g, E b) { return api::opn(OpId::layer_norm, {x, g, b}); }, py::arg("x"),
        py::arg("g"), py::arg("b"),
        "g * (x - mean(x)) / (std(x) + 1e-8) + b over all elements of each batch element; g, b shaped like x.");
  def(m, "weight_norm", [](E w, E g) { return api::op2(OpId::weight_norm, w, g); }, py::arg("w"), py::arg("g"),
        "g * w / ||w|| (g has one element).");
  // ---- LSTM kernels
  def(m, "vanilla_lstm_gates", [](E x_t, E h_tm1, E Wx, E Wh, E b, float noise) {
    return gates({x_t}, h_tm1, Wx, Wh, b, nullptr, nullptr, noise);
  }, py::arg("x_t"), py::arg("h_tm1"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("weightnoise_std") = 0.0,
     "LSTM gates [sigmoid(z_i); sigmoid(z_f + 1); sigmoid(z_o); tanh(z_g)] with z = Wx x_t + Wh h_tm1 + b "
     "(Wx: 4H x I, Wh: 4H x H, b: 4H); optional Gaussian weight noise. Result (4H,).");
  def(m, "vanilla_lstm_gates_concat", [](const Es& x_t, E h_tm1, E Wx, E Wh, E b, float noise) {
    return gates(x_t, h_tm1, Wx, Wh, b, nullptr, nullptr, noise);
  }, py::arg("x_t"), py::arg("h_tm1"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("weightnoise_std") = 0.0,
     "vanilla_lstm_gates with the list x_t concatenated as the input.");
  def(m, "vanilla_lstm_gates_dropout", [](E x_t, E h_tm1, E Wx, E Wh, E b, E mx, E mh, float noise) {
    return gates({x_t}, h_tm1, Wx, Wh, b, &mx, &mh, noise);
  }, py::arg("x_t"), py::arg("h_tm1"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("dropout_mask_x"),
     py::arg("dropout_mask_h"), py::arg("weightnoise_std") = 0.0,
     "vanilla_lstm_gates with z = Wx (x_t .* dropout_mask_x) + Wh (h_tm1 .* dropout_mask_h) + b.");
  def(m, "vanilla_lstm_gates_dropout_concat", [](const Es& x_t, E h_tm1, E Wx, E Wh, E b, E mx, E mh, float noise) {
    return gates(x_t, h_tm1, Wx, Wh, b, &mx, &mh, noise);
  }, py::arg("x_t"), py::arg("h_tm1"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("dropout_mask_x"),
     py::arg("dropout_mask_h"), py::arg("weightnoise_std") = 0.0,
     "vanilla_lstm_gates_dropout with the list x_t concatenated as the input.");
  def(m, "vanilla_lstm_c", [](E c_tm1, E gates_t) { return api::op2(OpId::vanilla_lstm_c, c_tm1, gates_t); },
        py::arg("c_tm1"), py::arg("gates_t"), "LSTM cell c_t = i .* g + f .* c_tm1 (gates_t from vanilla_lstm_gates).");
  def(m, "vanilla_lstm_h", [](E c_t, E gates_t) { return api::op2(OpId::vanilla_lstm_h, c_t, gates_t); },
        py::arg("c_t"), py::arg("gates_t"), "LSTM output h_t = o .* tanh(c_t).");
  // ---- sparse normalisers
  def(m, "sparsemax", [](E x) { return api::op1(OpId::sparsemax, x); }, py::arg("x"),
        "Sparsemax: Euclidean projection of the vector x onto the probability simplex.");
  def(m, "constrained_softmax", [](E x, E y) { return api::op2(OpId::constrained_softmax, x, y); }, py::arg("x"),
        py::arg("y"), "Softmax of the scores x with upper bounds y on the probabilities.");
}

}  // namespace dg::py_bind

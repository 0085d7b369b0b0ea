#include "params/trainers.h"

#include "device/swap.h"

#include <cmath>
#include <memory>
#include <sstream>

namespace dg {

float* Trainer::state_for(const void* key, size_t n, DeviceId device) {
  unsigned k = slots();
  if (k == 0) return nullptr;
  auto& s = state_[key];
  if (s.size() != k * n) s = Resident(k * n);
  s.set_owner(key);  // a device budget streams a parameter with its state
  s.place(device);   // the state lives with its parameter
  return device == kCpuDevice ? s.write() : s.dev_write();
}

std::vector<float> Trainer::state_of(const void* storage) const {
  auto it = state_.find(storage);
  if (it == state_.end()) return {};
  const HostFloats h = it->second.host();
  return std::vector<float>(h.begin(), h.end());
}

void Trainer::set_state(const void* storage, const float* data, size_t n, size_t size) {
  if (n != 0 && n != slots() * size)
    throw ValueError(kind() + ".set_state: expected " + std::to_string(slots() * size) + " values (" +
                     std::to_string(slots()) + " slots of " + std::to_string(size) + "), got " + std::to_string(n));
  if (n == 0) {
    state_.erase(storage);
    return;
  }
  Resident r(n);
  std::copy(data, data + n, r.write());
  state_[storage] = std::move(r);  // moves to its parameter's device at the next update
}

void Trainer::restart() { state_.clear(); }

std::string Trainer::status() {
  std::ostringstream os;
  os << "[lr=" << learning_rate << " clips=" << clips_since_status << " updates=" << updates_since_status << "] ";
  updates_since_status = clips_since_status = 0;
  return os.str();
}

namespace {

const DeviceOpTable& ops_of(DeviceId d) { return device_ops(Device::from_id(d).kind); }

// Where a parameter's update runs: its device, or the host while it streams
// (device/swap.h: its values, gradient and state live on the host).
template <class P>
DeviceId where(const P& p) { return p->values.streams() ? kCpuDevice : p->device; }

// Squared norm of a gradient (only `rows` of it, when given), computed where it lives.
double grad_squared_norm(Resident& g, DeviceId d, const std::vector<unsigned>* rows, size_t row_size) {
  if (d == kCpuDevice) {
    const float* x = g.read();
    if (!rows) return VecMap(const_cast<float*>(x), g.size()).squaredNorm();
    double sq = 0.0;
    for (unsigned r : *rows) sq += VecMap(const_cast<float*>(x) + size_t(r) * row_size, row_size).squaredNorm();
    return sq;
  }
  if (!rows) return ops_of(d).squared_norm(g.dev_read(), g.size(), nullptr, 1);
  if (rows->empty()) return 0.0;
  DeviceRows on_dev(d, *rows);
  return ops_of(d).squared_norm(g.dev_read(), rows->size() * row_size, on_dev.get(),
                                static_cast<uint32_t>(row_size));
}

bool all_finite(Resident& g, DeviceId d) {
  if (d != kCpuDevice) return std::isfinite(grad_squared_norm(g, d, nullptr, 1));
  return VecMap(const_cast<float*>(g.read()), g.size()).allFinite();
}

// Weight decay of resident values: x *= factor on the device.
void scale_on_device(DeviceId d, Resident& values, float factor) {
  UpdateLaunch u;
  u.rule = UpdateLaunch::Rule::scale;
  u.h[0] = factor;
  u.w = values.dev_write();
  u.n = u.stride = values.size();
  ops_of(d).update(u);
}

}  // namespace

void Trainer::update_on_device(DeviceId d, Resident& values, Resident& grad, float* state, float gscale,
                               const std::vector<unsigned>* rows, size_t row_size) {
  UpdateLaunch u;
  device_rule(u);
  u.g = grad.dev_read();
  u.w = values.dev_write();
  u.s = state;
  u.stride = values.size();
  u.scale = gscale;
  std::unique_ptr<DeviceRows> on_dev;
  if (rows) {
    if (rows->empty()) return;
    on_dev = std::make_unique<DeviceRows>(d, *rows);
    u.rows = on_dev->get();
    u.row_size = static_cast<uint32_t>(row_size);
    u.n = rows->size() * row_size;
  } else {
    u.n = values.size();
  }
  ops_of(d).update(u);
}

void Trainer::update() {
  auto params = pc_->parameters_list();
  auto lookups = pc_->lookup_parameters_list();
  // Squared norm of every gradient that will be applied (on each parameter's device):
  // only clipping and the finiteness check read it, and it is a pass over every gradient.
  double sq = 0.0;
  if (clipping_enabled || check_finite) {
    for (auto& p : params)
      if (p->updated && p->nonzero_grad) sq += grad_squared_norm(p->grad, where(p), nullptr, 1);
    for (auto& p : lookups) {
      if (!p->updated || !p->nonzero_grad()) continue;
      const bool dense = p->all_touched || !sparse_updates;
      sq += grad_squared_norm(p->grad, where(p), dense ? nullptr : &p->touched, p->row_size());
    }
  }
  if (check_finite && !std::isfinite(sq)) {
    std::string bad;
    for (auto& p : params)
      if (p->nonzero_grad && !all_finite(p->grad, where(p))) bad += " " + p->name;
    for (auto& p : lookups)
      if (p->nonzero_grad() && !all_finite(p->grad, where(p))) bad += " " + p->name;
    for (auto& p : params) p->clear_grad();
    for (auto& p : lookups) p->clear_grad();
    throw ValueError("non-finite (NaN or inf) gradient in:" + bad +
                     "; the update was skipped and the gradients cleared");
  }
  float gscale = 1.f;
  if (clipping_enabled && sq > 0.0) {
    double norm = std::sqrt(sq);
    if (norm > clip_threshold) {
      ++clips;
      ++clips_since_status;
      gscale = static_cast<float>(clip_threshold / norm);
    }
  }
  const float decay = pc_->weight_decay;
  for (auto& p : params) {
    if (!p->updated || !p->nonzero_grad) continue;
    const size_t n = p->values.size();
    const DeviceId d = where(p);
    float* state = state_for(p.get(), n, d);
    if (d != kCpuDevice) {
      update_on_device(d, p->values, p->grad, state, gscale, nullptr, 1);
      if (decay > 0.f) scale_on_device(d, p->values, 1.f - decay);
    } else {
      float* x = p->values.write();
      rule(x, p->grad.read(), state, n, gscale);
      if (decay > 0.f) VecMap(x, n) *= 1.f - decay;
    }
    p->clear_grad();
  }
  for (auto& p : lookups) {
    if (!p->updated) continue;
    if (p->nonzero_grad() || !sparse_updates) {
      size_t n = p->values.size();
      const DeviceId d = where(p);
      float* st = state_for(p.get(), n, d);
      const bool dense = p->all_touched || !sparse_updates;
      if (d != kCpuDevice) {
        update_on_device(d, p->values, p->grad, st, gscale, dense ? nullptr : &p->touched, p->row_size());
      } else if (dense) {
        rule(p->values.write(), p->grad.read(), st, n, gscale);
      } else {
        unsigned rs = p->row_size();
        unsigned k = slots();
        // State slots are laid out slot-major; give the rule a per-row view.
        for (unsigned r : p->touched) {
          if (k == 0) {
            rule(p->row(r), p->grad_row(r), nullptr, rs, gscale);
          } else {
            AlignedFloats row_state(k * rs);
            for (unsigned s = 0; s < k; ++s)
              std::copy(st + s * n + size_t(r) * rs, st + s * n + size_t(r) * rs + rs, row_state.begin() + s * rs);
            rule(p->row(r), p->grad_row(r), row_state.data(), rs, gscale);
            for (unsigned s = 0; s < k; ++s)
              std::copy(row_state.begin() + s * rs, row_state.begin() + (s + 1) * rs, st + s * n + size_t(r) * rs);
          }
        }
      }
    }
    p->clear_grad();
  }
  after_update();
  ++updates;
  ++updates_since_status;
}

namespace {

using Arr = Eigen::Map<Eigen::ArrayXf>;
using CArr = Eigen::Map<const Eigen::ArrayXf>;

struct SGD : Trainer {
  using Trainer::Trainer;
  std::string kind() const override { return "SimpleSGDTrainer"; }
  void rule(float* x, const float* g, float*, size_t n, float gs) override {
    Arr(x, n) -= (learning_rate * gs) * CArr(g, n);
  }
  void device_rule(UpdateLaunch& u) const override {
    u.rule = UpdateLaunch::Rule::sgd;
    u.h[0] = learning_rate;
  }
};

// Learning rate moves along a triangle between lr_min and lr_max (Smith 2017);
// as DyNet, the rate for the next update is set after each update.
struct CyclicalSGD : SGD {
  CyclicalSGD(std::shared_ptr<ParameterCollection> pc, float lo, float hi, float step, float gamma)
      : SGD(std::move(pc), lo), lr_min(lo), lr_max(hi), step_size(step), gamma(gamma) {}
  std::string kind() const override { return "CyclicalSGDTrainer"; }
  void after_update() override {
    float e = static_cast<float>(updates);
    float cycle = std::floor(1.f + e / (2.f * step_size));
    float x = std::fabs(e / step_size - 2.f * cycle + 1.f);
    learning_rate = lr_min + (lr_max - lr_min) * std::max(0.f, 1.f - x) * std::pow(gamma, e);
  }
  float lr_min, lr_max, step_size, gamma;
};

struct Momentum : Trainer {
  Momentum(std::shared_ptr<ParameterCollection> pc, float lr, float mom) : Trainer(std::move(pc), lr), mom(mom) {}
  std::string kind() const override { return "MomentumSGDTrainer"; }
  unsigned slots() const override { return 1; }
  void rule(float* x, const float* g, float* s, size_t n, float gs) override {
    Arr v(s, n);
    v = mom * v - (learning_rate * gs) * CArr(g, n);
    Arr(x, n) += v;
  }
  void device_rule(UpdateLaunch& u) const override {
    u.rule = UpdateLaunch::Rule::momentum;
    u.h[0] = learning_rate;
    u.h[1] = mom;
  }
  float mom;
};

struct Adagrad : Trainer {
  Adagrad(std::shared_ptr<ParameterCollection> pc, float lr, float eps) : Trainer(std::move(pc), lr), eps(eps) {}
  std::string kind() const override { return "AdagradTrainer"; }
  unsigned slots() const override { return 1; }
  void rule(float* x, const float* g, float* s, size_t n, float gs) override {
    Arr G(s, n);
    auto gg = (gs * CArr(g, n)).eval();
    G += gg.square();
    Arr(x, n) -= learning_rate * gg / (G + eps).sqrt();
  }
  void device_rule(UpdateLaunch& u) const override {
    u.rule = UpdateLaunch::Rule::adagrad;
    u.h[0] = learning_rate;
    u.h[1] = eps;
  }
  float eps;
};

struct Adadelta : Trainer {
  Adadelta(std::shared_ptr<ParameterCollection> pc, float eps, float rho) : Trainer(std::move(pc), 1.f), eps(eps), rho(rho) {}
  std::string kind() const override { return "AdadeltaTrainer"; }
  unsigned slots() const override { return 2; }
  void rule(float* x, const float* g, float* s, size_t n, float gs) override {
    Arr hg(s, n), hd(s + n, n);
    auto gg = (gs * CArr(g, n)).eval();
    hg = rho * hg + (1.f - rho) * gg.square();
    auto d = (-gg * (hd + eps).sqrt() / (hg + eps).sqrt()).eval();
    hd = rho * hd + (1.f - rho) * d.square();
    Arr(x, n) += d;  // AdaDelta has no learning rate: DyNet's rule ignores the trainer's
  }
  void device_rule(UpdateLaunch& u) const override {
    u.rule = UpdateLaunch::Rule::adadelta;
    u.h[1] = eps;
    u.h[2] = rho;
  }
  float eps, rho;
};

struct RMSProp : Trainer {
  RMSProp(std::shared_ptr<ParameterCollection> pc, float lr, float eps, float rho)
      : Trainer(std::move(pc), lr), eps(eps), rho(rho) {}
  std::string kind() const override { return "RMSPropTrainer"; }
  unsigned slots() const override { return 1; }
  void rule(float* x, const float* g, float* s, size_t n, float gs) override {
    Arr h(s, n);
    auto gg = (gs * CArr(g, n)).eval();
    h = rho * h + (1.f - rho) * gg.square();
    Arr(x, n) -= learning_rate * gg / (h + eps).sqrt();
  }
  void device_rule(UpdateLaunch& u) const override {
    u.rule = UpdateLaunch::Rule::rmsprop;
    u.h[0] = learning_rate;
    u.h[1] = eps;
    u.h[2] = rho;
  }
  float eps, rho;
};

struct Adam : Trainer {
  Adam(std::shared_ptr<ParameterCollection> pc, float lr, float b1, float b2, float eps, bool ams)
      : Trainer(std::move(pc), lr), b1(b1), b2(b2), eps(eps), ams(ams) {}
  std::string kind() const override { return ams ? "AmsgradTrainer" : "AdamTrainer"; }
  unsigned slots() const override { return ams ? 3 : 2; }
  void rule(float* x, const float* g, float* s, size_t n, float gs) override {
    Arr m(s, n), v(s + n, n);
    auto gg = (gs * CArr(g, n)).eval();
    m = b1 * m + (1.f - b1) * gg;
    v = b2 * v + (1.f - b2) * gg.square();
    float t = static_cast<float>(updates + 1);
    float lr_t = learning_rate * std::sqrt(1.f - std::pow(b2, t)) / (1.f - std::pow(b1, t));
    if (ams) {
      Arr vhat(s + 2 * n, n);
      vhat = vhat.max(v);
      Arr(x, n) -= lr_t * m / (vhat.sqrt() + eps);
    } else {
      Arr(x, n) -= lr_t * m / (v.sqrt() + eps);
    }
  }
  void device_rule(UpdateLaunch& u) const override {
    float t = static_cast<float>(updates + 1);
    u.rule = ams ? UpdateLaunch::Rule::amsgrad : UpdateLaunch::Rule::adam;
    u.h[0] = learning_rate * std::sqrt(1.f - std::pow(b2, t)) / (1.f - std::pow(b1, t));
    u.h[1] = b1;
    u.h[2] = b2;
    u.h[3] = eps;
  }
  float b1, b2, eps;
  bool ams;
};

}  // namespace

std::unique_ptr<Trainer> make_trainer(const std::string& kind, std::shared_ptr<ParameterCollection> pc,
                                      const std::vector<float>& h) {
  auto need = [&](size_t k) {
    if (h.size() != k) throw ValueError(kind + " expects " + std::to_string(k) + " hyper-parameters");
  };
  if (kind == "sgd") { need(1); return std::make_unique<SGD>(pc, h[0]); }
  if (kind == "cyclical") { need(4); return std::make_unique<CyclicalSGD>(pc, h[0], h[1], h[2], h[3]); }
  if (kind == "momentum") { need(2); return std::make_unique<Momentum>(pc, h[0], h[1]); }
  if (kind == "adagrad") { need(2); return std::make_unique<Adagrad>(pc, h[0], h[1]); }
  if (kind == "adadelta") { need(2); return std::make_unique<Adadelta>(pc, h[0], h[1]); }
  if (kind == "rmsprop") { need(3); return std::make_unique<RMSProp>(pc, h[0], h[1], h[2]); }
  if (kind == "adam") { need(4); return std::make_unique<Adam>(pc, h[0], h[1], h[2], h[3], false); }
  if (kind == "amsgrad") { need(4); return std::make_unique<Adam>(pc, h[0], h[1], h[2], h[3], true); }
  throw ValueError("unknown trainer kind: " + kind);
}

}  // namespace dg

// Trainers: gradient clipping plus one update rule each, applied to every
// parameter of a collection (only the touched rows of lookup parameters,
// unless sparse updates are switched off).
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "device/device_ops.h"
#include "params/collection.h"

namespace dg {

class Trainer {
 public:
  explicit Trainer(std::shared_ptr<ParameterCollection> pc, float learning_rate)
      : learning_rate(learning_rate), pc_(std::move(pc)) {}
  virtual ~Trainer() = default;

  void update();
  // Forgets the moments; as DyNet, keeps the update count (Adam's bias correction and the
  // cyclical schedule go on from it) and the learning rate (the Python side sets that).
  void restart();
  // DyNet's status line, "[lr=... clips=... updates=...] ", counting since the
  // previous call (which it resets).
  std::string status();
  virtual std::string kind() const = 0;
  // The rule's per-value state of one parameter (slots() * its size floats, slot-major;
  // empty before its first update): dynagraph.distributed checkpoints and copies it.
  std::vector<float> state_of(const void* storage) const;
  // n is 0 (forget it) or slots() * size, the parameter's number of values.
  void set_state(const void* storage, const float* data, size_t n, size_t size);

  float learning_rate;
  bool clipping_enabled = true;
  float clip_threshold = 5.f;
  bool sparse_updates = true;
  bool check_finite = false;  // raise instead of applying a NaN/inf gradient
  unsigned updates = 0;
  unsigned clips = 0;
  unsigned updates_since_status = 0, clips_since_status = 0;

 protected:
  // Applies the rule to n values at x with gradient g (already scaled by gscale).
  // `state` holds this rule's per-value slots (slots() * n floats), zero-initialised.
  virtual void rule(float* x, const float* g, float* state, size_t n, float gscale) = 0;
  // The same rule as a device kernel (parameters resident on a device): sets
  // u.rule and u.h; update() fills in the memory and launches it.
  virtual void device_rule(UpdateLaunch& u) const = 0;
  virtual unsigned slots() const { return 0; }
  virtual void after_update() {}  // runs before `updates` is incremented
  std::shared_ptr<ParameterCollection> pc_;

 private:
  // The rule's state of a parameter of n values, where the parameter lives.
  float* state_for(const void* key, size_t n, DeviceId device);
  void update_on_device(DeviceId d, Resident& values, Resident& grad, float* state, float gscale,
                        const std::vector<unsigned>* rows, size_t row_size);
  std::unordered_map<const void*, Resident> state_;
};

std::unique_ptr<Trainer> make_trainer(const std::string& kind,
                                      std::shared_ptr<ParameterCollection> pc,
                                      const std::vector<float>& hyper);

}  // namespace dg

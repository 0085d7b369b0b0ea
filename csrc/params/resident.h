// Parameter memory that lives where the parameter is used. A Resident holds
// n floats in host memory and, once the owner is placed on a device, a
// resident copy in that device's memory (from its allocator) that the
// device's parameter nodes point at, its backward adds into and its
// trainer updates: nothing is copied per graph. Host readers and writers
// (as_array, set_value, save/load, initialisers) get a current host copy;
// each side copies from the other only when the other holds newer values.
#pragma once
#include <cstdint>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "params/staging.h"

namespace dg {

class Resident {
 public:
  explicit Resident(size_t n = 0) : host_(n, 0.f) {}
  Resident(Resident&& o) noexcept { *this = std::move(o); }
  Resident& operator=(Resident&& o) noexcept;
  Resident(const Resident&) = delete;
  Resident& operator=(const Resident&) = delete;
  ~Resident() {
    free_device();
    enlist(kCpuDevice);
  }

  size_t size() const { return host_.size(); }
  DeviceId device() const { return device_; }
  // Where the values live from now on: the current values move there (a
  // device copy is made when the device first needs it).
  void place(DeviceId d);

  // Host memory, current (a newer device copy is copied down first).
  const float* read() const {
    if (!host_ok_) pull();
    return host_.data();
  }
  // ... and about to be written on the host: the device copy becomes stale.
  float* write() {
    if (!host_ok_) pull();
    dev_ok_ = false;
    zeros_ = false;
    return host_.data();
  }
  // After a host write: a device copy (if one was made) is brought up to date
  // now, so that graph nodes already pointing at it see the new values (as
  // CPU nodes, which alias the host memory, do).
  void push();
  const AlignedFloats& host() const {
    read();
    return host_;
  }
  // Device memory of device() (not the CPU), current; dev_write() marks the host copy stale.
  float* dev_read();
  float* dev_write() {
    float* p = dev_read();
    host_ok_ = false;
    zeros_ = false;
    return p;
  }
  // A host copy of the current values in `out` (one copy from whichever side
  // holds them: the device's memory stays current, nothing is marked stale).
  float* stage(HostStaging& out) const {
    if (!host_ok_) return out.assign(dev_, host_.size(), device_);
    return out.assign(host_.data(), host_.size(), kCpuDevice);
  }
  // Every current copy set to v (no copies between host and device).
  void fill(float v);
  // Rows `rows` (row_size floats each) of every current copy set to 0.
  void zero_rows(const std::vector<unsigned>& rows, size_t row_size);

 private:
  friend void release_device_copies(DeviceId d);
  void pull() const;  // device -> host
  void free_device() noexcept;
  void enlist(DeviceId d) noexcept;  // the registry of what is placed on each device

  mutable AlignedFloats host_;
  float* dev_ = nullptr;
  DeviceId device_ = kCpuDevice;
  mutable bool host_ok_ = true;
  bool dev_ok_ = false;
  bool zeros_ = true;  // every value is 0 (a new gradient or state): the device copy is filled, not copied
};

// Row indices in device memory for one update launch (freed with it).
class DeviceRows {
 public:
  DeviceRows(DeviceId d, const std::vector<unsigned>& rows);
  ~DeviceRows();
  DeviceRows(const DeviceRows&) = delete;
  DeviceRows& operator=(const DeviceRows&) = delete;
  const uint32_t* get() const { return p_; }

 private:
  DeviceId device_;
  uint32_t* p_ = nullptr;
  size_t bytes_;
};

// Bytes of the Residents placed on device d (parameters' values and gradients,
// trainer state): what they hold there, or will once used. A device memory
// budget counts them (device/swap.h).
size_t resident_placed_bytes(DeviceId d);
// Every Resident placed on d: its values copied to the host (when newer on the
// device) and its device copy freed; a later dev_read() makes one again.
void release_device_copies(DeviceId d);

// Bytes of parameter memory (values, gradients, trainer state) copied between
// host and device since the process started: {to the device, to the host}.
// The tests check that resident parameters are not copied per graph.
struct ResidentTraffic {
  uint64_t to_device, to_host;
};
ResidentTraffic resident_traffic();

}  // namespace dg

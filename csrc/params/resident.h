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
#include "device/pinned_host.h"
#include "params/staging.h"

namespace dg {

// A Resident's host values, read-only (in its own memory, or pinned while it streams).
struct HostFloats {
  const float* p;
  size_t n;
  const float* data() const { return p; }
  size_t size() const { return n; }
  const float* begin() const { return p; }
  const float* end() const { return p + n; }
};

class Resident {
 public:
  explicit Resident(size_t n = 0) : host_(n, 0.f), n_(n), seq_(next_seq()) {}
  Resident(Resident&& o) noexcept { *this = std::move(o); }
  Resident& operator=(Resident&& o) noexcept;
  Resident(const Resident&) = delete;
  Resident& operator=(const Resident&) = delete;
  ~Resident() {
    free_device();
    enlist(kCpuDevice);
  }

  size_t size() const { return n_; }
  DeviceId device() const { return device_; }
  // Where the values live from now on: the current values move there (a
  // device copy is made when the device first needs it).
  void place(DeviceId d);
  // The parameter this memory belongs to (its values, gradient and trainer
  // state share one): a device budget streams a parameter as a whole.
  // `values`: this is the parameter's values, whose versions are stamps of
  // one process-wide counter (values_stamp).
  void set_owner(const void* owner, bool values = false) {
    owner_ = owner;
    values_ = values;
  }
  // Streaming (device/swap.h): placed on a device but living on the host, in
  // pinned memory of that device's pool (so a copy to the device can run on
  // the copy stream); its device copy is freed. stream(false) moves it back.
  bool streams() const { return streams_; }
  void stream(bool on);
  // What streams with it: its parameter, or itself when it has none.
  const void* owner() const { return owner_ ? owner_ : this; }

  // Host memory, current (a newer device copy is copied down first).
  const float* read() const {
    if (!host_ok_) pull();
    return hp();
  }
  // ... and about to be written on the host: the device copy becomes stale.
  float* write() {
    if (!host_ok_) pull();
    dev_ok_ = false;
    zeros_ = false;
    advance();
    return hp();
  }
  // After a host write: a device copy (if one was made) is brought up to date
  // now, so that graph nodes already pointing at it see the new values (as
  // CPU nodes, which alias the host memory, do).
  void push();
  HostFloats host() const { return {read(), n_}; }
  // Device memory of device() (not the CPU), current; dev_write() marks the host copy stale.
  float* dev_read();
  float* dev_write() {
    float* p = dev_read();
    host_ok_ = false;
    zeros_ = false;
    advance();
    return p;
  }
  // Grows with every write (write, dev_write, fill, zero_rows, a move into it):
  // a copy of the values made at one version is stale at another (a streamed
  // parameter's node in a graph, device/swap.h). A parameter's values take
  // their versions from one counter, so versions of different parameters
  // compare: a value computed when values_stamp() was S read no parameter
  // written since while values_stamp() is still S, and a parameter whose
  // version exceeds S was written after it (device/swap.h: rebuilds_same).
  uint64_t version() const { return version_; }
  static uint64_t values_stamp();
  // A host copy of the current values in `out` (one copy from whichever side
  // holds them: the device's memory stays current, nothing is marked stale).
  float* stage(HostStaging& out) const {
    if (!host_ok_) return out.assign(dev_, n_, device_);
    return out.assign(hp(), n_, kCpuDevice);
  }
  // Every current copy set to v (no copies between host and device).
  void fill(float v);
  // Rows `rows` (row_size floats each) of every current copy set to 0.
  void zero_rows(const std::vector<unsigned>& rows, size_t row_size);

 private:
  friend struct ResidentRegistry;
  void pull() const;  // device -> host
  void free_device() noexcept;
  void enlist(DeviceId d) noexcept;  // the registry of what is placed on each device
  float* hp() const { return streams_ ? pinned_.floats() : host_.data(); }
  static uint64_t next_seq();
  void advance();  // a new version: the next stamp for a parameter's values, else one more

  mutable AlignedFloats host_;  // the host values (empty while they are in pinned_)
  PinnedBuffer pinned_;
  size_t n_ = 0;
  const void* owner_ = nullptr;
  uint64_t seq_ = 0;  // creation order: ties between parameters of one size are broken by it
  uint64_t version_ = 0;
  bool values_ = false;  // a parameter's values (set_owner)
  bool streams_ = false;
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

// The parameters placed on device d that do not stream, each with the bytes
// its Residents (values, gradient, trainer state) hold there or will once
// used, and its creation order. A device memory budget counts them and
// streams some (device/swap.h).
struct PlacedParameter {
  const void* owner;
  size_t bytes;
  uint64_t seq;
};
std::vector<PlacedParameter> placed_parameters(DeviceId d);
// The Residents on d of these owners stream (values to pinned host memory, device copies freed).
void stream_parameters(DeviceId d, const std::vector<const void*>& owners);
// How many parameters placed on d stream now.
size_t streaming_parameters(DeviceId d);
// Every Resident on d that streams stops (back to its own host memory; a later dev_read() copies it in).
void stop_streaming(DeviceId d);

// Bytes of parameter memory (values, gradients, trainer state) copied between
// host and device since the process started: {to the device, to the host}.
// The tests check that resident parameters are not copied per graph.
struct ResidentTraffic {
  uint64_t to_device, to_host;
};
ResidentTraffic resident_traffic();

}  // namespace dg

#include "params/resident.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "device/device_ops.h"

namespace dg {

namespace {
std::atomic<uint64_t> g_to_device{0}, g_to_host{0};

const DeviceOpTable& ops_of(DeviceId d) { return device_ops(Device::from_id(d).kind); }

// Residents placed on each device (never destroyed: Residents in statics die late).
struct Registry {
  std::mutex m;
  std::unordered_set<Resident*> on[kMaxDevices];
};
Registry& registry() {
  static auto* r = new Registry();
  return *r;
}
}  // namespace

void Resident::enlist(DeviceId d) noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.m);
  for (DeviceId k = 1; k < kMaxDevices; ++k) r.on[k].erase(this);
  if (d != kCpuDevice) r.on[d].insert(this);
}

size_t resident_placed_bytes(DeviceId d) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.m);
  size_t bytes = 0;
  for (const Resident* x : r.on[d]) bytes += sizeof(float) * x->size();
  return bytes;
}

void release_device_copies(DeviceId d) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.m);
  for (Resident* x : r.on[d]) {
    if (!x->host_ok_) x->pull();
    x->free_device();
  }
}

ResidentTraffic resident_traffic() { return {g_to_device.load(), g_to_host.load()}; }

Resident& Resident::operator=(Resident&& o) noexcept {
  if (this == &o) return *this;
  free_device();
  host_ = std::move(o.host_);
  dev_ = o.dev_;
  device_ = o.device_;
  host_ok_ = o.host_ok_;
  dev_ok_ = o.dev_ok_;
  zeros_ = o.zeros_;
  o.dev_ = nullptr;
  o.device_ = kCpuDevice;
  o.host_ok_ = true;
  o.dev_ok_ = false;
  o.host_.clear();
  o.enlist(kCpuDevice);
  enlist(device_);
  return *this;
}

void Resident::free_device() noexcept {
  if (!dev_) return;
  device_allocator(device_).deallocate(dev_, sizeof(float) * std::max<size_t>(host_.size(), 1));
  dev_ = nullptr;
  dev_ok_ = false;
  host_ok_ = true;  // callers that keep the values pull them first
}

void Resident::place(DeviceId d) {
  if (d == device_) return;
  if (!host_ok_) pull();
  free_device();
  device_ = d;
  enlist(d);
}

void Resident::pull() const {
  ops_of(device_).to_host(host_.data(), dev_, sizeof(float) * host_.size());
  g_to_host += sizeof(float) * host_.size();
  host_ok_ = true;
}

float* Resident::dev_read() {
  if (device_ == kCpuDevice) throw Error("Resident::dev_read: the values live on the CPU");
  if (!dev_) {
    dev_ = static_cast<float*>(device_allocator(device_).allocate(sizeof(float) * std::max<size_t>(host_.size(), 1)));
    dev_ok_ = false;
  }
  if (!dev_ok_) {
    if (zeros_) {
      ops_of(device_).fill(dev_, host_.size(), 0.f);
    } else {
      ops_of(device_).to_device(dev_, host_.data(), sizeof(float) * host_.size());
      g_to_device += sizeof(float) * host_.size();
    }
    dev_ok_ = true;
  }
  return dev_;
}

void Resident::push() {
  if (dev_ && !dev_ok_) dev_read();
}

void Resident::fill(float v) {
  if (dev_ && dev_ok_) ops_of(device_).fill(dev_, host_.size(), v);
  if (v == 0.f)  // every update clears each gradient: memset's wide stores, not a float loop
    std::memset(host_.data(), 0, sizeof(float) * host_.size());
  else
    std::fill(host_.begin(), host_.end(), v);
  host_ok_ = true;
  zeros_ = v == 0.f;
}

void Resident::zero_rows(const std::vector<unsigned>& rows, size_t row_size) {
  if (rows.empty()) return;
  if (host_ok_)
    for (unsigned r : rows) std::fill_n(host_.begin() + static_cast<size_t>(r) * row_size, row_size, 0.f);
  if (dev_ && dev_ok_) {
    DeviceRows on_dev(device_, rows);
    UpdateLaunch u;
    u.rule = UpdateLaunch::Rule::fill;
    u.w = dev_;
    u.n = rows.size() * row_size;
    u.stride = host_.size();
    u.rows = on_dev.get();
    u.row_size = static_cast<uint32_t>(row_size);
    ops_of(device_).update(u);
  }
}

DeviceRows::DeviceRows(DeviceId d, const std::vector<unsigned>& rows)
    : device_(d), bytes_(sizeof(uint32_t) * std::max<size_t>(rows.size(), 1)) {
  static_assert(sizeof(unsigned) == sizeof(uint32_t), "row indices are 32-bit");
  p_ = static_cast<uint32_t*>(device_allocator(d).allocate(bytes_));
  if (!rows.empty()) ops_of(d).to_device(p_, rows.data(), sizeof(uint32_t) * rows.size());
}

DeviceRows::~DeviceRows() { device_allocator(device_).deallocate(p_, bytes_); }

}  // namespace dg

#include "params/resident.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "device/device_ops.h"

namespace dg {

namespace {
std::atomic<uint64_t> g_to_device{0}, g_to_host{0};
std::atomic<uint64_t> g_values_stamp{0};  // the last version given to a parameter's values

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

uint64_t Resident::values_stamp() { return g_values_stamp.load(std::memory_order_relaxed); }

void Resident::advance() { version_ = values_ ? ++g_values_stamp : version_ + 1; }

uint64_t Resident::next_seq() {
  static std::atomic<uint64_t> seq{0};
  return ++seq;
}

void Resident::enlist(DeviceId d) noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.m);
  for (DeviceId k = 1; k < kMaxDevices; ++k) r.on[k].erase(this);
  if (d != kCpuDevice) r.on[d].insert(this);
}

// The registry's walks over one device (Resident's friend).
struct ResidentRegistry {
  static std::vector<PlacedParameter> placed(DeviceId d) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.m);
    std::unordered_map<const void*, PlacedParameter> by_owner;
    for (const Resident* x : r.on[d]) {
      if (x->streams_) continue;
      const void* o = x->owner();
      auto [it, fresh] = by_owner.try_emplace(o, PlacedParameter{o, 0, x->seq_});
      it->second.bytes += sizeof(float) * x->size();
      it->second.seq = std::min(it->second.seq, x->seq_);
    }
    std::vector<PlacedParameter> out;
    out.reserve(by_owner.size());
    for (const auto& e : by_owner) out.push_back(e.second);
    std::sort(out.begin(), out.end(), [](const PlacedParameter& a, const PlacedParameter& b) { return a.seq < b.seq; });
    return out;
  }
  static size_t streaming(DeviceId d) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.m);
    std::unordered_set<const void*> owners;
    for (const Resident* x : r.on[d])
      if (x->streams_) owners.insert(x->owner());
    return owners.size();
  }
  static void stream(DeviceId d, const std::vector<const void*>& owners, bool on) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.m);
    const std::unordered_set<const void*> set(owners.begin(), owners.end());
    for (Resident* x : r.on[d])
      if (on ? set.count(x->owner()) != 0 : x->streams_) x->stream(on);
  }
};

std::vector<PlacedParameter> placed_parameters(DeviceId d) { return ResidentRegistry::placed(d); }
void stream_parameters(DeviceId d, const std::vector<const void*>& owners) { ResidentRegistry::stream(d, owners, true); }
void stop_streaming(DeviceId d) { ResidentRegistry::stream(d, {}, false); }
size_t streaming_parameters(DeviceId d) { return ResidentRegistry::streaming(d); }

// The host values move between the Resident's own memory and a pinned buffer
// of its device's pool; the device copy (current values copied down first) is freed.
void Resident::stream(bool on) {
  if (on == streams_) return;
  if (on) {
    if (!host_ok_) pull();
    free_device();
    PinnedBuffer b = PinnedHostPool::of(device_).acquire(sizeof(float) * std::max<size_t>(n_, 1));
    std::memcpy(b.data(), host_.data(), sizeof(float) * n_);
    pinned_ = std::move(b);
    AlignedFloats().swap(host_);
    streams_ = true;
  } else {
    host_.assign(pinned_.floats(), pinned_.floats() + n_);
    pinned_.reset();
    streams_ = false;
  }
}

ResidentTraffic resident_traffic() { return {g_to_device.load(), g_to_host.load()}; }

Resident& Resident::operator=(Resident&& o) noexcept {
  if (this == &o) return *this;
  free_device();
  host_ = std::move(o.host_);
  pinned_ = std::move(o.pinned_);
  n_ = o.n_;
  owner_ = o.owner_;
  seq_ = o.seq_;
  values_ = o.values_;
  version_ = std::max(version_, o.version_);
  advance();  // never back to a version a copy was made at
  streams_ = o.streams_;
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
  o.n_ = 0;
  o.streams_ = false;
  o.enlist(kCpuDevice);
  enlist(device_);
  return *this;
}

void Resident::free_device() noexcept {
  if (!dev_) return;
  device_allocator(device_).deallocate(dev_, sizeof(float) * std::max<size_t>(n_, 1));
  dev_ = nullptr;
  dev_ok_ = false;
  host_ok_ = true;  // callers that keep the values pull them first
}

void Resident::place(DeviceId d) {
  if (d == device_) return;
  stream(false);  // a pinned buffer belongs to its device's pool
  if (!host_ok_) pull();
  free_device();
  device_ = d;
  enlist(d);
}

void Resident::pull() const {
  ops_of(device_).to_host(hp(), dev_, sizeof(float) * n_);
  g_to_host += sizeof(float) * n_;
  host_ok_ = true;
}

float* Resident::dev_read() {
  if (device_ == kCpuDevice) throw Error("Resident::dev_read: the values live on the CPU");
  if (!dev_) {
    dev_ = static_cast<float*>(device_allocator(device_).allocate(sizeof(float) * std::max<size_t>(n_, 1)));
    dev_ok_ = false;
  }
  if (!dev_ok_) {
    if (zeros_) {
      ops_of(device_).fill(dev_, n_, 0.f);
    } else {
      ops_of(device_).to_device(dev_, hp(), sizeof(float) * n_);
      g_to_device += sizeof(float) * n_;
    }
    dev_ok_ = true;
  }
  return dev_;
}

void Resident::push() {
  if (dev_ && !dev_ok_) dev_read();
}

void Resident::fill(float v) {
  advance();
  if (dev_ && dev_ok_) ops_of(device_).fill(dev_, n_, v);
  if (v == 0.f)  // every update clears each gradient: memset's wide stores, not a float loop
    std::memset(hp(), 0, sizeof(float) * n_);
  else
    std::fill(hp(), hp() + n_, v);
  host_ok_ = true;
  zeros_ = v == 0.f;
}

void Resident::zero_rows(const std::vector<unsigned>& rows, size_t row_size) {
  if (rows.empty()) return;
  advance();
  if (host_ok_)
    for (unsigned r : rows) std::fill_n(hp() + static_cast<size_t>(r) * row_size, row_size, 0.f);
  if (dev_ && dev_ok_) {
    DeviceRows on_dev(device_, rows);
    UpdateLaunch u;
    u.rule = UpdateLaunch::Rule::fill;
    u.w = dev_;
    u.n = rows.size() * row_size;
    u.stride = n_;
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

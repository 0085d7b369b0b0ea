#include "params/staging.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "device/device_ops.h"

namespace dg {

namespace {
std::atomic<uint64_t> g_bytes{0}, g_copies{0}, g_allocations{0}, g_reuses{0};

// PINNED: host memory for staging (see reserve()).
float* host_allocate(size_t n) {
  void* p = std::aligned_alloc(64, ((sizeof(float) * n + 63) / 64) * 64);
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}
void host_free(float* p) noexcept { std::free(p); }

void copy_to_host(float* dst, const float* src, size_t n, DeviceId d) {
  if (n == 0) return;
  if (d == kCpuDevice) std::memcpy(dst, src, sizeof(float) * n);
  else device_ops(Device::from_id(d).kind).to_host(dst, src, sizeof(float) * n);
  g_bytes += sizeof(float) * n;
  ++g_copies;
}
}  // namespace

StagingStats staging_stats() { return {g_bytes.load(), g_copies.load(), g_allocations.load(), g_reuses.load()}; }

HostStaging& HostStaging::operator=(HostStaging&& o) noexcept {
  if (this == &o) return *this;
  release();
  p_ = o.p_;
  size_ = o.size_;
  capacity_ = o.capacity_;
  o.p_ = nullptr;
  o.size_ = o.capacity_ = 0;
  return *this;
}

void HostStaging::release() noexcept {
  if (p_) host_free(p_);
  p_ = nullptr;
  size_ = capacity_ = 0;
}

void HostStaging::reserve(size_t n) {
  if (n <= capacity_) {
    ++g_reuses;
    return;
  }
  // Grown geometrically: factor columns arrive product by product.
  const size_t cap = std::max(n, capacity_ * 2);
  float* p = host_allocate(std::max<size_t>(cap, 1));
  if (size_) std::memcpy(p, p_, sizeof(float) * size_);
  if (p_) host_free(p_);
  p_ = p;
  capacity_ = cap;
  ++g_allocations;
}

float* HostStaging::assign(const float* src, size_t n, DeviceId d) {
  size_ = 0;
  reserve(n);
  copy_to_host(p_, src, n, d);
  size_ = n;
  return p_;
}

void HostStaging::append(const float* src, size_t n, DeviceId d) {
  reserve(size_ + n);
  copy_to_host(p_ + size_, src, n, d);
  size_ += n;
}

}  // namespace dg

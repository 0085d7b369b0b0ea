#include "params/staging.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "device/device_ops.h"

namespace dg {

namespace {
std::atomic<uint64_t> g_bytes{0}, g_copies{0}, g_allocations{0}, g_reuses{0};

void copy_to_host(float* dst, const float* src, size_t n, DeviceId d) {
  if (n == 0) return;
  if (d == kCpuDevice) std::memcpy(dst, src, sizeof(float) * n);
  else device_ops(Device::from_id(d).kind).to_host(dst, src, sizeof(float) * n);
  g_bytes += sizeof(float) * n;
  ++g_copies;
}
}  // namespace

StagingStats staging_stats() { return {g_bytes.load(), g_copies.load(), g_allocations.load(), g_reuses.load()}; }

void HostStaging::reserve(size_t n, DeviceId d) {
  if (buf_ && d == device_ && sizeof(float) * n <= buf_.capacity()) {
    ++g_reuses;
    return;
  }
  // From the pinned pool of the device the data comes from (page-locked for a
  // GPU); grown at least twofold, as factor columns arrive product by product.
  const size_t bytes = std::max(sizeof(float) * std::max<size_t>(n, 1), buf_ ? 2 * buf_.capacity() : size_t(0));
  PinnedBuffer b = PinnedHostPool::of(d).acquire(bytes);
  if (size_) std::memcpy(b.data(), buf_.data(), sizeof(float) * size_);
  buf_ = std::move(b);  // the old buffer goes back to its pool
  device_ = d;
  ++g_allocations;
}

float* HostStaging::assign(const float* src, size_t n, DeviceId d) {
  size_ = 0;
  reserve(n, d);
  copy_to_host(data(), src, n, d);
  size_ = n;
  return data();
}

void HostStaging::append(const float* src, size_t n, DeviceId d) {
  reserve(size_ + n, d);
  copy_to_host(data() + size_, src, n, d);
  size_ += n;
}

}  // namespace dg

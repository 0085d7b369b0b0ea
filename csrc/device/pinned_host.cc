#include "device/pinned_host.h"

#include <cstdlib>
#include <new>
#include <string>

#include "core/error.h"

namespace dg {

#ifdef DG_HAVE_CUDA
void* cuda_host_alloc(size_t bytes);  // csrc/cuda/runtime.cu: cudaHostAlloc (portable)
void cuda_host_free(void* p);
#endif

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this == &o) return *this;
  reset();
  pool_ = o.pool_;
  p_ = o.p_;
  bytes_ = o.bytes_;
  capacity_ = o.capacity_;
  o.pool_ = nullptr;
  o.p_ = nullptr;
  o.bytes_ = o.capacity_ = 0;
  return *this;
}

void PinnedBuffer::reset() {
  if (p_) pool_->give_back(p_, capacity_);
  pool_ = nullptr;
  p_ = nullptr;
  bytes_ = capacity_ = 0;
}

PinnedHostPool& PinnedHostPool::of(DeviceId dev) {
  static PinnedHostPool* pools[kMaxDevices] = {};
  static std::mutex m;
  if (dev >= kMaxDevices) throw ValueError("PinnedHostPool: no device " + std::to_string(dev));
  std::lock_guard<std::mutex> lock(m);
  if (!pools[dev]) pools[dev] = new PinnedHostPool(Device::from_id(dev).kind);
  return *pools[dev];
}

size_t PinnedHostPool::size_class(size_t bytes) {
  constexpr size_t kMin = size_t(4) << 10, kStep = size_t(4) << 20;
  if (bytes > kStep) return (bytes + kStep - 1) / kStep * kStep;
  size_t c = kMin;
  while (c < bytes) c <<= 1;
  return c;
}

void* PinnedHostPool::system_alloc(size_t bytes) {
#ifdef DG_HAVE_CUDA
  if (kind_ == DeviceKind::cuda) return cuda_host_alloc(bytes);
#endif
  void* p = std::aligned_alloc(256, bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

void PinnedHostPool::system_free(void* p) {
#ifdef DG_HAVE_CUDA
  if (kind_ == DeviceKind::cuda) return cuda_host_free(p);
#endif
  std::free(p);
}

PinnedBuffer PinnedHostPool::acquire(size_t bytes) {
  const size_t cap = size_class(bytes);
  PinnedBuffer b;
  {
    std::lock_guard<std::mutex> lock(m_);
    auto it = cached_.find(cap);
    if (it != cached_.end()) {
      b.p_ = it->second;
      cached_.erase(it);
      ++stats_.reuses;
    }
  }
  if (!b.p_) {
    try {
      b.p_ = system_alloc(cap);
    } catch (const std::bad_alloc&) {
      throw OutOfMemory("pinned host memory: the system refused " + std::to_string(cap) + " bytes (" +
                        std::to_string(stats().reserved_bytes) + " pinned already)");
    }
    std::lock_guard<std::mutex> lock(m_);
    ++stats_.allocations;
    stats_.reserved_bytes += cap;
  }
  b.pool_ = this;
  b.bytes_ = bytes;
  b.capacity_ = cap;
  std::lock_guard<std::mutex> lock(m_);
  stats_.in_use_bytes += cap;
  if (stats_.in_use_bytes > stats_.peak_in_use_bytes) stats_.peak_in_use_bytes = stats_.in_use_bytes;
  return b;
}

void PinnedHostPool::give_back(void* p, size_t capacity) {
  std::lock_guard<std::mutex> lock(m_);
  cached_.emplace(capacity, p);
  stats_.in_use_bytes -= capacity;
  ++stats_.releases;
}

void PinnedHostPool::trim() {
  std::multimap<size_t, void*> drop;
  {
    std::lock_guard<std::mutex> lock(m_);
    drop.swap(cached_);
    for (auto& kv : drop) {
      stats_.reserved_bytes -= kv.first;
      ++stats_.frees;
    }
  }
  for (auto& kv : drop) system_free(kv.second);
}

PinnedStats PinnedHostPool::stats() const {
  std::lock_guard<std::mutex> lock(m_);
  return stats_;
}

void PinnedHostPool::reset_stats() {
  std::lock_guard<std::mutex> lock(m_);
  stats_.allocations = stats_.reuses = stats_.releases = stats_.frees = 0;
  stats_.peak_in_use_bytes = stats_.in_use_bytes;
}

}  // namespace dg

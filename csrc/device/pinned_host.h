// Pinned host memory: the host side of transfers with a device.
//
// A copy between a GPU and pageable host memory goes through a driver staging
// buffer and cannot overlap with kernels; page-locked ("pinned") memory is
// copied by the GPU's DMA engine directly, asynchronously. Pinning is slow
// (a system call and page-table work), so buffers are pooled: a buffer given
// back is kept and handed out again for a request of the same size class.
//
// One pool per device backend: cudaHostAlloc / cudaFreeHost for a GPU,
// aligned host memory for EMU:0 and the CPU (there is nothing to pin: the
// pool and its counters behave the same, so they are tested without a GPU).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

#include "core/device.h"

namespace dg {

class PinnedHostPool;

// One buffer of a pool, given back to it when destroyed (or reset()).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(PinnedBuffer&& o) noexcept { *this = static_cast<PinnedBuffer&&>(o); }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() { reset(); }

  void* data() const { return p_; }
  float* floats() const { return static_cast<float*>(p_); }
  size_t size() const { return bytes_; }         // bytes asked for
  size_t capacity() const { return capacity_; }  // bytes of the size class
  explicit operator bool() const { return p_ != nullptr; }
  void reset();  // back to the pool

 private:
  friend class PinnedHostPool;
  PinnedHostPool* pool_ = nullptr;
  void* p_ = nullptr;
  size_t bytes_ = 0, capacity_ = 0;
};

// Counters of one pool since the process started (or reset_stats()).
struct PinnedStats {
  uint64_t reserved_bytes = 0;     // held from the system now: in use + cached
  uint64_t in_use_bytes = 0;       // capacity of the buffers handed out now
  uint64_t peak_in_use_bytes = 0;
  uint64_t allocations = 0;        // buffers obtained from the system
  uint64_t reuses = 0;             // requests served by a cached buffer
  uint64_t releases = 0;           // buffers given back
  uint64_t frees = 0;              // buffers returned to the system (trim)
};

class PinnedHostPool {
 public:
  // The pool for transfers with device `dev` (never destroyed: buffers may outlive anything).
  static PinnedHostPool& of(DeviceId dev);

  PinnedBuffer acquire(size_t bytes);  // throws OutOfMemory when the system refuses
  void trim();                         // cached buffers go back to the system
  PinnedStats stats() const;
  void reset_stats();                  // the event counters and peak; the byte gauges stay
  bool page_locked() const { return kind_ == DeviceKind::cuda; }  // real pinning (a GPU's pool)
  // The size class of a request: powers of two from 4 KiB, then multiples of 4 MiB.
  static size_t size_class(size_t bytes);

 private:
  friend class PinnedBuffer;
  explicit PinnedHostPool(DeviceKind kind) : kind_(kind) {}
  void give_back(void* p, size_t capacity);
  void* system_alloc(size_t bytes);
  void system_free(void* p);

  DeviceKind kind_;
  mutable std::mutex m_;
  std::multimap<size_t, void*> cached_;  // free buffers by capacity
  PinnedStats stats_;
};

}  // namespace dg

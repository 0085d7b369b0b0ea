// The CPU graph pools: the bump arena (core/arena.h) over host memory.
//
// Allocation is a pointer increment; memory is never freed node by node. When a
// chunk fills, a new one (twice as large) is added; earlier pointers stay valid.
// reset() keeps every chunk, so once the largest graph has been seen, graphs
// allocate nothing and touch no fresh pages.
#pragma once
#include <cstddef>
#include <mutex>

#include "core/arena.h"

namespace dg {

// Raises OutOfMemory (MemoryError) naming `what` and the size when `bytes`
// exceeds the machine's physical memory: such an allocation can never be used.
void check_allocation(size_t bytes, const char* what);

// Host chunks for the CPU pools: cache-line aligned; a chunk larger than the
// machine's physical memory is refused (OutOfMemory) rather than granted by an
// overcommitting kernel that kills the process when it is touched.
struct HostChunks {
  void* allocate(size_t bytes);
  void deallocate(void* p, size_t bytes);
  size_t chunk_limit() const;  // the physical memory
  static HostChunks& instance();
};

class MemoryPool : public BumpArena<HostChunks, 64> {  // 64: a cache line; enough for any SIMD width Eigen uses
 public:
  explicit MemoryPool(size_t initial_bytes = 1 << 20) : BumpArena(HostChunks::instance(), initial_bytes) {}
  float* allocate_floats(size_t n) { return static_cast<float*>(allocate(n * sizeof(float))); }
  void* allocate(size_t bytes) {
    if (!lock_) return BumpArena::allocate(bytes);
    std::lock_guard<std::mutex> g(*lock_);
    return BumpArena::allocate(bytes);
  }
  // While set (groups of a graph running on the engine's threads), allocations take this lock.
  void share(std::mutex* lock) { lock_ = lock; }

 private:
  std::mutex* lock_ = nullptr;
};

}  // namespace dg

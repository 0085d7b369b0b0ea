// A bump-pointer arena that grows on demand and is reset wholesale.
//
// Allocation is a pointer increment; memory is never freed node by node. When a
// chunk fills, a new one (twice as large) is added; earlier pointers stay valid.
// reset() keeps every chunk, so once the largest graph has been seen, graphs
// allocate nothing and touch no fresh pages.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include "core/pin.h"

namespace dg {

// Raises OutOfMemory (MemoryError) naming `what` and the size when `bytes`
// exceeds the machine's physical memory: such an allocation can never be used.
void check_allocation(size_t bytes, const char* what);

class MemoryPool {
 public:
  explicit MemoryPool(size_t initial_bytes = 1 << 20) : initial_bytes_(initial_bytes) {}
  ~MemoryPool();
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  float* allocate_floats(size_t n) { return static_cast<float*>(allocate(n * sizeof(float))); }
  void* allocate(size_t bytes);
  void reset();

  // Position marker for checkpoint/revert.
  struct Mark {
    size_t chunk = 0, used = 0;
  };
  Mark mark() const { return {current_, chunks_.empty() ? 0 : chunks_[current_].used}; }
  void revert(const Mark& m);

  size_t capacity_bytes() const;
  size_t used_bytes() const;
  void set_initial_bytes(size_t b) { initial_bytes_ = b; }
  // A pin on the chunk holding p (core/pin.h), or null when p is not in this pool.
  std::shared_ptr<ChunkPin> pin(const void* p);

 private:
  struct Chunk {
    char* data = nullptr;
    size_t size = 0, used = 0;
    std::weak_ptr<ChunkPin> pin;
  };
  std::vector<Chunk> chunks_;
  size_t current_ = 0;
  size_t initial_bytes_;
  void add_chunk(size_t min_bytes);
};

}  // namespace dg

// BumpArena: the bump-pointer pool of graph memory, over any allocator.
//
// Allocation is a pointer increment into the current chunk; when it fills, a
// chunk twice as large is taken from the allocator and earlier pointers stay
// valid. reset() keeps every chunk, so a graph no larger than an earlier one
// allocates nothing. The allocator decides where the memory lives (host, the
// emulated device, a GPU); the arena never touches the memory itself.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include "core/pin.h"

namespace dg {

template <class Alloc>
class BumpArena {
 public:
  static constexpr size_t kAlign = 256;  // cudaMalloc's alignment; enough for any vector load

  BumpArena(Alloc& alloc, size_t initial_bytes) : alloc_(alloc), initial_bytes_(initial_bytes) {}
  ~BumpArena() {
    hand_over_pinned(chunks_);
    for (auto& c : chunks_) alloc_.deallocate(c.data, c.size);
  }
  BumpArena(const BumpArena&) = delete;
  BumpArena& operator=(const BumpArena&) = delete;

  float* allocate_floats(size_t n) { return static_cast<float*>(allocate(n * sizeof(float))); }
  void* allocate(size_t bytes) {
    bytes = round_up(bytes ? bytes : kAlign);
    if (chunks_.empty()) add_chunk(bytes);
    while (chunks_[current_].used + bytes > chunks_[current_].size) {
      if (current_ + 1 == chunks_.size()) add_chunk(bytes);
      ++current_;
      chunks_[current_].used = 0;
    }
    Chunk& c = chunks_[current_];
    char* p = c.data + c.used;
    c.used += bytes;
    return p;
  }
  void reset() {
    hand_over_pinned(chunks_);  // pinned chunks go to their pins (core/pin.h)
    current_ = 0;
    if (!chunks_.empty()) chunks_[0].used = 0;
  }
  size_t capacity_bytes() const {
    size_t s = 0;
    for (auto& c : chunks_) s += c.size;
    return s;
  }
  size_t used_bytes() const {
    size_t u = 0;
    for (size_t i = 0; i <= current_ && i < chunks_.size(); ++i) u += chunks_[i].used;
    return u;
  }
  size_t chunks() const { return chunks_.size(); }
  // A pin on the chunk holding p, or null when p is not in this arena.
  std::shared_ptr<ChunkPin> pin(const void* p) {
    return pin_chunk(chunks_, p, [](void* a, void* data, size_t n) { static_cast<Alloc*>(a)->deallocate(data, n); },
                     &alloc_);
  }

 private:
  struct Chunk {
    char* data = nullptr;
    size_t size = 0, used = 0;
    std::weak_ptr<ChunkPin> pin;
  };
  static size_t round_up(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }
  void add_chunk(size_t min_bytes) {
    size_t size = chunks_.empty() ? initial_bytes_ : chunks_.back().size * 2;
    if (size < min_bytes) size = min_bytes;
    size = round_up(size);
    char* p = static_cast<char*>(alloc_.allocate(size));
    chunks_.push_back({p, size, 0, {}});
  }

  Alloc& alloc_;
  size_t initial_bytes_;
  std::vector<Chunk> chunks_;
  size_t current_ = 0;
};

}  // namespace dg

// BumpArena: the bump-pointer pool of graph memory, over any allocator.
//
// Allocation is a pointer increment into the current chunk; when it fills, a
// chunk twice as large is taken from the allocator and earlier pointers stay
// valid. reset() keeps every chunk, so a graph no larger than an earlier one
// allocates nothing (and touches no fresh pages). The allocator decides where
// the memory lives (host, the emulated device, a GPU); the arena never touches
// the memory itself. The CPU graph pools (core/pool.h) and the device pools
// (device/device_ops.h) are both this template.
//
// Alloc provides allocate(bytes), deallocate(p, bytes) and chunk_limit(): the
// largest chunk worth asking for (the machine's memory, a device budget); a
// doubled chunk above it shrinks to it (or to what the request needs, if more).
#pragma once
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "core/pin.h"

namespace dg {

template <class Alloc, size_t Align = 256>  // 256: cudaMalloc's alignment; enough for any vector load
class BumpArena {
 public:
  static constexpr size_t kAlign = Align;
  static_assert((Align & (Align - 1)) == 0, "alignment is a power of two");

  BumpArena(Alloc& alloc, size_t initial_bytes) : alloc_(&alloc), initial_bytes_(initial_bytes) {}
  ~BumpArena() {
    if (pinned_) hand_over_pinned(chunks_);
    for (auto& c : chunks_) alloc_->deallocate(c.data, c.size);
  }
  BumpArena(const BumpArena&) = delete;
  BumpArena& operator=(const BumpArena&) = delete;

  float* allocate_floats(size_t n) { return static_cast<float*>(allocate(n * sizeof(float))); }
  void* allocate(size_t bytes) {
    if (bytes > SIZE_MAX / 2) {  // the allocator refuses it with its own error
      alloc_->allocate(bytes);
      throw std::bad_alloc();
    }
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
    // Chunks pinned by an export go to their pins (core/pin.h): the next graph must not overwrite them.
    // (Only an arena that handed out a pin has any: the others skip the scan, once per renew_cg.)
    if (pinned_) hand_over_pinned(chunks_);
    current_ = 0;
    if (!chunks_.empty()) chunks_[0].used = 0;
  }

  // Position marker for checkpoint/revert.
  struct Mark {
    size_t chunk = 0, used = 0;
  };
  Mark mark() const { return {current_, chunks_.empty() ? 0 : chunks_[current_].used}; }
  void revert(const Mark& m) {
    if (chunks_.empty()) return;
    // Memory past the mark that an export pinned stays used until renew_cg().
    if (pinned_ && any_pinned(chunks_, m.chunk, current_)) return;
    current_ = m.chunk;
    chunks_[current_].used = m.used;
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
  void set_initial_bytes(size_t b) { initial_bytes_ = b; }
  // A pin on the chunk holding p, or null when p is not in this arena.
  std::shared_ptr<ChunkPin> pin(const void* p) {
    pinned_ = true;
    return pin_chunk(chunks_, p, [](void* a, void* data, size_t n) { static_cast<Alloc*>(a)->deallocate(data, n); },
                     alloc_);
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
    size = std::max(min_bytes, std::min(size, alloc_->chunk_limit()));
    size = round_up(size);
    char* p = static_cast<char*>(alloc_->allocate(size));
    if (!p) throw std::bad_alloc();
    chunks_.push_back({p, size, 0, {}});
  }

  Alloc* alloc_;
  size_t initial_bytes_;
  std::vector<Chunk> chunks_;
  size_t current_ = 0;
  bool pinned_ = false;  // pin() was called: some chunk may be pinned
};

}  // namespace dg

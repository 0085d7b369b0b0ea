// Pins: memory of a pool that a reader outside the engine holds on to (a
// DLPack export, a __cuda_array_interface__ dict). While a pin lives, its
// chunk is neither reused nor freed: a pool that resets (renew_cg) or dies
// hands the chunk over to its pins and takes a fresh one, and the last pin
// frees it. A chunk whose pins are all gone by then stays in the pool.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

namespace dg {

struct ChunkPin {
  using Release = void (*)(void* ctx, void* data, size_t bytes);
  ChunkPin(void* d, size_t n, Release r, void* c) : data(d), bytes(n), release(r), ctx(c) {}
  ~ChunkPin() {
    if (owns) release(ctx, data, bytes);
  }
  ChunkPin(const ChunkPin&) = delete;
  ChunkPin& operator=(const ChunkPin&) = delete;
  void* data;
  size_t bytes;
  Release release;
  void* ctx;
  // Set by the pool, while it holds a reference, when it hands the chunk over:
  // the shared count orders this write before the last pin's destructor.
  bool owns = false;
};

// Chunk: {char* data; size_t size, used; std::weak_ptr<ChunkPin> pin;}
// A pin on the chunk holding p, or null when p is not in these chunks.
template <class Chunk>
std::shared_ptr<ChunkPin> pin_chunk(std::vector<Chunk>& chunks, const void* p, ChunkPin::Release release,
                                    void* ctx) {
  const char* c = static_cast<const char*>(p);
  for (Chunk& k : chunks) {
    if (c < k.data || c >= k.data + k.size) continue;
    std::shared_ptr<ChunkPin> pin = k.pin.lock();
    if (!pin) {
      pin = std::make_shared<ChunkPin>(k.data, k.size, release, ctx);
      k.pin = pin;
    }
    return pin;
  }
  return nullptr;
}

// Hands every pinned chunk over to its pins and drops it from `chunks`.
template <class Chunk>
void hand_over_pinned(std::vector<Chunk>& chunks) {
  size_t kept = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!chunks[i].pin.expired()) {
      if (std::shared_ptr<ChunkPin> pin = chunks[i].pin.lock()) {
        pin->owns = true;
        continue;
      }
    }
    if (kept != i) chunks[kept] = chunks[i];
    ++kept;
  }
  chunks.resize(kept, Chunk{});
}

// True when a chunk among chunks[first..last] is pinned.
template <class Chunk>
bool any_pinned(const std::vector<Chunk>& chunks, size_t first, size_t last) {
  for (size_t i = first; i <= last && i < chunks.size(); ++i)
    if (!chunks[i].pin.expired()) return true;
  return false;
}

}  // namespace dg

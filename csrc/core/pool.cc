#include "core/pool.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace dg {

namespace {
constexpr size_t kAlign = 64;  // cache line; enough for any SIMD width Eigen uses
size_t round_up(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

size_t physical_memory_bytes() {
  static const size_t bytes = [] {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : SIZE_MAX;
  }();
  return bytes;
}

std::string gib(size_t bytes) { return std::to_string(bytes / double(1 << 30)).substr(0, 6) + " GiB"; }

[[noreturn]] void out_of_memory(size_t bytes, const char* why) {
  throw OutOfMemory("cannot allocate " + std::to_string(bytes) + " bytes (" + gib(bytes) + ") for a tensor: " +
                    why + " (this machine has " + gib(physical_memory_bytes()) + ")");
}
}  // namespace

void check_allocation(size_t bytes, const char* what) {
  if (bytes > physical_memory_bytes())
    throw OutOfMemory(std::string(what) + ": cannot allocate " + std::to_string(bytes) + " bytes (" + gib(bytes) +
                      "), more than this machine's physical memory (" + gib(physical_memory_bytes()) + ")");
}

MemoryPool::~MemoryPool() {
  hand_over_pinned(chunks_);
  for (auto& c : chunks_) std::free(c.data);
}

void MemoryPool::add_chunk(size_t min_bytes) {
  // More than the machine's memory can never be used: refuse it rather than let
  // an overcommitting kernel grant it and kill the process when it is touched.
  if (min_bytes > physical_memory_bytes()) out_of_memory(min_bytes, "more than the physical memory");
  size_t size = initial_bytes_;
  if (!chunks_.empty()) size = chunks_.back().size * 2;
  if (size < min_bytes || size > physical_memory_bytes()) size = round_up(min_bytes);
  void* p = std::aligned_alloc(kAlign, round_up(size));
  if (!p) out_of_memory(min_bytes, "the allocation failed");
  chunks_.push_back({static_cast<char*>(p), round_up(size), 0, {}});
}

void* MemoryPool::allocate(size_t bytes) {
  if (bytes > SIZE_MAX / 2) out_of_memory(bytes, "the size overflows");
  bytes = round_up(bytes ? bytes : kAlign);
  if (chunks_.empty()) add_chunk(bytes);
  while (chunks_[current_].used + bytes > chunks_[current_].size) {
    if (current_ + 1 == chunks_.size()) add_chunk(bytes);
    ++current_;
    chunks_[current_].used = 0;
  }
  Chunk& c = chunks_[current_];
  void* p = c.data + c.used;
  c.used += bytes;
  return p;
}

size_t MemoryPool::used_bytes() const {
  size_t u = 0;
  for (size_t i = 0; i <= current_ && i < chunks_.size(); ++i) u += chunks_[i].used;
  return u;
}

size_t MemoryPool::capacity_bytes() const {
  size_t s = 0;
  for (auto& c : chunks_) s += c.size;
  return s;
}

void MemoryPool::reset() {
  // The chunks stay, to be filled again in order: their pages are already
  // mapped, so a graph no larger than an earlier one touches no new memory.
  // (Freeing them for one coalesced chunk made the kernel zero every page
  // again after each growth: ~20 % of the first pass over a data set.)
  // Chunks pinned by an export go to their pins: the next graph must not overwrite them.
  hand_over_pinned(chunks_);
  current_ = 0;
  if (!chunks_.empty()) chunks_[0].used = 0;
}

std::shared_ptr<ChunkPin> MemoryPool::pin(const void* p) {
  return pin_chunk(chunks_, p, [](void*, void* data, size_t) { std::free(data); }, nullptr);
}

void MemoryPool::revert(const Mark& m) {
  if (chunks_.empty()) return;
  // Memory past the mark that an export pinned stays used until renew_cg().
  if (any_pinned(chunks_, m.chunk, current_)) return;
  current_ = m.chunk;
  chunks_[current_].used = m.used;
}

}  // namespace dg

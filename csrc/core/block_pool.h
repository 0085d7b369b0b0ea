// BlockPool: a free-list allocator inside one fixed region (a device memory budget).
//
// The bump arenas cannot give memory back within a graph; swapping needs to
// (a value copied out to the host frees its bytes for the next node's value).
// Blocks are 256-byte aligned (as cudaMalloc's); a request takes the smallest free block that
// fits (best fit; the lowest of equal ones), carved from its start, the rest
// of it stays free, and a freed block merges with free neighbours, so the
// region does not crumble into slivers over a graph. Memory kept for a whole
// graph (scratch) comes from the top end instead (allocate_top), so it
// gathers there, apart from the values and gradients that come and go below.
// The pool never touches the memory: the region may be device memory.
#pragma once
#include <cstddef>
#include <iterator>
#include <map>
#include <set>
#include <utility>

namespace dg {

class BlockPool {
 public:
  // cudaMalloc's alignment. (64 bytes would let a graph's many scalars take less room, but
  // the per-node rnnlm under a budget then lost bit-equality on EMU:0; left at 256.)
  static constexpr size_t kAlign = 256;

  void init(char* base, size_t bytes) {
    base_ = base;
    capacity_ = bytes & ~(kAlign - 1);
    reset();
  }
  // nullptr when no free block is large enough (the caller evicts and retries).
  char* allocate(size_t bytes) {
    bytes = round_up(bytes ? bytes : 1);
    auto it = free_.lower_bound({bytes, nullptr});
    if (it == free_.end()) return nullptr;
    const size_t have = it->first;
    char* p = it->second;
    free_.erase(it);
    blocks_[p] = {bytes, false};
    if (have > bytes) add_free(p + bytes, have - bytes);
    return taken(p, bytes);
  }
  // The end of the highest free block that fits (nullptr: none fits).
  char* allocate_top(size_t bytes) {
    bytes = round_up(bytes ? bytes : 1);
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
      if (!it->second.free || it->second.size < bytes) continue;
      char* base = it->first;
      const size_t have = it->second.size;
      free_.erase({have, base});
      char* p = base + have - bytes;
      if (have > bytes) add_free(base, have - bytes);
      blocks_[p] = {bytes, false};
      return taken(p, bytes);
    }
    return nullptr;
  }
  void free(char* p) {
    auto it = blocks_.find(p);
    if (it == blocks_.end() || it->second.free) return;
    size_t size = it->second.size;
    in_use_ -= size;
    auto next = std::next(it);
    if (next != blocks_.end() && next->second.free && p + size == next->first) {
      free_.erase({next->second.size, next->first});
      size += next->second.size;
      blocks_.erase(next);
    }
    if (it != blocks_.begin()) {
      auto prev = std::prev(it);
      if (prev->second.free && prev->first + prev->second.size == p) {
        free_.erase({prev->second.size, prev->first});
        size += prev->second.size;
        blocks_.erase(it);
        it = prev;
      }
    }
    it->second = {size, true};
    free_.emplace(size, it->first);
  }
  void reset() {  // everything free again
    blocks_.clear();
    free_.clear();
    in_use_ = 0;
    if (capacity_) add_free(base_, capacity_);
  }
  size_t in_use() const { return in_use_; }
  size_t peak() const { return peak_; }
  void reset_peak() { peak_ = in_use_; }
  size_t capacity() const { return capacity_; }
  size_t largest_free() const { return free_.empty() ? 0 : free_.rbegin()->first; }
  // The address of the allocated block that starts below `p` and nearest to it (nullptr: none).
  char* allocated_below(const char* p) const {
    auto it = blocks_.lower_bound(const_cast<char*>(p));
    while (it != blocks_.begin()) {
      --it;
      if (!it->second.free) return it->first;
    }
    return nullptr;
  }
  size_t free_blocks() const { return free_.size(); }
  size_t size_of(const char* p) const {  // an allocated block's size (0: not one)
    auto it = blocks_.find(const_cast<char*>(p));
    return it == blocks_.end() || it->second.free ? 0 : it->second.size;
  }
  static size_t round_up(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

 private:
  struct Block {
    size_t size;
    bool free;
  };
  void add_free(char* p, size_t size) {
    blocks_[p] = {size, true};
    free_.emplace(size, p);
  }
  char* taken(char* p, size_t bytes) {
    in_use_ += bytes;
    if (in_use_ > peak_) peak_ = in_use_;
    return p;
  }

  char* base_ = nullptr;
  size_t capacity_ = 0, in_use_ = 0, peak_ = 0;
  std::map<char*, Block> blocks_;         // every block by address: neighbours to merge with
  std::set<std::pair<size_t, char*>> free_;  // free blocks by size, then address: best fit, lowest first
};

}  // namespace dg

#include "core/pool.h"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace dg {

namespace {
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

HostChunks& HostChunks::instance() {
  static HostChunks h;
  return h;
}

size_t HostChunks::chunk_limit() const { return physical_memory_bytes(); }

void* HostChunks::allocate(size_t bytes) {
  if (bytes > SIZE_MAX / 2) out_of_memory(bytes, "the size overflows");
  if (bytes > physical_memory_bytes()) out_of_memory(bytes, "more than the physical memory");
  // 4 KiB pages, no transparent huge pages: MADV_HUGEPAGE on chunks of 2 MiB+ gained
  // nothing in steady state (treenn at 64 and 256 trees per graph) and cost ~10 % more
  // CPU while the pools grew (rnnlm-batch's first pass: every fault clears 2 MiB):
  // benchmarks/log/treenn.md, issue 26's eleventh pass.
  void* p = std::aligned_alloc(64, bytes);  // the arena rounds sizes to its 64-byte alignment
  if (!p) out_of_memory(bytes, "the allocation failed");
  return p;
}

void HostChunks::deallocate(void* p, size_t) { std::free(p); }

}  // namespace dg

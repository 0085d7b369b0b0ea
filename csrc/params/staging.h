// Host staging buffers for data leaving a device for another process:
// dynagraph.distributed's gradients (one buffer per parameter) and sufficient
// factors (the graph's factor entries). A buffer is reused from one iteration
// to the next, so a gradient leaves the device with one copy into memory that
// is already allocated (and, from Python, is read through a NumPy view of it
// with no further copy). Counters say how many bytes went through and how
// often a buffer was reused instead of allocated. The memory comes from the
// pinned host pool of the device the data comes from (device/pinned_host.h:
// page-locked on a GPU, so the copy is a DMA transfer).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "device/pinned_host.h"

namespace dg {

class HostStaging {
 public:
  float* data() const { return buf_.floats(); }
  size_t size() const { return size_; }
  // Empties the buffer; its memory stays for the next fill.
  void clear() { size_ = 0; }
  // Replaces the contents with n floats from `src`, in memory of device d (the
  // CPU: host memory): one copy.
  float* assign(const float* src, size_t n, DeviceId d);
  // Appends n floats from `src` (device d's memory): one copy.
  void append(const float* src, size_t n, DeviceId d);

 private:
  void reserve(size_t n, DeviceId d);  // room for n floats from d's pool, keeping the contents
  PinnedBuffer buf_;
  size_t size_ = 0;
  DeviceId device_ = kCpuDevice;
};

struct StagingStats {
  uint64_t bytes;        // copied into staging buffers
  uint64_t copies;       // copies made (one per gradient or factor block)
  uint64_t allocations;  // buffers allocated or grown
  uint64_t reuses;       // fills that found the buffer large enough
};
StagingStats staging_stats();

}  // namespace dg

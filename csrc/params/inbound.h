// Pinned staging for data arriving from another process on its way to a
// device: dynagraph.distributed's received sufficient factors and dense
// gradients come as pageable NumPy arrays. A copy to a GPU from pageable
// memory goes through the driver's own bounce buffer and is synchronous, so
// they are copied once into a buffer from the device's pinned host pool
// (device/pinned_host.h) and go up from there, as staged gradients go out
// (params/staging.h). One buffer per device, reused from one call to the next
// (grown when too small), so a steady stream of same-sized factors allocates
// nothing after its first iteration.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "core/device.h"

namespace dg {

struct InboundPart {
  const float* src;  // host memory
  size_t n;          // floats
};
// The parts copied end to end into device d's inbound buffer (one copy each);
// the pointer stays valid until the next call for d. Called with the GIL held
// (the bindings), so calls do not overlap.
const float* stage_inbound(DeviceId d, std::initializer_list<InboundPart> parts);

struct InboundStats {
  uint64_t bytes;        // copied into inbound buffers
  uint64_t copies;       // one per part
  uint64_t allocations;  // buffers allocated or grown
  uint64_t reuses;       // calls that found the buffer large enough
};
InboundStats inbound_stats();

}  // namespace dg

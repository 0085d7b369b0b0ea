#include "params/inbound.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "device/pinned_host.h"

namespace dg {

namespace {
std::atomic<uint64_t> g_bytes{0}, g_copies{0}, g_allocations{0}, g_reuses{0};

PinnedBuffer& buffer_of(DeviceId d) {
  static PinnedBuffer* buffers = new PinnedBuffer[kMaxDevices];  // never destroyed, as the pools
  return buffers[d];
}
}  // namespace

const float* stage_inbound(DeviceId d, std::initializer_list<InboundPart> parts) {
  size_t total = 0;
  for (const InboundPart& p : parts) total += p.n;
  PinnedBuffer& buf = buffer_of(d);
  const size_t bytes = sizeof(float) * std::max<size_t>(total, 1);
  if (buf && bytes <= buf.capacity()) {
    ++g_reuses;
  } else {
    buf.reset();  // back to the pool first: a larger size class may reuse a cached buffer
    buf = PinnedHostPool::of(d).acquire(bytes);
    ++g_allocations;
  }
  float* out = buf.floats();
  for (const InboundPart& p : parts) {
    if (p.n == 0) continue;
    std::memcpy(out, p.src, sizeof(float) * p.n);
    out += p.n;
    g_bytes += sizeof(float) * p.n;
    ++g_copies;
  }
  return buf.floats();
}

InboundStats inbound_stats() { return {g_bytes.load(), g_copies.load(), g_allocations.load(), g_reuses.load()}; }

}  // namespace dg

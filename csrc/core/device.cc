#include "core/device.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#include "core/error.h"

namespace dg {

#ifdef DG_HAVE_CUDA
Allocator& cuda_allocator(int index);  // csrc/cuda/allocator.cu
int cuda_runtime_device_count();
#endif

std::string Device::name() const {
  switch (kind) {
    case DeviceKind::cpu: return "CPU";
    case DeviceKind::emu: return "EMU:" + std::to_string(index);
    case DeviceKind::cuda: return "GPU:" + std::to_string(index);
  }
  return "?";
}

DeviceId Device::id() const {
  switch (kind) {
    case DeviceKind::cpu: return kCpuDevice;
    case DeviceKind::emu: return kEmuDevice;
    case DeviceKind::cuda: return static_cast<DeviceId>(2 + index);
  }
  return kCpuDevice;
}

Device Device::from_id(DeviceId id) {
  if (id == kCpuDevice) return {DeviceKind::cpu, 0};
  if (id == kEmuDevice) return {DeviceKind::emu, 0};
  return {DeviceKind::cuda, id - 2};
}

Device Device::parse(const std::string& s, const char* what) {
  if (s.empty() || s == "CPU" || s == "cpu") return {DeviceKind::cpu, 0};
  auto colon = s.find(':');
  std::string kind = s.substr(0, colon);
  int index = -1;
  if (colon != std::string::npos && colon + 1 < s.size() && s.size() - colon <= 3) {
    index = 0;
    for (size_t i = colon + 1; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') {
        index = -1;
        break;
      }
      index = index * 10 + (s[i] - '0');
    }
  }
  if ((kind == "EMU" || kind == "emu") && index == 0) return {DeviceKind::emu, 0};
  if ((kind == "GPU" || kind == "gpu") && index >= 0) {
    if (!have_cuda())
      throw ValueError(std::string(what) + ": device '" + s +
                       "' needs a CUDA build of dynagraph (DYNAGRAPH_BACKEND=cuda); this build has CPU and EMU:0");
    if (index >= cuda_device_count())
      throw ValueError(std::string(what) + ": device '" + s + "' does not exist: the CUDA runtime sees " +
                       std::to_string(cuda_device_count()) + " GPU(s)");
    if (index > 0)  // the launchers run on the current CUDA device: one GPU per process so far
      throw ValueError(std::string(what) + ": device '" + s +
                       "': only GPU:0 is supported so far (run one process per GPU, e.g. with Ray)");
    return {DeviceKind::cuda, index};
  }
  throw ValueError(std::string(what) + ": invalid device name '" + s +
                   "' (expected 'CPU', 'EMU:0' or 'GPU:<index>')");
}

namespace {
constexpr size_t kAlign = 256;
size_t round_up(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }
}  // namespace

void* HostAllocator::allocate(size_t bytes) {
  void* p = std::aligned_alloc(kAlign, round_up(bytes ? bytes : 1));
  if (!p) throw std::bad_alloc();
  count(static_cast<ptrdiff_t>(bytes));
  return p;
}

void HostAllocator::deallocate(void* p, size_t bytes) {
  std::free(p);
  count(-static_cast<ptrdiff_t>(bytes));
}

namespace {
std::mutex& emu_mutex() {
  static auto* m = new std::mutex();
  return *m;
}
// Never destroyed (nor are the allocators): graphs held in statics free their
// arenas at exit, after function-local statics made later would be gone.
std::map<const char*, size_t>& emu_blocks() {
  static auto* blocks = new std::map<const char*, size_t>();
  return *blocks;
}
}  // namespace

void* EmuAllocator::allocate(size_t bytes) {
  void* p = HostAllocator::allocate(bytes);
  std::lock_guard<std::mutex> lock(emu_mutex());
  emu_blocks()[static_cast<const char*>(p)] = bytes;
  return p;
}

void EmuAllocator::deallocate(void* p, size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(emu_mutex());
    emu_blocks().erase(static_cast<const char*>(p));
  }
  HostAllocator::deallocate(p, bytes);
}

bool EmuAllocator::owns(const void* p) const {
  std::lock_guard<std::mutex> lock(emu_mutex());
  auto& blocks = emu_blocks();
  const char* c = static_cast<const char*>(p);
  auto it = blocks.upper_bound(c);
  if (it == blocks.begin()) return false;
  --it;
  return c < it->first + it->second;
}

Allocator& device_allocator(DeviceId id) {
  static HostAllocator& host = *new HostAllocator();
  static EmuAllocator& emu = *new EmuAllocator();
  if (id == kCpuDevice) return host;
  if (id == kEmuDevice) return emu;
#ifdef DG_HAVE_CUDA
  return cuda_allocator(id - 2);
#else
  throw ValueError("device " + Device::from_id(id).name() + " needs a CUDA build of dynagraph");
#endif
}

DeviceLaunchStats& device_launch_stats(DeviceId id) {
  static DeviceLaunchStats stats[kMaxDevices];
  return stats[id < kMaxDevices ? id : 0];
}

bool have_cuda() {
#ifdef DG_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef DG_HAVE_CUDA
  return cuda_runtime_device_count();
#else
  return 0;
#endif
}

}  // namespace dg

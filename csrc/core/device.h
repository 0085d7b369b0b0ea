// Devices: where a tensor's memory lives and where an op's kernels run.
//
// CPU is the host engine (Eigen/BLAS op bodies in csrc/ops/). EMU:0 is the
// emulated GPU: its memory is host memory handed out by a device allocator,
// and its ops run the same __host__ __device__ kernel bodies a CUDA build
// launches on a GPU (csrc/kernels/), through a host grid loop (csrc/emu/).
// GPU:i is CUDA device i (only in a build with DYNAGRAPH_BACKEND=cuda).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace dg {

enum class DeviceKind : uint8_t { cpu, emu, cuda };

// Devices are numbered for the graph's nodes (one byte in Node and Tensor):
// 0 = CPU, 1 = EMU:0, 2 + i = GPU:i.
using DeviceId = uint8_t;
constexpr DeviceId kCpuDevice = 0;
constexpr DeviceId kEmuDevice = 1;
constexpr unsigned kMaxDevices = 10;  // CPU, EMU:0 and up to 8 GPUs

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;
  std::string name() const;  // "CPU", "EMU:0", "GPU:0"
  DeviceId id() const;
  static Device from_id(DeviceId id);
  // Parses DyNet's names ("CPU", "cpu", "GPU:0", "gpu:1", "EMU:0"); throws
  // ValueError naming `what` (the caller) for anything else.
  static Device parse(const std::string& name, const char* what);
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

// Where device memory comes from. The bump arenas (core/arena.h) ask an
// allocator for large chunks and never free node by node.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;  // throws std::bad_alloc or dg::Error
  virtual void deallocate(void* p, size_t bytes) = 0;
  virtual size_t chunk_limit() const { return SIZE_MAX; }  // the largest chunk a bump arena should ask for
  size_t bytes_in_use() const { return in_use_; }
  size_t peak_bytes() const { return peak_; }

 protected:
  void count(ptrdiff_t delta) {
    in_use_ += delta;
    if (in_use_ > peak_) peak_ = in_use_;
  }

 private:
  size_t in_use_ = 0, peak_ = 0;
};

// Host memory, aligned for any SIMD width.
class HostAllocator : public Allocator {
 public:
  void* allocate(size_t bytes) override;
  void deallocate(void* p, size_t bytes) override;
};

// The emulated device: host memory, counted as device memory (what
// memory_in_use reports for EMU:0), so that a leak or a host pointer handed
// to a device op shows up in the tests instead of passing silently.
class EmuAllocator : public HostAllocator {
 public:
  bool owns(const void* p) const;  // p lies in a live EMU allocation
  void* allocate(size_t bytes) override;
  void deallocate(void* p, size_t bytes) override;
};

// The allocator of device `id` (process-wide; the CUDA one exists only in a CUDA build).
Allocator& device_allocator(DeviceId id);

// What the device's launcher issued (csrc/emu/emu.h, csrc/cuda/launch.cuh):
// kernel launches, sgemm calls, strided-batched sgemm calls (one each, however
// many products) and copies (host<->device and within the device). Counted
// per device, process-wide: a test can see how many launches a graph costs.
// Plain counters, not atomics: the launchers run on the thread that runs the graph.
struct DeviceLaunchStats {
  uint64_t kernels = 0, gemms = 0, batched_gemms = 0, copies = 0;
  uint64_t total() const { return kernels + gemms + batched_gemms + copies; }
};
DeviceLaunchStats& device_launch_stats(DeviceId id);

// True when this build has CUDA kernels, and how many GPUs the runtime sees (0 without one).
bool have_cuda();
int cuda_device_count();

}  // namespace dg

// Device: where a graph's values live and its kernels run.
#pragma once
#include <cstdint>
#include <string>

namespace dg {

// cpu: this process's memory and the CPU kernels. emu: the emulated GPU
// (device memory from host memory, kernels run on the host). cuda: an NVIDIA GPU.
enum class DeviceKind : uint8_t { cpu, emu, cuda };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;

  // DyNet's spelling: "CPU", "GPU:<index>", and "EMU:<index>" for the emulated device.
  std::string name() const {
    switch (kind) {
      case DeviceKind::emu: return "EMU:" + std::to_string(index);
      case DeviceKind::cuda: return "GPU:" + std::to_string(index);
      default: return "CPU";
    }
  }
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

}  // namespace dg
